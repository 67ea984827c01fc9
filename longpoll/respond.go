package longpoll

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/problem"
)

// shutdownRetryAfter is the Retry-After sent while shutting down: soon
// enough for a restart, and clients add jitter of their own.
const shutdownRetryAfter = time.Second

// WriteError answers the request with the problem response for err
// (PROTOCOL.md §2). Errors that wrap a sentinel of this package, or a
// *Rejection, get their documented status and code; anything else is a 500
// whose detail does not leak err's text.
func WriteError(c *gin.Context, err error) {
	var r *Rejection
	switch {
	case errors.As(err, &r):
		problem.Write(c, r.Status, r.Code, r.Detail)
	case errors.Is(err, ErrBadCursor):
		problem.Write(c, http.StatusBadRequest, "bad_cursor", err.Error())
	case errors.Is(err, ErrBadTopic), errors.Is(err, ErrTooManyTopics):
		problem.Write(c, http.StatusBadRequest, "bad_topic", err.Error())
	case errors.Is(err, errBadMeta):
		problem.Write(c, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, ErrEventTooLarge):
		problem.Write(c, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.Is(err, ErrUnknownSession):
		problem.Write(c, http.StatusUnauthorized, "unknown_token", "the Lifeline-Token header is missing, unknown or expired: negotiate again")
	case errors.Is(err, ErrForbidden):
		problem.Write(c, http.StatusForbidden, "forbidden_topic", err.Error())
	case errors.Is(err, ErrClosed):
		problem.WriteRetry(c, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down: reconnect", shutdownRetryAfter)
	case errors.Is(err, ErrTooManySessions):
		problem.WriteRetry(c, http.StatusServiceUnavailable, "too_many_sessions", "the server holds its maximum number of sessions", 5*time.Second)
	case errors.Is(err, context.Canceled):
		c.Abort() // the client is gone; nobody reads an answer
	default:
		problem.Write(c, http.StatusInternalServerError, "internal", "internal error")
	}
}

// batchOutcome says why a poll answered.
type batchOutcome uint8

const (
	outcomeEvents batchOutcome = iota
	outcomeSuperseded
)

// writeBatch answers a poll with a batch, encoding each event's cached
// envelope once into one buffer.
func writeBatch(c *gin.Context, b Batch, outcome batchOutcome) {
	size := 64
	for _, e := range b.Events {
		size += len(e.body) + 48
	}
	out := make([]byte, 0, size)
	out = append(out, `{"events":[`...)
	for i, e := range b.Events {
		if i > 0 {
			out = append(out, ',')
		}
		out = e.AppendJSON(out)
	}
	out = append(out, `],"cursor":"`...)
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
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json; charset=utf-8", out)
}

func problemBadTimeout(c *gin.Context, err error) {
	problem.Write(c, http.StatusBadRequest, "bad_timeout", err.Error())
}
