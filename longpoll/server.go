package longpoll

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeline-go/lifeline/ratelimit"
)

// Server serves the long-poll transport and the send endpoint over a
// Buffer, and owns client sessions and presence. Mount its handlers with
// the negotiate package, or on your own routes.
//
// A Server runs one janitor goroutine that expires idle sessions and old
// send acknowledgements, and the goroutines transports hand it with Go (the
// negotiate package's WebSocket streams); Close stops the janitor and waits
// for the others. Server is safe for concurrent use.
type Server struct {
	cfg      Config
	buf      Buffer
	ownsBuf  bool
	sessions *sessions
	store    SessionStore // nil: sessions lives in this process only
	presence *presence    // nil when disabled
	dedup    *dedup
	limits   limits
	obs      Observer
	refusals refusalLog

	receivers atomic.Int64 // held polls and open streams
	heldPolls atomic.Int64 // polls past their announcement, waiting
	streams   streamSet    // the stream receivers, which Close ends
	deadlines *deadlines   // the held polls' timeouts

	// life is canceled when Close begins (Closing is its Done channel).
	life      context.Context
	endLife   context.CancelFunc
	closeOnce sync.Once
	janitor   chan struct{} // closed when the janitor has stopped
	owned     goroutines    // started by Go: WebSocket streams
}

// New returns a Server for cfg and starts its janitor. Call Close to stop
// it and release held polls.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, buf: cfg.Buffer, obs: cfg.Observer, janitor: make(chan struct{}), deadlines: newDeadlines()}
	s.life, s.endLife = context.WithCancel(context.Background())
	s.refusals.start = cfg.Now()
	limits := SessionLimits{Max: cfg.MaxSessions, PerAddr: cfg.MaxSessionsPerAddr}
	var presenceStore PresenceStore = newMemoryPresence()
	var rateStore ratelimit.Store // nil: buckets in this process
	if b := cfg.Backend; b != nil {
		s.buf, s.store, presenceStore, rateStore = b.Buffer(), b.Sessions(), b.Presence(), b.RateLimits()
		limits = SessionLimits{Max: math.MaxInt} // the store enforces them
	}
	if s.buf == nil {
		s.buf = NewMemory(MemoryConfig{MaxEventBytes: cfg.MaxMessageBytes, DedupWindow: cfg.DedupWindow, Now: cfg.Now})
		s.ownsBuf = true
	}
	if !cfg.DisablePresence {
		s.presence = &presence{store: presenceStore, buf: s.buf, has: cfg.PresenceTopics, obs: s.obs}
	}
	s.sessions = newSessions(cfg.SessionTTL, limits, cfg.Now)
	if s.store != nil {
		s.store.Watch(s.notice)
	}
	s.dedup = newDedup(cfg.DedupWindow)
	s.limits = newLimits(cfg, rateStore)
	go s.runJanitor(janitorInterval(cfg.SessionTTL))
	return s
}

// janitorInterval checks often enough that a session is gone within a
// quarter of its TTL after expiring, and at least every 10 seconds.
func janitorInterval(ttl time.Duration) time.Duration {
	return min(max(ttl/4, 10*time.Millisecond), 10*time.Second)
}

func (s *Server) runJanitor(every time.Duration) {
	defer close(s.janitor)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-tick.C:
			s.Sweep()
		}
	}
}

// Sweep ends idle sessions and forgets expired acknowledgements now rather
// than at the janitor's next tick.
func (s *Server) Sweep() {
	s.sweepSessions()
	s.dedup.sweep()
	s.refusals.flush(s.cfg.Logger, s.cfg.Now())
}

// Config returns the Server's configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Buffer returns the Server's event buffer.
func (s *Server) Buffer() Buffer { return s.buf }

// Publish publishes a server-side event: data is encoded as JSON. It never
// waits for clients.
func (s *Server) Publish(ctx context.Context, topic, typ string, data any) (*Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("longpoll: encode event data: %w", err)
	}
	return s.append(ctx, Draft{Topic: topic, Type: typ, Data: raw})
}

// PublishDraft publishes d as it is.
func (s *Server) PublishDraft(ctx context.Context, d Draft) (*Event, error) {
	return s.append(ctx, d)
}

// append appends d to the buffer and counts it for the Observer.
func (s *Server) append(ctx context.Context, d Draft) (*Event, error) {
	e, err := s.buf.Append(ctx, d)
	if err == nil {
		s.obs.EventPublished()
	}
	return e, err
}

// Presence returns the clients present in topic. It fails only when a
// shared backend does (ErrUnavailable).
func (s *Server) Presence(ctx context.Context, topic string) ([]Member, error) {
	if s.presence == nil {
		return nil, nil
	}
	return s.presence.list(ctx, topic)
}

func (s *Server) isClosing() bool {
	select {
	case <-s.life.Done():
		return true
	default:
		return false
	}
}

// Close shuts the Server down: held polls end at once with 503 and a
// Retry-After so clients reconnect elsewhere or later, new requests get the
// same, streams end (a WebSocket with 1001), the janitor stops, and a
// Buffer the Server created is closed. Close waits for the goroutines
// started with Go — the WebSocket streams, whose upgrade requests returned
// long ago: each ends within about one write timeout, unless a Config hook
// it runs (Authorize, OnMessage) blocks — but not for handlers to return;
// http.Server.Shutdown does that.
//
// Without a Backend every session ends with the process. With one, sessions
// live on in the shared store: their clients carry on through the other
// instances, and only this instance's receivers end. Later calls return nil.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stopOwned() // cancels life
		<-s.janitor
		s.deadlines.close()
		s.streams.endAll()
		if s.store == nil {
			s.EndSessions()
		} else {
			for _, sess := range s.sessions.all() {
				s.sessions.remove(sess)
				sess.endReceiver()
			}
		}
		// The streams use the limits and read the buffer until they end.
		s.waitOwned()
		s.limits.close()
		if s.ownsBuf {
			err = s.buf.Close()
		}
	})
	return err
}
