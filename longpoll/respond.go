package longpoll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/problem"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// WriteError answers the request with the problem response for err
// (PROTOCOL.md §2).
func WriteError(c *gin.Context, err error) {
	if errors.Is(err, context.Canceled) {
		c.Abort() // the client is gone; nobody reads an answer
		return
	}
	p := ProblemFor(err)
	var limited *RateLimitError
	if errors.As(err, &limited) {
		c.Header("Retry-After", strconv.FormatInt(problem.RetryAfterSeconds(p.RetryAfter), 10))
		problem.Write(c, p.Status, p.Code, p.Detail) // the limiter set the RateLimit fields
		return
	}
	if p.RetryAfter > 0 {
		problem.WriteRetry(c, p.Status, p.Code, p.Detail, p.RetryAfter)
		return
	}
	problem.Write(c, p.Status, p.Code, p.Detail)
}

// A Problem is an error as the protocol reports it, on any transport.
type Problem struct {
	Status     int
	Code       string
	Detail     string
	RetryAfter time.Duration // zero when a retry is not advised
}

// ProblemFor maps an error to its documented status and code. Errors that
// wrap a sentinel of this package, or a *Rejection, get theirs; anything
// else is a 500 whose detail does not leak the error's text.
func ProblemFor(err error) Problem {
	var r *Rejection
	var limited *RateLimitError
	switch {
	case errors.As(err, &r):
		return Problem{Status: r.Status, Code: r.Code, Detail: r.Detail}
	case errors.As(err, &limited):
		wait := max(limited.Decision.RetryAfter, time.Millisecond)
		return Problem{Status: http.StatusTooManyRequests, Code: "rate_limited", Detail: fmt.Sprintf("too many %s requests from this client: retry after %d s", limited.Policy, problem.RetryAfterSeconds(wait)), RetryAfter: wait}
	case errors.Is(err, ErrBadCursor):
		return Problem{Status: http.StatusBadRequest, Code: "bad_cursor", Detail: err.Error()}
	case errors.Is(err, ErrBadTopic):
		return Problem{Status: http.StatusBadRequest, Code: "bad_topic", Detail: err.Error()}
	case errors.Is(err, ErrTooManyTopics):
		// Not the client's fault, and it passes as topics empty out: retry.
		return Problem{Status: http.StatusServiceUnavailable, Code: "too_many_topics", Detail: "the server holds its maximum number of topics: retry later", RetryAfter: TopicsFullRetryAfter}
	case errors.Is(err, errBadMeta):
		return Problem{Status: http.StatusBadRequest, Code: "bad_request", Detail: err.Error()}
	case errors.Is(err, ErrBadEvent):
		return Problem{Status: http.StatusBadRequest, Code: "bad_message", Detail: err.Error()}
	case errors.Is(err, ErrEventTooLarge):
		return Problem{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Detail: err.Error()}
	case errors.Is(err, ErrUnknownSession):
		return Problem{Status: http.StatusUnauthorized, Code: "unknown_token", Detail: "the session token is missing, unknown or expired: negotiate again"}
	case errors.Is(err, ErrForbidden):
		return Problem{Status: http.StatusForbidden, Code: "forbidden_topic", Detail: err.Error()}
	case errors.Is(err, ErrClosed):
		return Problem{Status: http.StatusServiceUnavailable, Code: "shutting_down", Detail: "the server is shutting down: reconnect", RetryAfter: ShutdownRetryAfter}
	case errors.Is(err, ErrUnavailable), errors.Is(err, ratelimit.ErrUnavailable):
		return Problem{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "a store the server depends on is unavailable: retry", RetryAfter: ratelimit.UnavailableRetryAfter}
	case errors.Is(err, ErrTooManySessions):
		return Problem{Status: http.StatusServiceUnavailable, Code: "too_many_sessions", Detail: "the server holds its maximum number of sessions", RetryAfter: 5 * time.Second}
	default:
		return Problem{Status: http.StatusInternalServerError, Code: "internal", Detail: "internal error"}
	}
}

// TopicsFullRetryAfter is the wait advised when a buffer's topic table is
// full (503 too_many_topics).
const TopicsFullRetryAfter = 5 * time.Second

// batchOutcome says why a poll answered.
type batchOutcome uint8

const (
	outcomeEvents batchOutcome = iota
	outcomeSuperseded
)

// encodedSize is about how many bytes events take as a JSON array: their
// cached envelopes and room for the separators.
func encodedSize(events []*Event) int {
	size := 2
	for _, e := range events {
		size += len(e.body) + 48
	}
	return size
}

// appendEvents appends events to out as a JSON array of their cached
// envelopes.
func appendEvents(out []byte, events []*Event) []byte {
	out = append(out, '[')
	for i, e := range events {
		if i > 0 {
			out = append(out, ',')
		}
		out = e.AppendJSON(out)
	}
	return append(out, ']')
}

// writeBatch answers a poll with a batch, encoding each event's cached
// envelope once into one buffer.
func writeBatch(c *gin.Context, b Batch, outcome batchOutcome) {
	buf := responseBuffers.get(64 + encodedSize(b.Events))
	defer responseBuffers.put(buf)
	out := append(*buf, `{"events":`...)
	out = appendEvents(out, b.Events)
	out = append(out, `,"cursor":"`...)
	out = b.Cursor.appendTo(out)
	out = append(out, '"')
	if b.More {
		out = append(out, `,"more":true`...)
	}
	if b.Reset {
		out = append(out, `,"reset":true`...)
	}
	if outcome == outcomeSuperseded {
		out = append(out, `,"superseded":true`...)
	}
	out = append(out, '}')
	h := c.Writer.Header()
	h["Cache-Control"] = noStoreValue
	h["Content-Type"] = jsonContentType
	// Framed by its length whatever its size, as gin's c.Data framed it:
	// net/http would chunk a body larger than its 2 KiB header buffer.
	h["Content-Length"] = contentLength(len(out))
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(out) // copies out; a failed write is the client gone
	*buf = out[:0]
}

// The header values of every poll answer, shared rather than allocated per
// answer as Header.Set would: net/http only reads them. Their capacity is
// their length, so that a handler adding a value after them appends to a
// copy.
var (
	noStoreValue    = []string{"no-store"}[:1:1]
	jsonContentType = []string{"application/json; charset=utf-8"}[:1:1]
)

// contentLengths are the Content-Length values of the poll answers up to
// cachedLengths bytes, each made on first use and shared after, like the
// values above: most answers carry one event or none, and their lengths
// repeat, so that an answer allocates no header value.
var contentLengths [cachedLengths]atomic.Pointer[[]string]

// cachedLengths bounds contentLengths (8 bytes each): longer answers,
// catch-up batches, allocate their value.
const cachedLengths = 4096

// contentLength returns the Content-Length value for n bytes.
func contentLength(n int) []string {
	if n >= cachedLengths {
		return []string{strconv.Itoa(n)}
	}
	if v := contentLengths[n].Load(); v != nil {
		return *v
	}
	v := []string{strconv.Itoa(n)}[:1:1]
	contentLengths[n].Store(&v) // racing stores store equal values
	return v
}

func problemBadTimeout(c *gin.Context, err error) {
	problem.Write(c, http.StatusBadRequest, "bad_timeout", err.Error())
}
