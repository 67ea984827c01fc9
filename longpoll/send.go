package longpoll

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/body"
	"github.com/lifeline-go/lifeline/internal/problem"
)

// sendBody is the JSON body of a send (PROTOCOL.md §6).
type sendBody struct {
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	MID   string          `json:"mid"`
	TTLMs int64           `json:"ttlMs"`
}

// ParseMessage decodes and validates a client message: the send endpoint's
// body, and later a WebSocket frame. maxTTL caps the ephemeral TTL. The
// returned Message has no ClientID or Meta yet. Errors are *Rejection
// values with the documented status and code.
func ParseMessage(body []byte, maxTTL time.Duration) (Message, error) {
	if !utf8.Valid(body) {
		// encoding/json would accept it; text frames and EventSource would not.
		return Message{}, &Rejection{Status: http.StatusBadRequest, Code: "bad_request", Detail: "body is not valid UTF-8"}
	}
	var b sendBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Message{}, &Rejection{Status: http.StatusBadRequest, Code: "bad_request", Detail: "body is not a JSON object of the documented shape: " + err.Error()}
	}
	switch {
	case !ValidTopic(b.Topic):
		return Message{}, &Rejection{Status: http.StatusBadRequest, Code: "bad_topic", Detail: fmt.Sprintf("topic %q is invalid", b.Topic)}
	case b.Type == "" || len(b.Type) > maxTypeLen:
		return Message{}, &Rejection{Status: http.StatusBadRequest, Code: "bad_message", Detail: fmt.Sprintf("type must be 1 to %d bytes", maxTypeLen)}
	case !validMID(b.MID):
		return Message{}, &Rejection{Status: http.StatusBadRequest, Code: "bad_message", Detail: "mid must be 8 to 64 characters from A-Z a-z 0-9 _ -"}
	case b.TTLMs < 0:
		return Message{}, &Rejection{Status: http.StatusBadRequest, Code: "bad_message", Detail: "ttlMs must not be negative"}
	}
	ttl := maxTTL // capped before converting, so a huge ttlMs cannot overflow
	if b.TTLMs < maxTTL.Milliseconds() {
		ttl = time.Duration(b.TTLMs) * time.Millisecond
	}
	return Message{Topic: b.Topic, Type: b.Type, Data: b.Data, TTL: ttl, MID: b.MID}, nil
}

func validMID(mid string) bool {
	if len(mid) < 8 || len(mid) > 64 {
		return false
	}
	for i := 0; i < len(mid); i++ {
		ch := mid[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// SendHandler returns the handler for client messages (PROTOCOL.md §6): a
// POST with {topic, type, data, mid}. The message is authorized, passed to
// Config.OnMessage and published once per mid; the response acknowledges
// the mid with the published event's id.
func (s *Server) SendHandler() gin.HandlerFunc {
	return s.send
}

func (s *Server) send(c *gin.Context) {
	token := c.GetHeader(TokenHeader)
	var raw []byte
	if token == "" {
		// No header: a proxy on the way may strip it, so the client puts
		// the token in the body instead (never in the URL, never a cookie:
		// a cross-site page cannot know it).
		var ok bool
		if raw, ok = s.readSendBody(c); !ok {
			return
		}
		token = bodyToken(raw)
	}
	sess, err := s.Authenticate(token)
	if err != nil {
		WriteError(c, err)
		return
	}
	if raw == nil {
		var ok bool
		if raw, ok = s.readSendBody(c); !ok {
			return
		}
	}
	ack, err := s.Deliver(c, sess, raw)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, ack)
}

// readSendBody reads a send's body, answering the request itself (and
// returning false) when the body is too large, late or cut off.
func (s *Server) readSendBody(c *gin.Context) ([]byte, bool) {
	raw, err := body.Read(c.Writer, c.Request, int64(s.cfg.MaxMessageBytes), s.cfg.BodyTimeout)
	switch {
	case errors.Is(err, body.ErrTooLarge):
		problem.Write(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxMessageBytes))
		return nil, false
	case errors.Is(err, body.ErrTimeout):
		problem.WriteBodyTimeout(c, s.cfg.BodyTimeout)
		return nil, false
	case err != nil:
		c.Abort() // the client went away mid-body
		return nil, false
	}
	if raw == nil {
		raw = []byte{}
	}
	return raw, true
}

// bodyToken returns the "token" field of a send body, or "" when it has
// none or is not JSON: the request then gets 401, as one without a token.
func bodyToken(raw []byte) string {
	var b struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(raw, &b) != nil {
		return ""
	}
	return b.Token
}

// Deliver parses, authorizes and publishes one client message for sess,
// once per mid. It is the shared core of every transport's send path; c is
// the request that carries the message, or for WebSocket the stream's copy
// of its upgrade request's context (see Config.Authorize).
func (s *Server) Deliver(c *gin.Context, sess *Session, body []byte) (Ack, error) {
	outcome := SendDuplicate // unless the message is applied here and now
	ack, err := s.deliver(c, sess, body, &outcome)
	s.obs.SendDone(sendOutcome(outcome, err))
	return ack, err
}

// sendOutcome is how a send ended, for the Observer: applied is what the
// send path says of a send that succeeded.
func sendOutcome(applied string, err error) string {
	var limited *RateLimitError
	switch {
	case err == nil:
		return applied
	case errors.As(err, &limited):
		return SendRateLimited
	case ProblemFor(err).Status < http.StatusInternalServerError:
		return SendRefused
	}
	return SendFailed
}

// deliver is Deliver; it sets *outcome when it applies the message.
func (s *Server) deliver(c *gin.Context, sess *Session, body []byte, outcome *string) (Ack, error) {
	m, err := ParseMessage(body, s.cfg.MaxMessageTTL)
	if err != nil {
		return Ack{}, err
	}
	if err := s.authorize(c, sess.ID, m.Topic, Publish); err != nil {
		return Ack{}, err
	}
	// The fields land on the HTTP response; a WebSocket's hijacked writer
	// never sends them, and its error frame carries the delay instead.
	if err := s.allow(s.limits.sends, PolicySends, sess, s.cfg.Now(), c.Writer.Header()); err != nil {
		return Ack{}, err
	}
	m.ClientID, m.Meta = sess.ID, sess.Meta
	// A mid is the client's: keyed alone, one session could learn
	// another's event ids or have its sends dropped as duplicates.
	key := sess.ID + "/" + m.MID
	return s.dedup.do(c.Request.Context(), key, func() (Ack, error) {
		d := m.Draft()
		if s.cfg.OnMessage != nil {
			var err error
			if d, err = s.cfg.OnMessage(c, m); errors.Is(err, ErrDrop) {
				*outcome = SendDropped
				return Ack{MID: m.MID}, nil
			} else if err != nil {
				var r *Rejection
				if errors.As(err, &r) {
					return Ack{}, err
				}
				return Ack{}, &Rejection{Status: http.StatusUnprocessableEntity, Code: "rejected", Detail: err.Error()}
			}
		}
		d.Key = key // once across every instance sharing the buffer
		// After OnMessage, which may change the topic.
		if err := s.allowNewTopic(sess, d.Topic); err != nil {
			return Ack{}, err
		}
		e, err := s.append(c.Request.Context(), d)
		var dup *Duplicate
		if errors.As(err, &dup) {
			return Ack{MID: m.MID, ID: dup.ID.String()}, nil // applied elsewhere: still SendDuplicate
		}
		if err != nil {
			return Ack{}, err
		}
		*outcome = SendPublished
		return Ack{MID: m.MID, ID: e.ID.String()}, nil
	})
}

// PresenceHandler returns the handler for GET {base}/presence?topic=...
// (PROTOCOL.md §4): the clients present in a topic the session follows.
func (s *Server) PresenceHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, err := s.session(c)
		if err != nil {
			WriteError(c, err)
			return
		}
		topic := c.Query("topic")
		if s.presence == nil {
			problem.Write(c, http.StatusNotFound, "presence_disabled", "presence is disabled on this server")
			return
		}
		if !sess.follows(topic) {
			WriteError(c, fmt.Errorf("%w: the session does not follow %q", ErrForbidden, topic))
			return
		}
		if !s.presence.hasTopic(topic) {
			problem.Write(c, http.StatusNotFound, "presence_disabled", "presence is off for topic "+strconv.Quote(topic))
			return
		}
		members, err := s.presence.list(c.Request.Context(), topic)
		if err != nil {
			WriteError(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"topic": topic, "clients": members})
	}
}

// EndSessionHandler returns the handler for DELETE {base}/session
// (PROTOCOL.md §7): it ends the session at once. Ending is idempotent.
func (s *Server) EndSessionHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.EndSession(c.Request.Context(), c.GetHeader(TokenHeader)); err != nil {
			WriteError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}
