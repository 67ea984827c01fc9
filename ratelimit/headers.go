package ratelimit

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Header field names, in the canonical form http.Header keys take, so they
// can be assigned without canonicalising them on every request.
const (
	fieldPolicy     = "Ratelimit-Policy"
	fieldRateLimit  = "Ratelimit"
	fieldRetryAfter = "Retry-After"
	fieldLimit      = "X-Ratelimit-Limit"
	fieldRemaining  = "X-Ratelimit-Remaining"
	fieldReset      = "X-Ratelimit-Reset"
	fieldType       = "Content-Type"
)

// maxSFInt is the largest Integer a structured field may carry (RFC 9651
// §3.3.1: at most 15 digits).
const maxSFInt = 999_999_999_999_999

// ceilSeconds returns d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// retryAfterSeconds returns the Retry-After value for a refused request:
// the delay rounded up to whole seconds, and never 0, which would invite an
// immediate retry.
func retryAfterSeconds(d Decision) int64 {
	return max(ceilSeconds(d.RetryAfter), 1)
}

// policyWindow returns the w of RateLimit-Policy: the seconds an empty
// bucket of burst tokens takes to refill at limit tokens per second,
// rounded up, and at least 1 (w must be a positive Integer).
func policyWindow(l *Limiter) int64 {
	return min(max(ceilSeconds(l.duration(float64(l.burst))), 1), maxSFInt)
}

func clampSF(n int64) int64 {
	return min(max(n, 0), maxSFInt)
}

// appendSFString appends s as a structured-field String (RFC 9651 §4.1.6).
// s must be printable ASCII, which Config.Validate checks.
func appendSFString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// appendPolicy appends a RateLimit-Policy item: "name";q=<q>;w=<w>.
func appendPolicy(dst []byte, name string, q, w int64) []byte {
	dst = appendSFString(dst, name)
	dst = append(dst, ";q="...)
	dst = strconv.AppendInt(dst, clampSF(q), 10)
	dst = append(dst, ";w="...)
	return strconv.AppendInt(dst, clampSF(w), 10)
}

// appendRateLimit appends a RateLimit item: "name";r=<r>;t=<t>.
func appendRateLimit(dst []byte, name string, r, t int64) []byte {
	dst = appendSFString(dst, name)
	dst = append(dst, ";r="...)
	dst = strconv.AppendInt(dst, clampSF(r), 10)
	dst = append(dst, ";t="...)
	return strconv.AppendInt(dst, clampSF(t), 10)
}

// memo is a small direct-mapped cache of values built from two integers. It
// keeps the per-request header values from allocating: a service sees few
// distinct (remaining, seconds) pairs. A miss builds the value and replaces
// the slot's entry; entries are immutable once stored, so readers need no
// lock.
type memo[T any] struct {
	slots []atomic.Pointer[memoEntry[T]]
	mask  uint64
	build func(a, b int64) T
}

type memoEntry[T any] struct {
	a, b int64
	v    T
}

// newMemo returns a memo with size slots; size must be a power of two.
func newMemo[T any](size int, build func(a, b int64) T) *memo[T] {
	return &memo[T]{
		slots: make([]atomic.Pointer[memoEntry[T]], size),
		mask:  uint64(size - 1),
		build: build,
	}
}

func (m *memo[T]) get(a, b int64) T {
	h := uint64(a)*0x9e3779b97f4a7c15 ^ uint64(b)*0xc2b2ae3d27d4eb4f
	slot := &m.slots[(h>>32)&m.mask]
	if e := slot.Load(); e != nil && e.a == a && e.b == b {
		return e.v
	}
	e := &memoEntry[T]{a: a, b: b, v: m.build(a, b)}
	slot.Store(e)
	return e.v
}

// fieldValue returns a header value slice for s. Such slices are shared
// between responses, as gin shares its Content-Type values: net/http and gin
// replace or append to a header's slice, never write into it.
func fieldValue(s string) []string {
	return []string{s}
}

// intValues caches decimal header values, e.g. Retry-After and the legacy
// fields. Package-level: the value depends on the number alone.
var intValues = newMemo(256, func(n, _ int64) []string {
	return fieldValue(strconv.FormatInt(n, 10))
})

// problem is the RFC 9457 body every Lifeline error response carries.
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

var problemType = fieldValue("application/problem+json")

// limitedBodies caches the 429 body by Retry-After seconds.
var limitedBodies = newMemo(64, func(secs, _ int64) []byte {
	unit := " seconds"
	if secs == 1 {
		unit = " second"
	}
	return mustJSON(problem{
		Status: 429,
		Title:  "Too Many Requests",
		Code:   "rate_limited",
		Detail: "too many requests from this client; retry after " + strconv.FormatInt(secs, 10) + unit,
	})
})

var keyErrorBody = mustJSON(problem{
	Status: 500,
	Title:  "Internal Server Error",
	Code:   "internal",
	Detail: "the server could not identify the client for rate limiting",
})

var unavailableBody = mustJSON(problem{
	Status: 503,
	Title:  "Service Unavailable",
	Code:   "unavailable",
	Detail: "the rate limit store is unavailable; retry after " + strconv.FormatInt(ceilSeconds(UnavailableRetryAfter), 10) + " seconds",
})

func mustJSON(p problem) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic("ratelimit: " + err.Error())
	}
	return b
}

// ExposedHeaders returns the response header names that mode makes the
// middleware send, Retry-After included, for a CORS configuration's
// exposed headers: browsers hide other response headers from cross-origin
// scripts (Access-Control-Expose-Headers).
func ExposedHeaders(mode HeaderMode) []string {
	names := []string{"Retry-After"}
	if mode == HeadersIETF || mode == HeadersBoth {
		names = append(names, "RateLimit-Policy", "RateLimit")
	}
	if mode == HeadersLegacy || mode == HeadersBoth {
		names = append(names, "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
	}
	return names
}

// SetFields sets the IETF RateLimit-Policy and RateLimit fields of d on h,
// named policy, and Retry-After when d refused the request: what the
// middleware sends, for code that calls Allow itself (a send endpoint, a
// streaming transport's handshake).
func (l *Limiter) SetFields(h http.Header, policy string, d Decision) {
	h[fieldPolicy] = []string{string(appendPolicy(nil, policy, int64(d.Limit), policyWindow(l)))}
	h[fieldRateLimit] = []string{string(appendRateLimit(nil, policy, int64(d.Remaining), ceilSeconds(d.Window)))}
	if !d.Allowed {
		h[fieldRetryAfter] = intValues.get(retryAfterSeconds(d), 0)
	}
}
