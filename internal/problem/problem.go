// Package problem writes RFC 9457 problem documents, the one error format of
// every Lifeline endpoint (PROTOCOL.md §2).
package problem

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// A Problem is the body of an error response. Code is stable and meant for
// programs; Detail is for people.
type Problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// New returns the problem for status with its standard title.
func New(status int, code, detail string) Problem {
	return Problem{Status: status, Title: http.StatusText(status), Code: code, Detail: detail}
}

// Encode returns the problem as JSON.
func (p Problem) Encode() []byte {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // details quote user input such as "<epoch>"; no HTML reads this
	_ = enc.Encode(p)        // a Problem always encodes
	return bytes.TrimSuffix(body.Bytes(), []byte("\n"))
}

// Write aborts the request with a problem response.
func Write(c *gin.Context, status int, code, detail string) {
	c.Header("Cache-Control", "no-store")
	c.Data(status, ContentType, New(status, code, detail).Encode())
	c.Abort()
}

// WriteHTTP writes a problem response to a plain http.ResponseWriter, for
// code that runs outside a Gin handler chain.
func WriteHTTP(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(New(status, code, detail).Encode())
}

// WriteRetry is Write with a Retry-After header of wait rounded up to whole
// seconds, at least one.
func WriteRetry(c *gin.Context, status int, code, detail string, wait time.Duration) {
	c.Header("Retry-After", strconv.FormatInt(RetryAfterSeconds(wait), 10))
	Write(c, status, code, detail)
}

// RetryAfterSeconds rounds wait up to whole seconds, never below one, as
// Retry-After requires an integer and rounding down would invite an early
// retry.
func RetryAfterSeconds(wait time.Duration) int64 {
	s := int64((wait + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// WriteBodyTimeout answers a request whose body did not arrive within
// timeout with 408 body_timeout, and closes the connection: its read side
// has timed out and cannot carry another request.
func WriteBodyTimeout(c *gin.Context, timeout time.Duration) {
	c.Header("Connection", "close")
	Write(c, http.StatusRequestTimeout, "body_timeout", "the request body did not arrive within "+timeout.String())
}
