package longpoll

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

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
	// Cursor is the head instead; ResetCause says why.
	Reset      bool
	ResetCause ResetCause
}

// Open creates a session for req: the heart of negotiate. It runs Authorize
// for every topic with c, resolves the starting cursor, and announces the
// client's presence. Errors wrap ErrBadTopic, ErrBadCursor, ErrForbidden,
// ErrTooManySessions, ErrUnavailable or ErrClosed.
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
		opened.Cursor, opened.Reset, opened.ResetCause = cursor, b.Reset, b.Cause
		if b.Reset {
			opened.Cursor = b.Cursor
		}
	}
	if err != nil {
		return nil, err
	}
	addr, err := s.cfg.SessionKey(c)
	if err != nil {
		addr = "" // no address to count against: only MaxSessions applies
	}
	sess, err := s.createSession(c, newSessionRecord(topics, meta, addr, s.cfg.Now()))
	if err != nil {
		return nil, err
	}
	s.sessionStarted(sess)
	if s.presence != nil {
		if err := s.presence.join(ctx, sess.record()); errors.Is(err, ErrTooManyTopics) {
			// No room for the session's topics: a client that retries
			// later gets a whole session, presence included.
			if err := s.endSession(ctx, sess.token, SessionEndNoRoom); err != nil {
				s.cfg.Logger.Warn("lifeline: ending a session without room failed", "client", sess.ID, "err", err)
			}
			return nil, err
		} else if err != nil {
			s.cfg.Logger.Warn("lifeline: presence join failed", "client", sess.ID, "err", err)
		}
	}
	opened.Session, opened.Token = sess, sess.token
	if opened.Reset {
		s.resetSent(sess.ID, "negotiate", opened.ResetCause)
	}
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
var errBadMeta = errors.New("longpoll: meta must be a JSON object of at most 1 KiB, in UTF-8")

func checkMeta(meta json.RawMessage) (json.RawMessage, error) {
	if len(meta) == 0 || string(meta) == "null" {
		return nil, nil
	}
	if len(meta) > maxMetaBytes || !utf8.Valid(meta) {
		// encoding/json tolerates invalid UTF-8; presence events and the
		// presence endpoint could not carry it.
		return nil, errBadMeta
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(meta, &obj) != nil {
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
