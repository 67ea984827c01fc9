package negotiate

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/problem"
	"github.com/lifeline-go/lifeline/internal/rawquery"
	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// lastEventIDHeader is what EventSource sends when it reconnects by itself.
const lastEventIDHeader = "Last-Event-ID"

// SSE is the handler of GET {base}/sse (PROTOCOL.md §5a).
//
// Its frame is all of it that stays on the request's goroutine while the
// stream is parked: the setup is in openSSE, which returns first, and the
// stream's state is on the heap (sseStream). A goroutine that served
// deeper requests on the same keep-alive connection before (a negotiate)
// may have grown its stack to 16 KiB; the runtime halves it at GC only
// when less than a quarter of it is in use, an 800-byte guard included,
// and the parked frames of net/http, gin and the stream come close to that
// (TestParkedSSEStackShrinks).
func (h *Handler) SSE(c *gin.Context) {
	if st := h.openSSE(c); st != nil {
		st.serve()
	}
}

// An sseStream is an open SSE stream and what ends with it.
type sseStream struct {
	stream
	w     sseWriter
	retry time.Duration // the retry: SSE advises with its problem events
	// release gives back the connection's place under MaxHeldPerAddress;
	// done gives the response writer back to gin (streamWriter).
	release, done func()
}

// openSSE authenticates the request, writes the response's head and the
// open event, and returns the stream, or nil when it answered the request
// otherwise (an error status, or a problem event a retry can fix). What it
// took is given back if it does not return the stream, even when a hook
// panics (the limits store, the Observer, a middleware's writer).
func (h *Handler) openSSE(c *gin.Context) (opened *sseStream) {
	token := c.GetHeader(longpoll.TokenHeader)
	if token == "" {
		token = sessionCookie(c, rawquery.Value(c.Request.URL.RawQuery, "client"))
	}
	sess, err := h.lp.Authenticate(token)
	retryable := errors.Is(err, longpoll.ErrClosed) || errors.Is(err, longpoll.ErrUnavailable)
	if err != nil && !retryable {
		longpoll.WriteError(c, err) // a retry cannot fix it: a plain status
		return nil
	}
	var cursor longpoll.Cursor
	if err == nil {
		from := c.GetHeader(lastEventIDHeader)
		if from == "" {
			from = rawquery.Value(c.Request.URL.RawQuery, "cursor")
		}
		if cursor, err = longpoll.ParseCursor(from); err != nil {
			longpoll.WriteError(c, err)
			return nil
		}
		if c.GetHeader(longpoll.TokenHeader) == "" {
			// A native EventSource: refresh its cookie on every reconnect.
			h.setSessionCookie(c, sess.ID, token)
		}
	}

	heartbeat, ok := h.streamHeartbeat(c)
	if !ok {
		return nil
	}
	out, done := streamWriter(c)
	sseHeaders(out.Header())
	out.WriteHeader(http.StatusOK)
	st := &sseStream{
		stream: stream{lp: h.lp, sess: sess, cursor: cursor, heartbeat: heartbeat, probe: ProbeDelay, maxAge: h.cfg.StreamMaxAge,
			ctx: c.Request.Context(), pace: h.pace},
		w:     sseWriter{out: newResponseOut(out), timeout: h.cfg.WriteTimeout, maxBytes: h.cfg.StreamMaxBytes},
		retry: h.cfg.SSERetry,
		done:  done,
	}
	st.out = &st.w
	defer func() {
		if opened == nil {
			st.close()
		}
	}()
	if err != nil { // closing or unavailable: a retry fixes it, so keep EventSource alive
		p := longpoll.ProblemFor(err)
		return st.refuse(max(h.cfg.SSERetry, p.RetryAfter), p)
	}
	release, held := h.hold(c, h.held)
	if !held {
		p := h.tooManyHeld()
		return st.refuse(p.RetryAfter, p)
	}
	st.release = release
	if err := h.lp.AllowStream(sess, nil); err != nil {
		// Slow the client down with retry: rather than refuse it, which
		// would end a native EventSource for good.
		p := longpoll.ProblemFor(err)
		return st.refuse(p.RetryAfter, p)
	}
	st.receiver = h.lp.AttachTransport(sess, longpoll.TransportSSE)
	if st.w.open(h.cfg.SSERetry, sess.ID, cursor) != nil {
		return nil
	}
	return st
}

// refuse ends the response with a problem event before the stream opened,
// and returns nil.
func (st *sseStream) refuse(retry time.Duration, p longpoll.Problem) *sseStream {
	st.w.problem(retry, p)
	return nil
}

// serve runs the stream, tells the client why it ended, and releases what
// it held.
func (st *sseStream) serve() {
	defer st.close()
	st.ended(st.run())
}

// ended tells the client why the stream ended, when it can: a recycle, or
// a problem event for an end that a retry or a new negotiate fixes.
func (st *sseStream) ended(err error) {
	w := &st.w
	switch {
	case errors.Is(err, errRecycle):
		_ = w.write([]byte("event: recycle\ndata: {}\n\n"))
	case errors.Is(err, longpoll.ErrSuperseded):
		w.problem(st.retry, longpoll.Problem{Status: http.StatusConflict, Code: "superseded", Detail: "a newer receiver opened for this session"})
	case errors.Is(err, longpoll.ErrUnknownSession):
		w.problem(st.retry, longpoll.ProblemFor(err))
	case errors.Is(err, longpoll.ErrClosed):
		w.problem(longpoll.ShutdownRetryAfter, longpoll.ProblemFor(err))
	case errors.Is(err, longpoll.ErrUnavailable):
		w.problem(ratelimit.UnavailableRetryAfter, longpoll.ProblemFor(err))
	case errors.Is(err, longpoll.ErrTooManyTopics):
		p := longpoll.ProblemFor(err)
		w.problem(p.RetryAfter, p)
	}
}

// close detaches the stream's receiver (once attached), gives back its
// place under MaxHeldPerAddress (once held) and the response writer, in
// that order.
func (st *sseStream) close() {
	if st.receiver != (longpoll.Receiver{}) {
		st.receiver.Detach()
	}
	if st.release != nil {
		st.release()
	}
	st.done()
}

// sseHeaders are the stream's response headers: never cached, never
// buffered by nginx (X-Accel-Buffering), never compressed — by the app, or,
// thanks to no-transform (RFC 9111), by a proxy such as HAProxy, whose
// compression would hold each event until the next one arrives.
func sseHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Vary")
}

// sseWriter frames and flushes SSE messages, each write bounded by a
// deadline so that a client that stops reading is cut off instead of
// holding the stream.
type sseWriter struct {
	out      responseOut
	timeout  time.Duration
	written  int
	maxBytes int
	deadline writeDeadline // moved on coarsely (see deadlineSlack)
}

func (w *sseWriter) write(b []byte) error {
	// Not every ResponseWriter supports deadlines (httptest's recorder does
	// not); the stream still works, only without slow-consumer protection.
	if at, moved := w.deadline.next(time.Now(), w.timeout); moved {
		_ = w.out.SetWriteDeadline(at)
	}
	if _, err := w.out.Write(b); err != nil {
		return err
	}
	w.written += len(b)
	if err := w.out.Flush(); err != nil {
		return err
	}
	if w.written >= w.maxBytes {
		return errRecycle
	}
	return nil
}

func (w *sseWriter) open(retry time.Duration, clientID string, from longpoll.Cursor) error {
	data, _ := json.Marshal(map[string]string{"clientId": clientID, "cursor": from.String()})
	b := make([]byte, 0, 64+len(data))
	b = appendRetry(b, retry)
	b = append(b, "event: open\ndata: "...)
	b = append(b, data...)
	return w.write(append(b, "\n\n"...))
}

// events writes a batch's messages with one write and one flush, gathered
// in a buffer borrowed for the batch.
func (w *sseWriter) events(events []*longpoll.Event) error {
	buf := batchBuffers.Get().(*[]byte)
	b := (*buf)[:0]
	for _, e := range events {
		b = append(b, e.Memo(longpoll.MemoSSE, sseFrame).([]byte)...)
	}
	err := w.write(b)
	if cap(b) <= maxPooledBatch {
		*buf = b[:0]
		batchBuffers.Put(buf)
	}
	return err
}

// sseFrame is an event as one SSE message, built once per event and shared
// by every stream.
func sseFrame(e *longpoll.Event) any {
	b := make([]byte, 0, 160)
	b = append(b, "id: "...)
	b, _ = e.ID.AppendText(b)
	b = append(b, "\ndata: "...)
	b = e.AppendJSON(b)
	return append(b, "\n\n"...)
}

func (w *sseWriter) reset(head longpoll.Cursor) error {
	b := []byte("id: ")
	b, _ = head.AppendText(b)
	b = append(b, "\nevent: reset\ndata: {\"cursor\":\""...)
	b, _ = head.AppendText(b)
	return w.write(append(b, "\"}\n\n"...))
}

func (w *sseWriter) heartbeat() error { return w.write([]byte(": hb\n\n")) }

// probe is the event that must reach the client soon after the open
// event. An event, not a comment: a client knows it complete only with its
// last byte, which is what a compressing proxy holds back.
func (w *sseWriter) probe() error { return w.write([]byte("event: probe\ndata: {}\n\n")) }

// problem ends the stream with a problem event after advising the retry
// delay, so that a native EventSource reconnects rather than giving up.
func (w *sseWriter) problem(retry time.Duration, p longpoll.Problem) {
	b := appendRetry(nil, retry)
	b = append(b, "event: problem\ndata: "...)
	b = append(b, problem.New(p.Status, p.Code, p.Detail).Encode()...)
	_ = w.write(append(b, "\n\n"...))
}

func appendRetry(b []byte, retry time.Duration) []byte {
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, retry.Milliseconds(), 10)
	return append(b, '\n')
}
