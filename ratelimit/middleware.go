package ratelimit

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// New returns a Gin middleware that limits each client, as identified by
// cfg.KeyFunc, to a token bucket. It panics if cfg.Validate fails.
//
// Every response that passes through it carries the limit fields chosen by
// cfg.Headers. A refused request gets Retry-After (whole seconds, rounded
// up, at least 1), then cfg.OnLimited writes the response (by default a 429
// problem, see [WriteLimited]) and the chain is aborted.
//
// Unless cfg.Limiter is set, each middleware has its own store, so separate
// New calls on separate routes limit separately. That store starts no
// goroutine: it sweeps on the requests that create buckets, and needs no
// Close. The middleware reads the request and writes headers on the calling
// goroutine only.
//
// Headers set before a WebSocket upgrade are lost if the upgrader writes
// its own response (gorilla/websocket does); a 429 on the upgrade request
// itself is sent normally.
func New(cfg Config) gin.HandlerFunc {
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	cfg = cfg.withDefaults()
	lim := cfg.Limiter
	if lim == nil {
		lim = newLimiter(cfg)
	}
	m := &middleware{
		lim:       lim,
		keyFunc:   cfg.KeyFunc,
		now:       cfg.Now,
		onLimited: cfg.OnLimited,
		onError:   cfg.OnError,
		ietf:      cfg.Headers == HeadersIETF || cfg.Headers == HeadersBoth,
		legacy:    cfg.Headers == HeadersLegacy || cfg.Headers == HeadersBoth,
	}
	if m.onLimited == nil {
		m.onLimited = WriteLimited
	}
	if m.onError == nil {
		m.onError = writeError
	}
	policy := cfg.Policy
	m.policy = fieldValue(string(appendPolicy(nil, policy, int64(lim.burst), policyWindow(lim))))
	m.rateLimit = newMemo(256, func(r, t int64) []string {
		return fieldValue(string(appendRateLimit(nil, policy, r, t)))
	})
	m.limit = fieldValue(strconv.Itoa(lim.burst))
	m.reset = newMemo(4, func(unix, _ int64) []string {
		return fieldValue(strconv.FormatInt(unix, 10))
	})
	return m.handle
}

type middleware struct {
	lim       *Limiter
	keyFunc   KeyFunc
	now       func() time.Time
	onLimited func(*gin.Context, Decision)
	onError   func(*gin.Context, error)

	ietf, legacy bool
	policy       []string        // RateLimit-Policy, fixed
	rateLimit    *memo[[]string] // RateLimit by (remaining, seconds)
	limit        []string        // X-RateLimit-Limit, fixed
	reset        *memo[[]string] // X-RateLimit-Reset by Unix second
}

func (m *middleware) handle(c *gin.Context) {
	key, err := m.keyFunc(c)
	if err == nil && key == "" {
		err = ErrEmptyKey
	}
	if err != nil {
		m.onError(c, err)
		return // on to the next handler unless onError aborted
	}
	now := m.now()
	d, err := m.lim.AllowContext(c.Request.Context(), key, now)
	if err != nil {
		m.onError(c, err)
		return // on to the next handler unless onError aborted
	}
	h := c.Writer.Header()
	if m.ietf {
		h[fieldPolicy] = m.policy
		h[fieldRateLimit] = m.rateLimit.get(int64(d.Remaining), ceilSeconds(d.Window))
	}
	if m.legacy {
		h[fieldLimit] = m.limit
		h[fieldRemaining] = intValues.get(int64(d.Remaining), 0)
		h[fieldReset] = m.reset.get(unixCeil(now.Add(d.ResetAfter)), 0)
	}
	if d.Allowed {
		return // gin runs the next handler
	}
	h[fieldRetryAfter] = intValues.get(retryAfterSeconds(d), 0)
	m.onLimited(c, d)
	c.Abort()
}

// WriteLimited is the default Config.OnLimited: it aborts c with status 429
// and an RFC 9457 problem, Content-Type application/problem+json:
//
//	{"status":429,"title":"Too Many Requests","code":"rate_limited",
//	 "detail":"too many requests from this client; retry after 2 seconds"}
//
// The middleware sets Retry-After before calling it. A custom OnLimited can
// log or count and then call WriteLimited.
func WriteLimited(c *gin.Context, d Decision) {
	writeProblem(c, http.StatusTooManyRequests, limitedBodies.get(retryAfterSeconds(d), 0))
}

// writeError is the default Config.OnError: it records err on c and aborts
// with a 503 problem and Retry-After if the Store failed, a 500 problem
// otherwise.
func writeError(c *gin.Context, err error) {
	_ = c.Error(err)
	if errors.Is(err, ErrUnavailable) {
		c.Writer.Header()[fieldRetryAfter] = intValues.get(ceilSeconds(UnavailableRetryAfter), 0)
		writeProblem(c, http.StatusServiceUnavailable, unavailableBody)
		return
	}
	writeProblem(c, http.StatusInternalServerError, keyErrorBody)
}

func writeProblem(c *gin.Context, status int, body []byte) {
	c.Writer.Header()[fieldType] = problemType
	c.Writer.WriteHeader(status)
	_, _ = c.Writer.Write(body)
	c.Abort()
}

// unixCeil returns t as Unix seconds, rounded up.
func unixCeil(t time.Time) int64 {
	s, ns := t.Unix(), t.Nanosecond()
	if ns > 0 {
		s++
	}
	return s
}
