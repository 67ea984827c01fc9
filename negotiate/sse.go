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
func (h *Handler) SSE(c *gin.Context) {
	token := c.GetHeader(longpoll.TokenHeader)
	if token == "" {
		token = sessionCookie(c, rawquery.Value(c.Request.URL.RawQuery, "client"))
	}
	sess, err := h.lp.Authenticate(token)
	retryable := errors.Is(err, longpoll.ErrClosed) || errors.Is(err, longpoll.ErrUnavailable)
	if err != nil && !retryable {
		longpoll.WriteError(c, err) // a retry cannot fix it: a plain status
		return
	}
	var cursor longpoll.Cursor
	if err == nil {
		from := c.GetHeader(lastEventIDHeader)
		if from == "" {
			from = rawquery.Value(c.Request.URL.RawQuery, "cursor")
		}
		if cursor, err = longpoll.ParseCursor(from); err != nil {
			longpoll.WriteError(c, err)
			return
		}
		if c.GetHeader(longpoll.TokenHeader) == "" {
			// A native EventSource: refresh its cookie on every reconnect.
			h.setSessionCookie(c, sess.ID, token)
		}
	}

	heartbeat, ok := h.streamHeartbeat(c)
	if !ok {
		return
	}
	out, done := streamWriter(c)
	defer done()
	sseHeaders(out.Header())
	out.WriteHeader(http.StatusOK)
	w := &sseWriter{out: newResponseOut(out), timeout: h.cfg.WriteTimeout, maxBytes: h.cfg.StreamMaxBytes}
	ctx := c.Request.Context()
	if err != nil { // closing or unavailable: a retry fixes it, so keep EventSource alive
		p := longpoll.ProblemFor(err)
		w.problem(max(h.cfg.SSERetry, p.RetryAfter), p)
		return
	}
	release, held := h.hold(c, h.held)
	if !held {
		p := h.tooManyHeld()
		w.problem(p.RetryAfter, p)
		return
	}
	defer release()
	if err := h.lp.AllowStream(sess, nil); err != nil {
		// Slow the client down with retry: rather than refuse it, which
		// would end a native EventSource for good.
		p := longpoll.ProblemFor(err)
		w.problem(p.RetryAfter, p)
		return
	}
	receiver := h.lp.AttachTransport(sess, longpoll.TransportSSE)
	defer receiver.Detach()
	if w.open(h.cfg.SSERetry, sess.ID, cursor) != nil {
		return
	}
	s := &stream{lp: h.lp, sess: sess, cursor: cursor, heartbeat: heartbeat, probe: ProbeDelay, maxAge: h.cfg.StreamMaxAge,
		ctx: ctx, out: w, receiver: receiver, pace: h.pace}
	switch err := s.run(); {
	case errors.Is(err, errRecycle):
		_ = w.write([]byte("event: recycle\ndata: {}\n\n"))
	case errors.Is(err, longpoll.ErrSuperseded):
		w.problem(h.cfg.SSERetry, longpoll.Problem{Status: http.StatusConflict, Code: "superseded", Detail: "a newer receiver opened for this session"})
	case errors.Is(err, longpoll.ErrUnknownSession):
		w.problem(h.cfg.SSERetry, longpoll.ProblemFor(err))
	case errors.Is(err, longpoll.ErrClosed):
		w.problem(longpoll.ShutdownRetryAfter, longpoll.ProblemFor(err))
	case errors.Is(err, longpoll.ErrUnavailable):
		w.problem(ratelimit.UnavailableRetryAfter, longpoll.ProblemFor(err))
	case errors.Is(err, longpoll.ErrTooManyTopics):
		p := longpoll.ProblemFor(err)
		w.problem(p.RetryAfter, p)
	}
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
