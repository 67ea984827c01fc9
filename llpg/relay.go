package llpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
)

// A Relay streams the committed changes of the configured tables into a
// Target, exactly once and in commit order. Run one per app instance: the
// instances elect one relay through a Postgres advisory lock, and the
// others wait to take over.
type Relay struct {
	cfg        Config
	rules      map[string][]*rule // "schema.table" → its rules
	streamName string             // the buffer's name for the slot's stream

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	start  atomic.Bool

	// conns are the current connections, so that crash can cut them.
	connMu sync.Mutex
	conns  []net.Conn
	// abrupt makes the relay stop without telling Postgres its position,
	// as a killed process would (tests).
	abrupt atomic.Bool

	leading  atomic.Bool
	relayed  atomic.Uint64
	replayed atomic.Uint64
	filtered atomic.Uint64
	tooLarge atomic.Uint64
	dropped  atomic.Uint64
	acked    atomic.Uint64

	// afterAppend, when set (tests), runs after each appended event.
	afterAppend func()
}

// A rule is a Table with its filter parsed.
type rule struct {
	Table
	filter *filter
}

// Stats counts what a Relay did since New.
type Stats struct {
	// Leading is true while this relay holds the lock and streams.
	Leading bool
	// Relayed counts events appended.
	Relayed uint64
	// Replayed counts changes the buffer already held (a replay after a
	// crash or reconnect), skipped by position.
	Replayed uint64
	// Filtered counts changes of declared tables that a rule's operations
	// or filter left out.
	Filtered uint64
	// TooLarge counts changes relayed with their key only.
	TooLarge uint64
	// Dropped counts changes no event could be made of: Topic returned an
	// invalid topic, or Data failed to encode. Each is logged.
	Dropped uint64
	// Confirmed is the position last confirmed to Postgres (an LSN).
	Confirmed string
}

// New checks cfg and returns a Relay; Start starts it.
func New(cfg Config) (*Relay, error) {
	cfg = cfg.withDefaults()
	if cfg.ConnString == "" {
		return nil, fmt.Errorf("%w: no ConnString", ErrConfig)
	}
	if cfg.Target == nil {
		return nil, fmt.Errorf("%w: no Target", ErrConfig)
	}
	if err := cfg.checkNames(); err != nil {
		return nil, err
	}
	if _, err := pgx.ParseConfig(cfg.ConnString); err != nil {
		return nil, fmt.Errorf("%w: ConnString: %v", ErrConfig, err)
	}
	r := &Relay{cfg: cfg, rules: make(map[string][]*rule), done: make(chan struct{})}
	for _, t := range cfg.Tables {
		if t.Topic == nil {
			return nil, fmt.Errorf("%w: table %s has no Topic", ErrConfig, t.Name)
		}
		f, err := parseFilter(t.Filter)
		if err != nil {
			return nil, fmt.Errorf("%w: table %s: %w", ErrConfig, t.Name, err)
		}
		key := t.Schema + "." + t.Name
		r.rules[key] = append(r.rules[key], &rule{Table: t, filter: f})
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Start starts relaying in a goroutine of the Relay's own: it waits for
// the relay lock, then streams until Close, reconnecting after errors.
// It returns at once; call it once.
func (r *Relay) Start() error {
	if r.ctx.Err() != nil {
		return ErrClosed
	}
	if !r.start.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: Start called twice", ErrConfig)
	}
	go r.run()
	return nil
}

// Close stops the relay, confirms its position to Postgres and releases
// the lock, so that another instance takes over at once. It waits for the
// relay's goroutine.
func (r *Relay) Close() error {
	r.once.Do(func() {
		r.cancel()
		if !r.start.Swap(true) {
			close(r.done) // never started
		}
	})
	<-r.done
	return nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Leading: r.leading.Load(), Relayed: r.relayed.Load(), Replayed: r.replayed.Load(),
		Filtered: r.filtered.Load(), TooLarge: r.tooLarge.Load(), Dropped: r.dropped.Load(),
		Confirmed: pglogrepl.LSN(r.acked.Load()).String(),
	}
}

// run leads whenever it can until Close.
func (r *Relay) run() {
	defer close(r.done)
	for r.ctx.Err() == nil {
		err := r.lead(r.ctx)
		r.leading.Store(false)
		if r.ctx.Err() != nil {
			return
		}
		r.report("relay stopped; retrying", err)
		select {
		case <-r.ctx.Done():
		case <-time.After(r.cfg.RetryInterval):
		}
	}
}

// report logs err and hands it to OnError.
func (r *Relay) report(msg string, err error) {
	if err == nil {
		return
	}
	r.cfg.Logger.Warn("llpg: "+msg, "slot", r.cfg.Slot, "err", err)
	if r.cfg.OnError != nil {
		r.cfg.OnError(err)
	}
}

// track records a connection for crash; the returned func forgets it.
func (r *Relay) track(c net.Conn) func() {
	r.connMu.Lock()
	r.conns = append(r.conns, c)
	r.connMu.Unlock()
	return func() {
		r.connMu.Lock()
		for i, x := range r.conns {
			if x == c {
				r.conns = append(r.conns[:i], r.conns[i+1:]...)
				break
			}
		}
		r.connMu.Unlock()
	}
}

// lead takes the relay lock, waiting for it, then streams while it holds
// it. It returns when the lock's connection or the stream fails, or ctx
// ends.
func (r *Relay) lead(ctx context.Context) error {
	lockConn, err := pgx.Connect(ctx, r.cfg.ConnString)
	if err != nil {
		return fmt.Errorf("llpg: connect: %w", err)
	}
	defer r.track(lockConn.PgConn().Conn())()
	defer lockConn.Close(context.WithoutCancel(ctx))
	if err := r.acquire(ctx, lockConn); err != nil {
		return err
	}
	r.leading.Store(true)
	r.cfg.Logger.Info("llpg: relaying", "slot", r.cfg.Slot)

	// The lock lives with its session: a watchdog pings it, and the stream
	// stops as soon as the lock may be lost, so that two relays never
	// stream at once (the slot refuses a second consumer anyway).
	sctx, stop := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop(nil)
		t := time.NewTicker(r.cfg.RetryInterval)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(sctx, 5*r.cfg.RetryInterval)
				err := lockConn.Ping(pctx)
				cancel()
				if err != nil && sctx.Err() == nil {
					stop(fmt.Errorf("llpg: lost the relay lock's connection: %w", err))
					return
				}
			}
		}
	}()
	err = r.stream(sctx)
	stop(err)
	wg.Wait()
	if cause := context.Cause(sctx); err == nil || (errors.Is(err, context.Canceled) && cause != nil && !errors.Is(cause, context.Canceled)) {
		err = cause
	}
	return err
}

// acquire waits until lockConn holds the relay's advisory lock.
func (r *Relay) acquire(ctx context.Context, lockConn *pgx.Conn) error {
	for {
		var got bool
		err := lockConn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", "lifeline-llpg:"+r.cfg.Slot).Scan(&got)
		if err != nil {
			return fmt.Errorf("llpg: relay lock: %w", err)
		}
		if got {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.cfg.RetryInterval):
		}
	}
}
