package negotiate

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/internal/problem"
	"github.com/lifeline-go/lifeline/internal/rawquery"
	"github.com/lifeline-go/lifeline/longpoll"
)

// WebSocket close codes (PROTOCOL.md §5b).
const (
	CloseUnknownToken = 4001
	CloseAuthTimeout  = 4002
	CloseSlowConsumer = 4003
	CloseBadCursor    = 4004
	CloseSuperseded   = 4005
	// CloseTryAgainLater (RFC 6455's 1013) ends a stream whose shared
	// backend became unavailable: the client reconnects after a backoff.
	CloseTryAgainLater = 1013
)

// inboxSize bounds the client frames read ahead of processing. When it is
// full the reader stops reading, and TCP pushes back on the client. Small:
// every open stream holds the channel's buffer (24 bytes a slot), and a
// client's frames are handled as soon as the stream is between events.
const inboxSize = 4

// controlWait bounds writing a close or ping control frame.
const controlWait = time.Second

func (h *Handler) upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		// Zero sizes: the connection reads and writes through the 4 KiB
		// buffers net/http read and wrote the handshake with, handed over
		// with the hijacked connection, instead of allocating its own on
		// top. Events do not need them (see corkConn).
		ReadBufferSize:  0,
		WriteBufferSize: 0,
		CheckOrigin:     h.checkOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			code := "bad_upgrade"
			if status == http.StatusForbidden {
				code = "forbidden_origin"
			}
			problem.WriteHTTP(w, status, code, reason.Error())
		},
	}
}

// checkOrigin accepts requests without an Origin (non-browser clients, which
// cannot be hijacked cross-site), the server's own origin, and the
// configured list.
func (h *Handler) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.ContainsFunc(h.cfg.AllowedOrigins, func(allowed string) bool {
		return strings.EqualFold(strings.TrimSuffix(allowed, "/"), origin)
	})
}

// WebSocket is the handler of GET {base}/ws (PROTOCOL.md §5b).
//
// Once the connection is upgraded, the stream runs on a goroutine of its
// own, owned by the longpoll.Server (Server.Go: its Close ends the stream
// and waits for it), and the handler returns, so that net/http's
// connection and response, the *http.Request and gin's Context of the
// upgrade are collected rather than kept for the connection's life. A
// second goroutine, owned by the stream's and waited for before it ends,
// only reads frames and hands them over.
//
// Sends are applied on the stream's goroutine with a copy of the upgrade
// request's *gin.Context made before the handler returned (wsContext): its
// Keys and Params are copied; its Request, made at the first send, is a
// trimmed copy of the upgrade request (method, URL, proto, header, host,
// remote address, request URI, TLS; no body) whose Context carries the
// request context's values, is live while the stream runs and is canceled
// when it ends or the Server closes; nothing can be written to its Writer.
func (h *Handler) WebSocket(c *gin.Context) {
	if !c.Request.ProtoAtLeast(1, 1) {
		// RFC 6455 §4.1: the handshake is an HTTP/1.1 request at least.
		problem.Write(c, http.StatusBadRequest, "bad_upgrade", "a WebSocket handshake needs HTTP/1.1")
		return
	}
	heartbeat, ok := h.streamHeartbeat(c)
	if !ok {
		return
	}
	release, held := h.hold(c, h.held)
	conn, err := h.upgrade(c)
	if err != nil {
		if held {
			release()
		}
		return // the upgrader answered with a problem response
	}
	conn.SetReadLimit(int64(h.lp.Config().MaxMessageBytes))
	if !held {
		// Refused after the upgrade: a refused handshake would look to the
		// client like a proxy stripping Upgrade, and it would give up on
		// WebSocket for this address.
		ws := &wsConn{conn: conn, timeout: h.cfg.WriteTimeout, pingEvery: heartbeat, lastPing: time.Now()}
		p := h.tooManyHeld()
		_ = ws.json(wsError{Op: "error", Status: p.Status, Code: p.Code, Detail: p.Detail, RetryAfterMs: ceilMillis(p.RetryAfter)})
		ws.close(websocket.ClosePolicyViolation, p.Code)
		conn.Close()
		return
	}
	st := h.newWSStream(newWSContext(c), conn, heartbeat, release)
	if err := h.lp.Go(st.serve); err != nil {
		// The Server is closing: the stream would end at once.
		st.ws.close(websocket.CloseGoingAway, err.Error())
		conn.Close()
		release()
	}
}

// A wsStream is an upgraded connection's stream: the stream, the
// connection it writes to, and what it needs to handle the client's
// frames. It is on the heap, and its goroutine runs the setup (open) and
// the close code (end) in functions that return before and after the
// loop: while the stream is parked, the goroutine's frames are then small
// enough for the runtime to halve its stack at GC, from 8 to 4 KiB (see
// stream; TestParkedWebSocketStack).
type wsStream struct {
	stream
	h       *Handler
	wc      *wsContext // what the stream keeps of its upgrade request
	release func()     // releases the connection's place under MaxHeldPerAddress
	ws      wsConn
	// binary is set, before inbox is closed, when the reader stopped at a
	// binary frame.
	binary atomic.Bool
}

// newWSStream returns the stream of conn.
func (h *Handler) newWSStream(wc *wsContext, conn *websocket.Conn, heartbeat time.Duration, release func()) *wsStream {
	st := &wsStream{
		stream: stream{
			lp: h.lp, heartbeat: heartbeat, pace: h.pace,
			inbox: make(chan []byte, inboxSize),
		},
		h:       h,
		wc:      wc,
		release: release,
		ws:      wsConn{conn: conn, timeout: h.cfg.WriteTimeout, pingEvery: heartbeat, lastPing: time.Now()},
	}
	st.out = &st.ws
	st.frames = st
	return st
}

// serve runs the stream until it ends, on a goroutine the longpoll.Server
// owns, and then closes the connection and releases what the stream held.
// ctx is the Server's, canceled when it closes: the stream's reads of the
// buffer end with it (the upgrade request's context ended when its handler
// returned), and so does the context of its sends' hooks.
func (st *wsStream) serve(ctx context.Context) {
	defer st.closed()
	st.ctx = ctx
	if st.open() {
		defer st.detach()
		st.end(st.run())
	}
}

// closed closes the connection, waits for the reader, ends the stream's
// *gin.Context and releases its place. It also recovers a panic of the
// stream's goroutine, which net/http recovered while the stream ran on the
// request's: it is logged, and the other connections carry on.
func (st *wsStream) closed() {
	if r := recover(); r != nil {
		st.h.lp.Config().Logger.Error("negotiate: panic in a WebSocket stream", "panic", r, "stack", string(debug.Stack()))
	}
	st.closeConn()
	st.wc.end()
	st.release()
}

// closeConn closes the connection and waits for the reader: closing the
// connection ends its wait for the next frame, draining inbox its wait to
// hand one over, and it closes inbox as it returns.
func (st *wsStream) closeConn() {
	st.ws.conn.Close()
	for range st.inbox {
	}
}

// open starts the stream's reader, authenticates the stream, attaches it
// as its session's receiver and tells the client it is open; or it
// refuses the stream, with a close frame, and returns false. The reader
// is a second goroutine, which the stream owns and waits for (closeConn):
// it only reads frames and hands them over through inbox.
func (st *wsStream) open() bool {
	h, ws := st.h, &st.ws
	go h.readFrames(ws.conn, st.inbox, &st.binary)
	sess, cursor, code, err := h.wsAuth(st.wc.head.url.RawQuery, st.inbox, ws)
	if errors.Is(err, errPeerGone) && st.binary.Load() {
		code, err = websocket.CloseUnsupportedData, errBinaryFrame
	}
	if err != nil {
		ws.close(code, err.Error())
		return false
	}
	if err := h.lp.AllowStream(sess, nil); err != nil {
		p := longpoll.ProblemFor(err)
		_ = ws.json(wsError{Op: "error", Status: p.Status, Code: p.Code, Detail: p.Detail, RetryAfterMs: ceilMillis(p.RetryAfter)})
		// 1008 also when the limits' store is down (p.Code "unavailable"):
		// clients retry after the error frame's retryAfterMs on 1008.
		ws.close(websocket.ClosePolicyViolation, p.Code)
		return false
	}
	st.sess, st.cursor = sess, cursor
	st.receiver = h.lp.AttachTransport(sess, longpoll.TransportWebSocket)
	if err := ws.json(map[string]string{"op": "open", "clientId": sess.ID, "cursor": cursor.String()}); err != nil {
		st.detach()
		return false
	}
	return true
}

// detach ends the stream's hold on its session.
func (st *wsStream) detach() { st.receiver.Detach() }

// frame handles a client frame after auth (wsFrame) with the stream's
// *gin.Context. A panic of the app's hooks (Authorize, OnMessage), which
// no gin middleware wraps here, ends the stream with 1011.
func (st *wsStream) frame(frame []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			st.h.lp.Config().Logger.Error("negotiate: panic handling a WebSocket send", "panic", r, "stack", string(debug.Stack()))
			err = errHookPanic
		}
	}()
	return st.h.wsFrame(st.wc.context(st.ctx), st.sess, &st.ws, frame)
}

// errHookPanic ends a stream whose send made an app's hook panic: it is
// closed with 1011 (internal error).
var errHookPanic = errors.New("negotiate: a hook panicked")

// end closes the connection with the close code of why the stream ended.
func (st *wsStream) end(err error) {
	if err != nil && st.ctx.Err() != nil {
		// A read of the buffer the Server's close interrupted: 1001, so
		// that the client resumes from its cursor elsewhere or later.
		err = st.ctxEnded()
	}
	ws := &st.ws
	switch {
	case errors.Is(err, longpoll.ErrSuperseded):
		ws.close(CloseSuperseded, "superseded")
	case errors.Is(err, longpoll.ErrUnknownSession):
		ws.close(CloseUnknownToken, "unknown_token")
	case errors.Is(err, longpoll.ErrClosed):
		ws.close(websocket.CloseGoingAway, "shutting down")
	case errors.Is(err, longpoll.ErrUnavailable):
		ws.close(CloseTryAgainLater, "unavailable")
	case errors.Is(err, longpoll.ErrTooManyTopics):
		p := longpoll.ProblemFor(err)
		_ = ws.json(wsError{Op: "error", Status: p.Status, Code: p.Code, Detail: p.Detail, RetryAfterMs: ceilMillis(p.RetryAfter)})
		ws.close(CloseTryAgainLater, p.Code)
	case errors.Is(err, errSlow):
		// The write that missed its deadline may have left half a frame on
		// the wire, and gorilla/websocket refuses every write after it: no
		// close frame can follow. The connection just drops (PROTOCOL.md
		// §5b, 4003).
	case errors.Is(err, errFlood):
		ws.close(websocket.ClosePolicyViolation, "flooding over the send limit")
	case errors.Is(err, errPeerGone) && st.binary.Load():
		ws.close(websocket.CloseUnsupportedData, errBinaryFrame.Error())
	case errors.Is(err, errPeerGone), err == nil:
	default:
		ws.close(websocket.CloseInternalServerErr, "internal error")
	}
}

// errBinaryFrame reports a binary frame: every frame of the protocol is
// JSON text, so the connection is closed with 1003 (unsupported data).
var errBinaryFrame = errors.New("binary frames are not supported")

// readFrames reads until the connection fails or closes or a binary frame
// arrives (setting binary), extending the read deadline on every frame and
// pong, hands each frame over through inbox, and closes inbox when done.
func (h *Handler) readFrames(conn *websocket.Conn, inbox chan<- []byte, binary *atomic.Bool) {
	defer close(inbox)
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout)) }
	_ = conn.SetReadDeadline(time.Now().Add(h.cfg.AuthTimeout))
	conn.SetPongHandler(func(string) error { alive(); return nil })
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			return // includes 1009 for an oversized frame, sent by the library
		}
		alive()
		if kind != websocket.TextMessage {
			binary.Store(true)
			return
		}
		inbox <- data
	}
}

// An authFrame is the client's first frame.
type authFrame struct {
	Op     string `json:"op"`
	Token  string `json:"token"`
	Cursor string `json:"cursor"`
	// Batch asks for the events a stream has together in one "events"
	// frame instead of an "event" frame each (PROTOCOL.md §5b).
	Batch bool `json:"batch"`
}

// wsAuth waits for the auth frame and resolves the session and cursor (the
// auth frame's, or else the one in the upgrade request's query), or returns
// the close code to refuse with.
func (h *Handler) wsAuth(query string, inbox <-chan []byte, ws *wsConn) (*longpoll.Session, longpoll.Cursor, int, error) {
	timer := time.NewTimer(h.cfg.AuthTimeout)
	defer timer.Stop()
	var frame []byte
	select {
	case f, ok := <-inbox:
		if !ok {
			return nil, longpoll.Cursor{}, CloseAuthTimeout, errPeerGone
		}
		frame = f
	case <-timer.C:
		return nil, longpoll.Cursor{}, CloseAuthTimeout, errors.New("no auth frame")
	case <-h.lp.Closing():
		return nil, longpoll.Cursor{}, websocket.CloseGoingAway, longpoll.ErrClosed
	}
	var auth authFrame
	if err := json.Unmarshal(frame, &auth); err != nil || auth.Op != "auth" {
		return nil, longpoll.Cursor{}, CloseAuthTimeout, errors.New("the first frame must be auth")
	}
	sess, err := h.lp.Authenticate(auth.Token)
	if errors.Is(err, longpoll.ErrClosed) {
		return nil, longpoll.Cursor{}, websocket.CloseGoingAway, err
	}
	if errors.Is(err, longpoll.ErrUnavailable) {
		return nil, longpoll.Cursor{}, CloseTryAgainLater, errors.New("unavailable")
	}
	if err != nil {
		return nil, longpoll.Cursor{}, CloseUnknownToken, errors.New("unknown_token")
	}
	from := auth.Cursor
	if from == "" {
		from = rawquery.Value(query, "cursor")
	}
	cursor, err := longpoll.ParseCursor(from)
	if err != nil {
		return nil, longpoll.Cursor{}, CloseBadCursor, errors.New("bad_cursor")
	}
	ws.batch = auth.Batch
	return sess, cursor, 0, nil
}

// wsFrame handles one client frame after auth: a send, acknowledged or
// refused in-band. Unknown ops are refused without closing, so that newer
// clients can probe for features.
func (h *Handler) wsFrame(c *gin.Context, sess *longpoll.Session, ws *wsConn, frame []byte) error {
	op, mid := peekFrame(frame)
	if op != "send" {
		return ws.json(wsError{Op: "error", MID: mid, Status: http.StatusBadRequest, Code: "bad_frame", Detail: "unknown op " + strconvQuote(op)})
	}
	ack, err := h.lp.Deliver(c, sess, frame)
	if err != nil && c.Request.Context().Err() != nil {
		// The Server is closing, and ended the hooks' context: a hook that
		// gave up on it did not refuse the send. It stays unacknowledged,
		// and the client sends it again once it reconnects.
		return longpoll.ErrClosed
	}
	var limited *longpoll.RateLimitError
	if errors.As(err, &limited) {
		if ws.refused++; ws.refused >= h.cfg.FloodClose {
			return errFlood
		}
	} else {
		ws.refused = 0
	}
	if err != nil {
		p := longpoll.ProblemFor(err)
		return ws.json(wsError{Op: "error", MID: mid, Status: p.Status, Code: p.Code, Detail: p.Detail, RetryAfterMs: ceilMillis(p.RetryAfter)})
	}
	return ws.json(wsAck{Op: "ack", MID: ack.MID, ID: ack.ID})
}

type wsAck struct {
	Op  string `json:"op"`
	MID string `json:"mid"`
	ID  string `json:"id,omitempty"`
}

type wsError struct {
	Op           string `json:"op"`
	MID          string `json:"mid,omitempty"`
	Status       int    `json:"status"`
	Code         string `json:"code"`
	Detail       string `json:"detail,omitempty"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
}

// peekFrame extracts the op and mid of a client frame, tolerating any
// malformation: a frame that is not a JSON object has neither.
func peekFrame(frame []byte) (op, mid string) {
	var head struct {
		Op  string `json:"op"`
		MID string `json:"mid"`
	}
	if json.Unmarshal(frame, &head) != nil {
		return "", ""
	}
	return head.Op, head.MID
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// errFlood reports a client that kept sending over its limit.
var errFlood = errors.New("negotiate: flooding")

// errSlow reports a write that missed its deadline: the client is not
// reading.
var errSlow = errors.New("negotiate: slow consumer")

// wsConn writes frames with a deadline each. Only the stream's goroutine
// writes data frames; control frames may come from anywhere.
type wsConn struct {
	conn    *websocket.Conn
	timeout time.Duration
	// The peer proves it is alive by answering pings, so pings go out every
	// pingEvery even while events keep the stream busy.
	pingEvery time.Duration
	lastPing  time.Time
	// refused counts sends refused by the rate limit in a row.
	refused int
	// batch: the client asked for a batch's events in one "events" frame.
	batch bool
	// deadline is the data frames' write deadline, moved on coarsely:
	// gorilla hands it to the corkConn with every frame, which applies it
	// only when it changed.
	deadline writeDeadline
}

func (w *wsConn) write(f func() error) error {
	now := time.Now()
	if now.Sub(w.lastPing) >= w.pingEvery {
		if err := w.ping(now); err != nil {
			return err
		}
	}
	if at, moved := w.deadline.next(now, w.timeout); moved {
		_ = w.conn.SetWriteDeadline(at)
	}
	if err := f(); err != nil {
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return errSlow
		}
		return errPeerGone
	}
	return nil
}

func (w *wsConn) json(v any) error {
	return w.write(func() error { return w.conn.WriteJSON(v) })
}

// events writes each event as its own frame, the frames of the batch
// gathered into as few writes as corkFlushBytes allows, all within one
// write deadline; or, for a client that asked for batches, the batch's
// events in one "events" frame (a lone event still goes as its shared
// "event" frame).
func (w *wsConn) events(events []*longpoll.Event) error {
	if w.batch && len(events) > 1 {
		return w.write(func() error { return w.eventsFrame(events) })
	}
	return w.write(func() error {
		out := corkOf(w.conn)
		out.cork()
		for _, e := range events {
			pm := e.Memo(longpoll.MemoWebSocket, wsFrame).(*websocket.PreparedMessage)
			if err := w.conn.WritePreparedMessage(pm); err != nil {
				_ = out.uncork()
				return err
			}
		}
		return out.uncork()
	})
}

// eventsFrame writes events as one {"op":"events","events":[...]} frame,
// built in a buffer borrowed for the batch from the events' cached
// envelopes.
func (w *wsConn) eventsFrame(events []*longpoll.Event) error {
	buf := batchBuffers.Get().(*[]byte)
	b := append((*buf)[:0], `{"op":"events","events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendJSON(b)
	}
	b = append(b, "]}"...)
	err := w.conn.WriteMessage(websocket.TextMessage, b)
	if cap(b) <= maxPooledBatch {
		*buf = b[:0]
		batchBuffers.Put(buf)
	}
	return err
}

// wsFrame is an event as one WebSocket frame, encoded once per event and
// shared by every connection.
func wsFrame(e *longpoll.Event) any {
	b := make([]byte, 0, 180)
	b = append(b, `{"op":"event","event":`...)
	b = e.AppendJSON(b)
	b = append(b, '}')
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil {
		panic(err) // only fails for invalid message types
	}
	return pm
}

func (w *wsConn) reset(head longpoll.Cursor) error {
	return w.json(map[string]string{"op": "reset", "cursor": head.String()})
}

func (w *wsConn) ping(now time.Time) error {
	w.lastPing = now
	if err := w.conn.WriteControl(websocket.PingMessage, nil, now.Add(controlWait)); err != nil {
		return errPeerGone
	}
	return nil
}

// heartbeat runs after a silent interval; write pings first when due.
func (w *wsConn) heartbeat() error {
	return w.write(func() error { return w.conn.WriteMessage(websocket.TextMessage, hbFrame) })
}

var hbFrame = []byte(`{"op":"hb"}`)

func (w *wsConn) close(code int, reason string) {
	_ = w.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(controlWait))
}

// ceilMillis rounds d up to whole milliseconds, so that a client retrying
// exactly as told is not refused again.
func ceilMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
