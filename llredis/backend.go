package llredis

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// Backend is a longpoll.Backend on Redis: set it as longpoll.Config.Backend
// on every instance of the app, each with a client of the same Redis and
// the same Config.Prefix.
//
// Each Backend holds one Pub/Sub connection, on which Redis announces every
// append and session change to every instance; a held poll costs Redis
// nothing while it waits. It runs the listener, the sweeper and a few
// workers that send appends to Redis in batches; Close stops them all. It does not close the Redis client, which is
// the application's.
type Backend struct {
	rdb     redis.UniversalClient
	cfg     Config
	keys    keyspace
	channel string

	hub    *longpoll.Hub
	cache  *eventCache
	mirror *mirror
	reads  flight[readResult]
	epoch  atomic.Pointer[string]

	buf      *buffer
	batch    *batcher
	sessions *sessionStore
	presence *presenceStore
	limits   *RateLimitStore
	failures *FailureStore
	watch    atomic.Pointer[func(longpoll.Notice)]

	psMu sync.Mutex
	ps   *redis.PubSub // the listener's current subscription

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

var _ longpoll.Backend = (*Backend)(nil)

// New returns a Backend on rdb and starts its goroutines. It waits at
// most Config.OpTimeout for Redis: until Redis answers, requests get 503
// and Retry-After, and the Backend resumes by itself when it does.
//
// rdb must have ContextTimeoutEnabled set in its options (go-redis ignores
// context deadlines otherwise, and a silent Redis would hold requests):
// New fails with ErrContextTimeoutDisabled if not, and ErrNoClient if rdb
// is nil.
func New(rdb redis.UniversalClient, cfg Config) (*Backend, error) {
	if rdb == nil {
		return nil, ErrNoClient
	}
	if err := checkContextTimeouts(rdb); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	stores := StoreConfig{Prefix: cfg.Prefix, Timeout: cfg.OpTimeout}
	limits, err := NewRateLimitStore(rdb, stores)
	if err != nil {
		return nil, err
	}
	failures, err := NewFailureStore(rdb, stores)
	if err != nil {
		return nil, err
	}
	if cfg.Observer != nil {
		rdb.AddHook(commandHook{obs: cfg.Observer})
	}
	b := &Backend{rdb: rdb, cfg: cfg, keys: newKeyspace(cfg.Prefix), hub: longpoll.NewHub(), cache: newEventCache(cfg.EventCache),
		limits: limits, failures: failures, mirror: newMirror(cfg.MaxEventsPerTopic, cfg.LocalEvents)}
	b.channel = b.keys.key("notices")
	b.epoch.Store(new(string))
	b.buf = &buffer{b: b}
	b.sessions = &sessionStore{b: b}
	b.presence = &presenceStore{b: b}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.batch = &batcher{b: b, calls: make(chan *appendCall)}
	b.wg.Add(batchWorkers)
	for range batchWorkers {
		go func() {
			defer b.wg.Done()
			b.batch.run()
		}()
	}
	ready := make(chan struct{})
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		b.listen(ready)
	}()
	go func() {
		defer b.wg.Done()
		b.sweepLoop()
	}()
	// Subscribed before the first request, so that no wake-up is missed;
	// a Redis that is down does not hold the app's start-up.
	select {
	case <-ready:
	case <-time.After(cfg.OpTimeout):
	}
	return b, nil
}

// Buffer implements longpoll.Backend.
func (b *Backend) Buffer() longpoll.Buffer { return b.buf }

// Sessions implements longpoll.Backend.
func (b *Backend) Sessions() longpoll.SessionStore { return b.sessions }

// Presence implements longpoll.Backend.
func (b *Backend) Presence() longpoll.PresenceStore { return b.presence }

// RateLimits implements longpoll.Backend.
func (b *Backend) RateLimits() ratelimit.Store { return b.limits }

// Failures is negotiate's shared failure memory; negotiate uses it by
// itself when the Server it is given has this Backend.
func (b *Backend) Failures() negotiate.FailureStore { return b.failures }

// Ping reports whether Redis answers within Config.OpTimeout: a readiness
// check for the app's health endpoint.
func (b *Backend) Ping(ctx context.Context) error {
	ctx, cancel := b.op(ctx)
	defer cancel()
	return wrap(ctx, "ping", b.rdb.Ping(ctx).Err())
}

// Close stops the Backend's goroutines and waits for them. Buffer calls
// fail with longpoll.ErrClosed afterwards. Later calls return nil.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.cancel()
	b.closeSubscription() // a read in progress ignores the context
	b.wg.Wait()
	b.hub.NotifyAll() // readers still waiting read again and learn it is closed
	return nil
}

// op bounds one Redis call by Config.OpTimeout.
func (b *Backend) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.OpTimeout)
}

func (b *Backend) currentEpoch() string { return *b.epoch.Load() }

func (b *Backend) setEpoch(e string) { b.epoch.Store(&e) }
