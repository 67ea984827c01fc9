package longpoll

import (
	"context"
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

// newLimits builds the per-session limiters. With store nil their buckets
// live in the process; with a shared store (llredis.RateLimitStore) every
// instance draws on one budget per session, named by policy ("sends",
// "idle") in the store.
func newLimits(cfg Config, store ratelimit.Store) limits {
	build := func(l Limit, policy string) *ratelimit.Limiter {
		if l.Off {
			return nil
		}
		rc := ratelimit.Config{Limit: l.Limit, Period: l.Period, Burst: l.Burst, Policy: policy, Now: cfg.Now, Store: store}
		if store == nil {
			rc.MaxKeys = cfg.MaxSessions
		}
		return ratelimit.NewLimiter(rc)
	}
	return limits{sends: build(cfg.SendLimit, PolicySends), idle: build(cfg.IdleLimit, PolicyIdle), topics: build(cfg.TopicLimit, PolicyTopics)}
}

func (l limits) close() {
	for _, lim := range []*ratelimit.Limiter{l.sends, l.idle, l.topics} {
		if lim != nil {
			lim.Close()
		}
	}
}

// allow takes a token from lim for the session, setting the RateLimit
// fields on h (nil for none), and returns a *RateLimitError when refused
// (and reports the refusal), or an error wrapping ErrUnavailable when the
// limiter's store failed (a shared store bounds its calls with its own
// timeout).
func (s *Server) allow(lim *ratelimit.Limiter, policy string, sess *Session, now time.Time, h http.Header) error {
	if lim == nil {
		return nil
	}
	d, err := lim.AllowContext(context.Background(), sess.ID, now)
	if err != nil {
		return fmt.Errorf("%w: %s limit: %w", ErrUnavailable, policy, err)
	}
	if h != nil {
		lim.SetFields(h, policy, d)
	}
	if !d.Allowed {
		s.RateLimited(policy)
		return &RateLimitError{Policy: policy, Decision: d}
	}
	return nil
}

// AllowStream charges the opening of a stream to the session's idle limit.
// Streams call it before they attach; h receives the RateLimit fields.
func (s *Server) AllowStream(sess *Session, h http.Header) error {
	return s.allow(s.limits.idle, PolicyIdle, sess, s.cfg.Now(), h)
}

// chargeIdlePoll charges a poll that brought nothing new. When the bucket
// is empty, the session's next poll is refused until it refills: the
// answer to this one has been written already. So has it when the store
// fails: the charge is then skipped, as there is nobody left to tell.
func (s *Server) chargeIdlePoll(sess *Session) {
	if s.limits.idle == nil {
		return
	}
	now := s.cfg.Now()
	d, err := s.limits.idle.AllowContext(context.Background(), sess.ID, now)
	if err != nil {
		return
	}
	if !d.Allowed {
		sess.mu.Lock()
		sess.idle = &idleRefusal{until: now.Add(d.RetryAfter), decision: d}
		sess.mu.Unlock()
	}
}

// pollBlocked returns the refusal of a session that must wait before
// polling again, or nil.
func (s *Server) pollBlocked(sess *Session) error {
	if s.limits.idle == nil {
		return nil // nothing refuses
	}
	now := s.cfg.Now()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.idle == nil {
		return nil
	}
	if until := sess.idle.until; now.Before(until) {
		d := sess.idle.decision
		d.RetryAfter = until.Sub(now)
		d.Window = d.RetryAfter
		s.RateLimited(PolicyIdle)
		return &RateLimitError{Policy: PolicyIdle, Decision: d}
	}
	sess.idle = nil // served its wait
	return nil
}

// An idleRefusal is a session's refusal by its idle limit: kept apart
// from the Session, which most sessions never need, and which a held poll
// keeps alive for every client.
type idleRefusal struct {
	until    time.Time // when the session may poll again
	decision ratelimit.Decision
}
