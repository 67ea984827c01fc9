package longpoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Server serves the long-poll transport and the send endpoint over a
// Buffer, and owns client sessions and presence. Mount its handlers with
// the negotiate package, or on your own routes.
//
// A Server runs one janitor goroutine that expires idle sessions and old
// send acknowledgements; Close stops it. Server is safe for concurrent use.
type Server struct {
	cfg      Config
	buf      Buffer
	ownsBuf  bool
	sessions *sessions
	presence *presence // nil when disabled
	dedup    *dedup
	limits   limits

	receivers atomic.Int64 // held polls and open streams

	closing   chan struct{}
	closeOnce sync.Once
	janitor   chan struct{} // closed when the janitor has stopped
}

// New returns a Server for cfg and starts its janitor. Call Close to stop
// it and release held polls.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, buf: cfg.Buffer, closing: make(chan struct{}), janitor: make(chan struct{})}
	if s.buf == nil {
		s.buf = NewMemory(MemoryConfig{MaxEventBytes: cfg.MaxMessageBytes, Now: cfg.Now})
		s.ownsBuf = true
	}
	if !cfg.DisablePresence {
		s.presence = newPresence(s.buf)
	}
	s.sessions = newSessions(cfg.SessionTTL, cfg.MaxSessions, cfg.Now, s.sessionEnded)
	s.dedup = newDedup(cfg.DedupWindow)
	s.limits = newLimits(cfg)
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
		case <-s.closing:
			return
		case <-tick.C:
			s.Sweep()
		}
	}
}

// Sweep ends idle sessions and forgets expired acknowledgements now rather
// than at the janitor's next tick.
func (s *Server) Sweep() {
	s.sessions.sweep()
	s.dedup.sweep()
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
	return s.buf.Append(ctx, Draft{Topic: topic, Type: typ, Data: raw})
}

// PublishDraft publishes d as it is.
func (s *Server) PublishDraft(ctx context.Context, d Draft) (*Event, error) {
	return s.buf.Append(ctx, d)
}

// Presence returns the clients present in topic.
func (s *Server) Presence(topic string) []Member {
	if s.presence == nil {
		return nil
	}
	return s.presence.list(topic)
}

// EndSessions ends every session now, as if each had expired: their
// clients get 401 on their next request and negotiate again. Presence
// publishes each leave.
func (s *Server) EndSessions() { s.sessions.endAll() }

// An OpenRequest asks for a new session (the body of negotiate).
type OpenRequest struct {
	// Topics to follow; each is validated and authorized.
	Topics []string
	// Cursor to resume from, in text form; empty means from now.
	Cursor string
	// Meta is the client's metadata: a JSON object of at most 1 KiB, or nil.
	Meta json.RawMessage
}

// An Opened is a new session and where its client starts reading.
type Opened struct {
	Session *Session
	// Token is the session's secret; give it to the client only.
	Token string
	// Cursor is where the client starts.
	Cursor Cursor
	// Reset is true when the requested cursor could not be honoured and
	// Cursor is the head instead.
	Reset bool
}

// Open creates a session for req: the heart of negotiate. It runs Authorize
// for every topic with c, resolves the starting cursor, and announces the
// client's presence. Errors wrap ErrBadTopic, ErrBadCursor, ErrForbidden,
// ErrTooManySessions or ErrClosed.
func (s *Server) Open(c *gin.Context, req OpenRequest) (*Opened, error) {
	if s.isClosing() {
		return nil, ErrClosed
	}
	topics, err := s.checkTopics(req.Topics)
	if err != nil {
		return nil, err
	}
	meta, err := checkMeta(req.Meta)
	if err != nil {
		return nil, err
	}
	var cursor Cursor
	if req.Cursor != "" {
		if cursor, err = ParseCursor(req.Cursor); err != nil {
			return nil, err
		}
	}
	for _, t := range topics {
		if err := s.authorize(c, "", t, Subscribe); err != nil {
			return nil, err
		}
	}
	ctx := c.Request.Context()
	opened := &Opened{}
	if req.Cursor == "" {
		opened.Cursor, err = s.buf.Head(ctx)
	} else {
		// A one-event read answers exactly whether the cursor is still
		// covered, by the same rule every poll applies.
		var b Batch
		b, err = s.buf.Read(ctx, topics, cursor, 1)
		opened.Cursor, opened.Reset = cursor, b.Reset
		if b.Reset {
			opened.Cursor = b.Cursor
		}
	}
	if err != nil {
		return nil, err
	}
	sess, err := s.sessions.create(topics, meta)
	if err != nil {
		return nil, err
	}
	if s.presence != nil {
		if err := s.presence.join(ctx, sess); err != nil {
			s.cfg.Logger.Warn("lifeline: presence join failed", "client", sess.ID, "err", err)
		}
	}
	opened.Session, opened.Token = sess, sess.token
	return opened, nil
}

// checkTopics validates and de-duplicates topic names.
func (s *Server) checkTopics(topics []string) ([]string, error) {
	if len(topics) > s.cfg.MaxTopicsPerClient {
		return nil, fmt.Errorf("%w: %d topics, at most %d", ErrBadTopic, len(topics), s.cfg.MaxTopicsPerClient)
	}
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if !ValidTopic(t) {
			return nil, fmt.Errorf("%w: %q", ErrBadTopic, t)
		}
		if !contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// errBadMeta reports negotiate metadata that is not a small JSON object.
var errBadMeta = errors.New("longpoll: meta must be a UTF-8 JSON object of at most 1 KiB")

func checkMeta(meta json.RawMessage) (json.RawMessage, error) {
	if len(meta) == 0 || string(meta) == "null" {
		return nil, nil
	}
	if len(meta) > maxMetaBytes {
		return nil, errBadMeta
	}
	var obj map[string]json.RawMessage
	// encoding/json accepts invalid UTF-8 in strings; presence events and
	// the presence endpoint, which carry meta, must not.
	if !utf8.Valid(meta) || json.Unmarshal(meta, &obj) != nil {
		return nil, errBadMeta
	}
	return meta, nil
}

func (s *Server) authorize(c *gin.Context, clientID, topic string, action Action) error {
	if s.cfg.Authorize == nil {
		return nil
	}
	if err := s.cfg.Authorize(c, clientID, topic, action); err != nil {
		var r *Rejection
		if errors.As(err, &r) {
			return err
		}
		return fmt.Errorf("%w: %s %q: %v", ErrForbidden, action, topic, err)
	}
	return nil
}

// sessionEnded runs when a session leaves the store, for any reason.
func (s *Server) sessionEnded(sess *Session) {
	sess.ended.Store(true)
	sess.mu.Lock()
	if sess.receiver != nil {
		close(sess.receiver)
		sess.receiver = nil
	}
	sess.mu.Unlock()
	if s.presence != nil && !s.isClosing() {
		if err := s.presence.leave(context.Background(), sess); err != nil {
			s.cfg.Logger.Warn("lifeline: presence leave failed", "client", sess.ID, "err", err)
		}
	}
}

func (s *Server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Close shuts the Server down: held polls end at once with 503 and a
// Retry-After so clients reconnect elsewhere or later, new requests get the
// same, the janitor stops, and a Buffer the Server created is closed. Close
// does not wait for handlers to return; http.Server.Shutdown does that.
// Later calls return nil.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.janitor
		s.sessions.endAll()
		s.limits.close()
		if s.ownsBuf {
			err = s.buf.Close()
		}
	})
	return err
}
