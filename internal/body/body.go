// Package body reads request bodies for Lifeline's handlers with a size
// limit and a deadline, so that a client sending a body slowly cannot hold
// a connection, a goroutine and a file descriptor for as long as it likes.
package body

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// Sentinel errors of Read.
var (
	// ErrTooLarge reports a body over the limit.
	ErrTooLarge = errors.New("request body too large")
	// ErrTimeout reports a body that did not arrive within the timeout.
	ErrTimeout = errors.New("request body not received in time")
)

// Read reads the whole body of r, at most limit bytes, and gives the
// client timeout to send it. The deadline is set on the connection through
// http.ResponseController and cleared once the body is read: net/http
// watches the connection in the background while a handler runs, and a
// read deadline left behind would end that watch with a timeout, which
// cancels the request's context and cuts short whatever the handler does
// next. A request without a body is not given a deadline at all: that
// watch is already running. Writers without deadline support (httptest's
// recorder) are read without one.
func Read(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	rc := http.NewResponseController(w)
	bounded := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if bounded {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, ErrTooLarge
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, ErrTimeout
		}
		return nil, err
	}
	return b, nil
}
