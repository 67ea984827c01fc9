package longpoll

import (
	"fmt"
	"net/http"
	"time"

	"github.com/lifeline-go/lifeline/ratelimit"
)

// Policy names in the RateLimit fields of Lifeline's responses.
const (
	PolicySends  = "sends"
	PolicyIdle   = "idle"
	PolicyTopics = "topics"
)

// A RateLimitError reports a request refused by one of the Server's rate
// limits. Transports turn it into 429 with Retry-After, an SSE retry, or a
// WebSocket error frame.
type RateLimitError struct {
	Policy   string
	Decision ratelimit.Decision
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("longpoll: rate limited (%s): retry after %v", e.Policy, e.Decision.RetryAfter.Round(time.Millisecond))
}

// limits holds the Server's per-session limiters; a nil limiter is off.
type limits struct {
	sends, idle, topics *ratelimit.Limiter
}

func newLimits(cfg Config) limits {
	build := func(l Limit) *ratelimit.Limiter {
		if l.Off {
			return nil
		}
		return ratelimit.NewLimiter(ratelimit.Config{Limit: l.Limit, Period: l.Period, Burst: l.Burst, MaxKeys: cfg.MaxSessions, Now: cfg.Now})
	}
	return limits{sends: build(cfg.SendLimit), idle: build(cfg.IdleLimit), topics: build(cfg.TopicLimit)}
}

func (l limits) close() {
	for _, lim := range []*ratelimit.Limiter{l.sends, l.idle, l.topics} {
		if lim != nil {
			lim.Close()
		}
	}
}

// allow takes a token from lim for the session, setting the RateLimit
// fields on h (nil for none), and returns a *RateLimitError when refused.
func allow(lim *ratelimit.Limiter, policy string, sess *Session, now time.Time, h http.Header) error {
	if lim == nil {
		return nil
	}
	d := lim.Allow(sess.ID, now)
	if h != nil {
		lim.SetFields(h, policy, d)
	}
	if !d.Allowed {
		return &RateLimitError{Policy: policy, Decision: d}
	}
	return nil
}

// AllowStream charges the opening of a stream to the session's idle limit.
// Streams call it before they attach; h receives the RateLimit fields.
func (s *Server) AllowStream(sess *Session, h http.Header) error {
	return allow(s.limits.idle, PolicyIdle, sess, s.cfg.Now(), h)
}

// chargeIdlePoll charges a poll that brought nothing new. When the bucket
// is empty, the session's next poll is refused until it refills: the
// answer to this one has been written already.
func (s *Server) chargeIdlePoll(sess *Session) {
	if s.limits.idle == nil {
		return
	}
	now := s.cfg.Now()
	if d := s.limits.idle.Allow(sess.ID, now); !d.Allowed {
		sess.mu.Lock()
		sess.idleUntil = now.Add(d.RetryAfter)
		sess.idleRefusal = d
		sess.mu.Unlock()
	}
}

// pollBlocked returns the refusal of a session that must wait before
// polling again, or nil.
func (s *Server) pollBlocked(sess *Session) error {
	now := s.cfg.Now()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if now.Before(sess.idleUntil) {
		d := sess.idleRefusal
		d.RetryAfter = sess.idleUntil.Sub(now)
		d.Window = d.RetryAfter
		return &RateLimitError{Policy: PolicyIdle, Decision: d}
	}
	return nil
}
