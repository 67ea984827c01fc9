package ratelimit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Decision is the outcome of one [Limiter.Allow] call, with what the
// response headers need.
type Decision struct {
	// Allowed reports whether the request may proceed. A refused request
	// took no token.
	Allowed bool

	// Limit is the bucket's capacity (Config.Burst): the q of the
	// RateLimit-Policy field.
	Limit int

	// Remaining is the number of whole tokens left after this request: the
	// r of the RateLimit field.
	Remaining int

	// RetryAfter is how long until a request from this client would be
	// allowed: zero if Allowed.
	RetryAfter time.Duration

	// ResetAfter is how long until the bucket is full again, if the client
	// makes no more requests.
	ResetAfter time.Duration

	// Window is the effective window of the RateLimit field's t: the time
	// until the bucket gains its next whole token, within which the client
	// can make at most Remaining requests. When the request is refused it
	// equals RetryAfter.
	Window time.Duration

	// StoreFull reports a refusal only because the store holds MaxKeys
	// buckets, none of which could be evicted. The client had no bucket and
	// still has none; RetryAfter is one second.
	StoreFull bool
}

// Limiter is a set of token buckets, one per key, in a bounded store. It is
// the core of the middleware and works without Gin: a transport can call
// Allow with a session id for each WebSocket frame it receives.
//
// Use [NewLimiter]; the zero Limiter is not usable. A Limiter is safe for
// concurrent use. A Limiter from NewLimiter runs one
// goroutine that sweeps fully refilled buckets every SweepInterval; [Limiter.Close]
// stops it and waits for it to exit.
type Limiter struct {
	s      *store // in-process buckets, when shared is nil
	shared Store  // Config.Store
	bucket Bucket // the family the Limiter's keys belong to in shared
	limit  rate.Limit
	burst  int
	now    func() time.Time

	done      chan struct{}
	exited    chan struct{}
	closeOnce sync.Once
}

// NewLimiter returns a Limiter configured by the Limit, Period, Burst,
// MaxKeys, SweepInterval, Store, Policy and Now fields of cfg (zero fields
// take their defaults; the other fields are ignored). Unless cfg.Store is
// set, it starts the sweeping goroutine, which runs until [Limiter.Close].
// NewLimiter panics if one of those fields is negative.
func NewLimiter(cfg Config) *Limiter {
	if err := cfg.validateLimiter(); err != nil {
		panic(err.Error())
	}
	cfg = cfg.withDefaults()
	l := newLimiter(cfg)
	if l.shared == nil {
		l.start(cfg.SweepInterval, nil)
	}
	return l
}

// start starts the sweeping goroutine. swept, if not nil, is called after
// each of its sweeps with the number of buckets evicted.
func (l *Limiter) start(interval time.Duration, swept func(int)) {
	l.s.inline.Store(false)
	l.done = make(chan struct{})
	l.exited = make(chan struct{})
	go l.run(interval, swept)
}

// newLimiter returns a Limiter without a sweeping goroutine: it sweeps on
// the request that inserts a bucket once SweepInterval has passed. cfg has
// its defaults applied.
func newLimiter(cfg Config) *Limiter {
	limit := rate.Limit(float64(cfg.Limit) / cfg.Period.Seconds())
	l := &Limiter{
		limit:  limit,
		burst:  cfg.Burst,
		now:    cfg.Now,
		shared: cfg.Store,
		bucket: Bucket{Name: cfg.Policy, Limit: cfg.Limit, Period: cfg.Period, Burst: cfg.Burst},
	}
	if l.shared == nil {
		l.s = newStore(limit, cfg.Burst, cfg.MaxKeys, cfg.SweepInterval)
		l.s.inline.Store(true)
	}
	return l
}

func (l *Limiter) run(interval time.Duration, swept func(int)) {
	defer close(l.exited)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
			n := l.s.sweep(l.now())
			if swept != nil {
				swept(n)
			}
		}
	}
}

// Allow takes a token from key's bucket at time now, creating a full bucket
// for a new key, and reports the outcome. now must come from the clock in
// Config.Now (time.Now by default), which the sweeping goroutine reads, and
// should not go back. Allow does not keep key; a key longer than [MaxKeyLen]
// is stored as its SHA-256 digest. For a key that has a bucket and is at
// most MaxKeyLen long, Allow does not allocate.
//
// On a Limiter with a [Store], Allow cannot report the store's failure: it
// refuses the request then, with RetryAfter [UnavailableRetryAfter]. Use
// [Limiter.AllowContext] to tell the two apart.
func (l *Limiter) Allow(key string, now time.Time) Decision {
	if len(key) > MaxKeyLen {
		key = digestKey(key)
	}
	if l.shared != nil {
		d, err := l.allowShared(context.Background(), key, now)
		if err != nil {
			return l.unavailable()
		}
		return d
	}
	allowed, tokens, full := l.s.take(key, now)
	if full {
		return Decision{
			Limit:      l.burst,
			RetryAfter: time.Second,
			ResetAfter: time.Second,
			Window:     time.Second,
			StoreFull:  true,
		}
	}
	remaining := math.Floor(tokens)
	if remaining < 0 {
		remaining = 0
	}
	d := Decision{
		Allowed:    allowed,
		Limit:      l.burst,
		Remaining:  int(remaining),
		ResetAfter: l.duration(float64(l.burst) - tokens),
		Window:     l.duration(remaining + 1 - tokens),
	}
	if !allowed {
		// Truncated to the nanosecond as rate truncates its own delays, so
		// that Allow(key, now.Add(d.RetryAfter)) is allowed.
		d.RetryAfter = max(l.duration(1-tokens), 1)
		d.Window = d.RetryAfter
	}
	return d
}

// AllowContext is Allow for a Limiter that may have a [Store]: it returns
// an error wrapping [ErrUnavailable] when the store fails, and passes ctx to
// the store, which bounds the call by its own timeout as well. Without a
// Store it is Allow, never fails and, like Allow, does not allocate.
func (l *Limiter) AllowContext(ctx context.Context, key string, now time.Time) (Decision, error) {
	if l.shared == nil {
		return l.Allow(key, now), nil
	}
	if len(key) > MaxKeyLen {
		key = digestKey(key)
	}
	return l.allowShared(ctx, key, now)
}

func (l *Limiter) allowShared(ctx context.Context, key string, now time.Time) (Decision, error) {
	d, err := l.shared.Take(ctx, l.bucket, key, now)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return Decision{}, err
		}
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return d, nil
}

// unavailable is the refusal Allow returns when the Store failed.
func (l *Limiter) unavailable() Decision {
	return Decision{
		Limit:      l.burst,
		RetryAfter: UnavailableRetryAfter,
		ResetAfter: UnavailableRetryAfter,
		Window:     UnavailableRetryAfter,
	}
}

// duration returns the time the bucket takes to gain tokens tokens.
func (l *Limiter) duration(tokens float64) time.Duration {
	if tokens <= 0 {
		return 0
	}
	ns := tokens / float64(l.limit) * float64(time.Second)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// Len returns the number of buckets in the in-process store; 0 for a
// Limiter with a [Store].
func (l *Limiter) Len() int {
	if l.s == nil {
		return 0
	}
	return int(l.s.n.Load())
}

// Sweep evicts every bucket that is full at now and returns how many it
// evicted. The Limiter sweeps by itself; Sweep is for callers that drive the
// clock themselves, such as tests. A Limiter with a [Store] leaves expiry to
// the store: Sweep does nothing and returns 0.
func (l *Limiter) Sweep(now time.Time) int {
	if l.s == nil {
		return 0
	}
	return l.s.sweep(now)
}

// Close stops the sweeping goroutine of a Limiter from [NewLimiter] and waits
// for it to exit. The Limiter stays usable and then sweeps as a Limiter built
// by [New] does, on the requests that insert buckets. Close is idempotent and
// always returns nil.
func (l *Limiter) Close() error {
	l.closeOnce.Do(func() {
		if l.done == nil {
			return
		}
		close(l.done)
		<-l.exited
		l.s.inline.Store(true)
	})
	return nil
}

// digestKey maps a long key to 33 bytes: a NUL byte and the key's SHA-256
// digest. Address keys never start with NUL.
func digestKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "\x00" + string(sum[:])
}
