package longpoll

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/problem"
)

// Defaults for history (PROTOCOL.md §7a).
const (
	DefaultHistoryLimit = 50
	DefaultMaxHistory   = 200
)

// A Historian is a Buffer that can return a topic's most recent events.
// Memory and llredis's buffer implement it; the history endpoint needs it.
type Historian interface {
	// History returns up to limit of topic's most recent events, oldest
	// first, as of one instant.
	History(ctx context.Context, topic string, limit int) (History, error)
}

// A History is a topic's most recent events and where to follow it from.
type History struct {
	// Events are the most recent events of the topic, oldest first.
	Events []*Event
	// Cursor is the buffer's head at the instant of the read: following
	// the topic from it delivers exactly the events after Events, nothing
	// missed and nothing twice.
	Cursor Cursor
	// Complete is false when fewer events than asked for came back and
	// older events of the topic may have been lost (evicted or expired):
	// the application then loads older messages from its own store.
	Complete bool
}

var _ Historian = (*Memory)(nil)

// History implements Historian.
func (m *Memory) History(_ context.Context, topic string, limit int) (History, error) {
	if m.closed.Load() {
		return History{}, ErrClosed
	}
	if !ValidTopic(topic) {
		return History{}, fmt.Errorf("%w: %q", ErrBadTopic, topic)
	}
	hi := m.seq.Load() // before the lock, as Read does
	h := History{Cursor: Cursor{Epoch: m.epoch, Seq: hi}}
	t := m.lookup(topic)
	if t == nil {
		h.Complete = m.dropped.Load() == 0
		return h, nil
	}
	now := m.cfg.Now()
	cutoff := now.Add(-m.cfg.MaxAge)
	t.mu.RLock()
	for i := t.search(hi) - 1; i >= 0 && len(h.Events) < limit; i-- {
		e := t.at(i)
		if e.Time.Before(cutoff) {
			break // expired by age, as is everything older
		}
		if !e.Expired(now) {
			h.Events = append(h.Events, e)
		}
	}
	lost, _ := t.lostAt(cutoff)
	t.mu.RUnlock()
	slices.Reverse(h.Events)
	h.Complete = len(h.Events) == limit || lost == 0
	return h, nil
}

// HistoryHandler returns the handler of GET {base}/history?topic=&limit=
// (PROTOCOL.md §7a): a topic's most recent events and the cursor to follow
// it from. The topic is authorized as a subscription; a request is charged
// to the session's idle limit; limit is capped at Config.MaxHistory.
func (s *Server) HistoryHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, err := s.session(c)
		if err != nil {
			WriteError(c, err)
			return
		}
		historian, ok := s.buf.(Historian)
		if !ok {
			problem.Write(c, http.StatusNotFound, "history_unsupported", "this server's buffer keeps no history")
			return
		}
		topic := c.Query("topic")
		if !ValidTopic(topic) {
			WriteError(c, fmt.Errorf("%w: %q", ErrBadTopic, topic))
			return
		}
		limit, err := s.historyLimit(c.Query("limit"))
		if err != nil {
			problem.Write(c, http.StatusBadRequest, "bad_limit", err.Error())
			return
		}
		if err := s.authorize(c, sess.ID, topic, Subscribe); err != nil {
			WriteError(c, err)
			return
		}
		if err := s.allow(s.limits.idle, PolicyIdle, sess, s.cfg.Now(), c.Writer.Header()); err != nil {
			WriteError(c, err)
			return
		}
		h, err := historian.History(c.Request.Context(), topic, limit)
		if err != nil {
			WriteError(c, err)
			return
		}
		writeHistory(c, topic, h)
	}
}

// historyLimit parses the "limit" query: 1 or more, capped at MaxHistory.
func (s *Server) historyLimit(q string) (int, error) {
	if q == "" {
		return min(DefaultHistoryLimit, s.cfg.MaxHistory), nil
	}
	n, err := strconv.ParseUint(q, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("limit %q is not a positive whole number", q)
	}
	return int(min(n, uint64(s.cfg.MaxHistory))), nil
}

func writeHistory(c *gin.Context, topic string, h History) {
	out := make([]byte, 0, 96+len(topic)+encodedSize(h.Events))
	out = append(out, `{"topic":`...)
	out = appendJSONString(out, topic)
	out = append(out, `,"events":`...)
	out = appendEvents(out, h.Events)
	out = append(out, `,"cursor":"`...)
	out = h.Cursor.appendTo(out)
	out = append(out, `","complete":`...)
	out = strconv.AppendBool(out, h.Complete)
	out = append(out, '}')
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json; charset=utf-8", out)
}
