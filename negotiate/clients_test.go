package negotiate

// Test clients for the streaming transports, shared by every test of this
// package: a spec-following SSE client (sseTestClient) and a WebSocket client
// (wsTestClient). Each runs one reader goroutine that hands messages over an
// unbuffered channel, so a test that stops calling next stops reading (TCP
// then pushes back on the server); close ends the goroutine and the
// connection. Both clients also close themselves in t.Cleanup.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/longpoll"
)

// errNoMessage is what next returns when nothing arrived within its timeout.
var errNoMessage = errors.New("test client: no message within the timeout")

// waitTimeout bounds every wait of a test for something that must happen.
const waitTimeout = 5 * time.Second

// newServerWith is newServer with negotiate settings, and gin middleware
// mounted on the engine before Lifeline. ncfg.LongPoll is set to the new
// Server.
func newServerWith(t *testing.T, lcfg longpoll.Config, ncfg Config, middleware ...gin.HandlerFunc) (*longpoll.Server, *httptest.Server) {
	t.Helper()
	lp := longpoll.New(lcfg)
	r := gin.New()
	r.Use(middleware...)
	ncfg.LongPoll = lp
	New(ncfg).Mount(r.Group("/rt"))
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		lp.Close()
		srv.Close()
	})
	return lp, srv
}

// tokenHeader is the header that proves a session.
func tokenHeader(token string) http.Header {
	return http.Header{longpoll.TokenHeader: {token}}
}

// publish publishes a server-side event or fails the test.
func publish(t testing.TB, lp *longpoll.Server, topic string, data any) *longpoll.Event {
	t.Helper()
	e, err := lp.Publish(context.Background(), topic, longpoll.TypeMessage, data)
	if err != nil {
		t.Fatalf("publish to %s: %v", topic, err)
	}
	return e
}

// waitFor waits, up to waitTimeout, until cond holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, waitTimeout, what, cond)
}

// waitWithin is waitFor with a deadline of its own, for conditions that
// come only after a configured timeout.
func waitWithin(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition, not waiting for behaviour
	}
}

// testEnvelope is the event envelope of PROTOCOL.md §4 as a client decodes
// it.
type testEnvelope struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	TS    int64           `json:"ts"`
	From  string          `json:"from"`
	TTLMs int64           `json:"ttlMs"`
}

// testProblem is a problem document (PROTOCOL.md §2).
type testProblem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// ---------------------------------------------------------------------------
// SSE

// sseMessage is one block of an SSE stream: the fields and comments up to a
// blank line. Unlike EventSource, which dispatches only blocks with data,
// every non-empty block is reported, so that tests see heartbeat comments
// and retry-only blocks too.
type sseMessage struct {
	id        string // the last id field; hasID says whether there was one
	hasID     bool
	event     string // the event field ("" means the default, "message")
	data      string // the data fields joined with "\n", as EventSource does
	hasData   bool
	dataLines int    // how many data fields the block had
	retry     string // the retry field when it was all digits
	comment   string // the comment lines' text (after ":" and one space), joined with "\n"
	other     []string
}

// sseParser parses an SSE stream as the HTML standard's event-stream
// interpretation does: lines end with CRLF, LF or CR; "data" fields are
// joined with LF; one leading space of a value is dropped; an id with a NUL
// is ignored; retry must be all digits.
type sseParser struct {
	line    []byte
	lastCR  bool
	cur     sseMessage
	started bool
	emit    func(sseMessage)
}

// write feeds the parser with the next bytes of the stream.
func (p *sseParser) write(b []byte) {
	for _, c := range b {
		switch {
		case c == '\n' && p.lastCR: // the LF of a CRLF
			p.lastCR = false
		case c == '\r' || c == '\n':
			p.lastCR = c == '\r'
			p.processLine(string(p.line))
			p.line = p.line[:0]
		default:
			p.lastCR = false
			p.line = append(p.line, c)
		}
	}
}

// pending reports whether the parser holds an unfinished line or block.
func (p *sseParser) pending() bool { return len(p.line) > 0 || p.started }

func (p *sseParser) processLine(line string) {
	if line == "" {
		if p.started {
			m := p.cur
			m.data = strings.TrimSuffix(m.data, "\n")
			p.cur, p.started = sseMessage{}, false
			p.emit(m)
		}
		return
	}
	p.started = true
	if strings.HasPrefix(line, ":") {
		text := strings.TrimPrefix(line[1:], " ")
		if p.cur.comment != "" {
			p.cur.comment += "\n"
		}
		p.cur.comment += text
		return
	}
	field, value, found := strings.Cut(line, ":")
	if found {
		value = strings.TrimPrefix(value, " ")
	}
	switch field {
	case "data":
		p.cur.data += value + "\n"
		p.cur.hasData = true
		p.cur.dataLines++
	case "event":
		p.cur.event = value
	case "id":
		if !strings.ContainsRune(value, 0) {
			p.cur.id, p.cur.hasID = value, true
		}
	case "retry":
		if value != "" && strings.Trim(value, "0123456789") == "" {
			p.cur.retry = value
		}
	default:
		p.cur.other = append(p.cur.other, line)
	}
}

// parseSSE parses a complete piece of an event stream into its blocks, and
// reports whether anything was left unfinished.
func parseSSE(b []byte) (msgs []sseMessage, pending bool) {
	p := &sseParser{emit: func(m sseMessage) { msgs = append(msgs, m) }}
	p.write(b)
	return msgs, p.pending()
}

// sseTestClient reads one SSE response.
type sseTestClient struct {
	t      testing.TB
	res    *http.Response
	cancel context.CancelFunc
	msgs   chan sseMessage
	stop   chan struct{}
	done   chan struct{}
	err    error // why the stream ended; read after done is closed
	once   sync.Once
	// probes receives when each `event: probe` was read: kept out of
	// msgs, since every stream sends one ProbeDelay after opening.
	probes chan time.Time
}

// openSSE opens GET url on srv with headers, and fails the test unless the
// answer is a 200 event stream. url is absolute or a path on srv.
func openSSE(t testing.TB, srv *httptest.Server, url string, headers http.Header) *sseTestClient {
	t.Helper()
	return openSSEClient(t, srv.Client(), absURL(srv, url), headers)
}

// openSSEClient is openSSE with an http.Client of the test's own, such as
// one with a cookie jar, as a browser's EventSource has.
func openSSEClient(t testing.TB, hc *http.Client, url string, headers http.Header) *sseTestClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range headers {
		req.Header[k] = v
	}
	res, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		t.Fatalf("GET %s = %d %q %s, want a 200 event stream", url, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	c := &sseTestClient{t: t, res: res, cancel: cancel, msgs: make(chan sseMessage), stop: make(chan struct{}), done: make(chan struct{}), probes: make(chan time.Time, 4)}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *sseTestClient) read() {
	defer close(c.done)
	p := &sseParser{emit: func(m sseMessage) {
		if m.event == "probe" {
			select {
			case c.probes <- time.Now():
			default:
			}
			return
		}
		select {
		case c.msgs <- m:
		case <-c.stop:
		}
	}}
	buf := make([]byte, 4096)
	for {
		n, err := c.res.Body.Read(buf)
		p.write(buf[:n])
		if err != nil {
			c.err = err
			return
		}
	}
}

// next returns the next block of the stream; io.EOF once the server ended
// the stream, errNoMessage when nothing came within timeout.
func (c *sseTestClient) next(timeout time.Duration) (sseMessage, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-c.msgs:
		return m, nil
	case <-c.done:
		return sseMessage{}, c.err
	case <-timer.C:
		return sseMessage{}, errNoMessage
	}
}

// mustNext returns the next block or fails the test.
func (c *sseTestClient) mustNext(t testing.TB) sseMessage {
	t.Helper()
	m, err := c.next(waitTimeout)
	if err != nil {
		t.Fatalf("SSE: want a message, got %v", err)
	}
	return m
}

// mustEnd fails the test unless the server ends the stream next.
func (c *sseTestClient) mustEnd(t testing.TB) {
	t.Helper()
	m, err := c.next(waitTimeout)
	if err == nil {
		t.Fatalf("SSE: want the end of the stream, got %+v", m)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("SSE: want the stream to end cleanly, got %v", err)
	}
}

// header is the response's header.
func (c *sseTestClient) header() http.Header { return c.res.Header }

// close ends the request and waits for the reader. Safe to call twice.
func (c *sseTestClient) close() {
	c.once.Do(func() {
		close(c.stop)
		c.cancel()
		c.res.Body.Close()
		<-c.done
	})
}

// event decodes the block's data as an event envelope, or fails the test.
func (m sseMessage) envelope(t testing.TB) testEnvelope {
	t.Helper()
	var env testEnvelope
	if m.dataLines != 1 {
		t.Fatalf("SSE event %+v has %d data lines, want the envelope on one", m, m.dataLines)
	}
	if err := json.Unmarshal([]byte(m.data), &env); err != nil {
		t.Fatalf("SSE event data %q: %v", m.data, err)
	}
	if m.id != env.ID {
		t.Fatalf("SSE event id %q, envelope id %q: want the same", m.id, env.ID)
	}
	return env
}

// problem decodes the block's data as a problem document, or fails the
// test.
func (m sseMessage) problem(t testing.TB) testProblem {
	t.Helper()
	var p testProblem
	if err := json.Unmarshal([]byte(m.data), &p); err != nil {
		t.Fatalf("SSE problem data %q: %v", m.data, err)
	}
	return p
}

func absURL(srv *httptest.Server, url string) string {
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		return url
	}
	return srv.URL + url
}

// sseURL is the SSE URL negotiate gave res, from cursor.
func sseURL(res Response, cursor string) string {
	u := urlOf(res, SSE)
	if cursor == "" {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "cursor=" + cursor
}

// ---------------------------------------------------------------------------
// WebSocket

// wsTestFrame is a server frame of PROTOCOL.md §5b, decoded.
type wsTestFrame struct {
	Op           string         `json:"op"`
	ClientID     string         `json:"clientId"`
	Cursor       string         `json:"cursor"`
	Event        *testEnvelope  `json:"event"`
	Events       []testEnvelope `json:"events"`
	MID          string         `json:"mid"`
	ID           string         `json:"id"`
	Status       int            `json:"status"`
	Code         string         `json:"code"`
	Detail       string         `json:"detail"`
	RetryAfterMs int64          `json:"retryAfterMs"`
	// Raw is the frame as received; Binary is set for a binary frame.
	Raw    []byte `json:"-"`
	Binary bool   `json:"-"`
}

// wsDialOptions tunes dialWSRaw.
type wsDialOptions struct {
	// Header is sent with the handshake (Origin, for example).
	Header http.Header
	// NoPong makes the client answer no pings, as a dead peer would.
	NoPong bool
}

// wsTestClient is one WebSocket connection.
type wsTestClient struct {
	conn   *websocket.Conn
	frames chan wsTestFrame
	stop   chan struct{}
	done   chan struct{}
	err    error // why reading ended; read after done is closed
	once   sync.Once

	pings    atomic.Int64
	pingSeen chan struct{} // receives (without blocking) on every ping
}

// wsURL is the ws:// URL of path on srv.
func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

// dialWS connects to path on srv and sends the auth frame with token and
// cursor (omitted when empty). The open (or close) frame is for the test to
// read.
func dialWS(t testing.TB, srv *httptest.Server, path, token, cursor string) *wsTestClient {
	t.Helper()
	c, res, err := dialWSRaw(t, srv, path, wsDialOptions{})
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", path, err, res)
	}
	auth := map[string]string{"op": "auth", "token": token}
	if cursor != "" {
		auth["cursor"] = cursor
	}
	if err := c.send(auth); err != nil {
		t.Fatalf("send auth: %v", err)
	}
	return c
}

// dialBatchWS opens a WebSocket that asks for batches, and reads its open
// frame.
func dialBatchWS(t *testing.T, srv *httptest.Server, neg Response) *wsTestClient {
	t.Helper()
	c, res, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	if err := c.send(map[string]any{"op": "auth", "token": neg.Token, "cursor": neg.Cursor, "batch": true}); err != nil {
		t.Fatal(err)
	}
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	return c
}

// dialWSRaw connects without sending anything. On a refused handshake it
// returns the error and the server's response (its body holds at most the
// first KiB).
func dialWSRaw(t testing.TB, srv *httptest.Server, path string, opts wsDialOptions) (*wsTestClient, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	conn, res, err := d.Dial(wsURL(srv, path), opts.Header)
	if err != nil {
		return nil, res, err
	}
	c := &wsTestClient{conn: conn, frames: make(chan wsTestFrame), stop: make(chan struct{}), done: make(chan struct{}), pingSeen: make(chan struct{}, 1)}
	conn.SetPingHandler(func(data string) error {
		c.pings.Add(1)
		select {
		case c.pingSeen <- struct{}{}:
		default:
		}
		if !opts.NoPong {
			_ = conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		}
		return nil
	})
	go c.read()
	t.Cleanup(c.close)
	return c, res, nil
}

func (c *wsTestClient) read() {
	defer close(c.done)
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		f := wsTestFrame{Raw: data, Binary: kind == websocket.BinaryMessage}
		if kind == websocket.TextMessage {
			_ = json.Unmarshal(data, &f) // a test checks Op; Raw keeps the rest
		}
		select {
		case c.frames <- f:
		case <-c.stop:
			return
		}
	}
}

// next returns the next frame; the read error (a *websocket.CloseError for
// a close frame) once the connection ended, errNoMessage when nothing came
// within timeout.
func (c *wsTestClient) next(timeout time.Duration) (wsTestFrame, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.done:
		return wsTestFrame{}, c.err
	case <-timer.C:
		return wsTestFrame{}, errNoMessage
	}
}

// mustNext returns the next frame other than a heartbeat, or fails the
// test.
func (c *wsTestClient) mustNext(t testing.TB) wsTestFrame {
	t.Helper()
	for {
		f, err := c.next(waitTimeout)
		if err != nil {
			t.Fatalf("WebSocket: want a frame, got %v", err)
		}
		if f.Op != "hb" {
			return f
		}
	}
}

// mustOp is mustNext that also checks the frame's op.
func (c *wsTestClient) mustOp(t testing.TB, op string) wsTestFrame {
	t.Helper()
	f := c.mustNext(t)
	if f.Op != op {
		t.Fatalf("WebSocket: want an %q frame, got %s", op, f.Raw)
	}
	return f
}

// mustClose fails the test unless the server closes the connection next
// (heartbeats aside) with code.
func (c *wsTestClient) mustClose(t testing.TB, code int) {
	t.Helper()
	for {
		f, err := c.next(waitTimeout)
		if err == nil {
			if f.Op == "hb" {
				continue
			}
			t.Fatalf("WebSocket: want close %d, got frame %s", code, f.Raw)
		}
		if got := closeCode(err); got != code {
			t.Fatalf("WebSocket: want close %d, got %v", code, err)
		}
		return
	}
}

// send writes v as a JSON text frame.
func (c *wsTestClient) send(v any) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	return c.conn.WriteJSON(v)
}

// sendRaw writes one frame of the given kind (websocket.TextMessage...).
func (c *wsTestClient) sendRaw(kind int, data []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	return c.conn.WriteMessage(kind, data)
}

// pinged waits up to timeout for a ping from the server.
func (c *wsTestClient) pinged(timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.pingSeen:
		return true
	case <-timer.C:
		return false
	}
}

// close drops the connection and waits for the reader. Safe to call twice.
func (c *wsTestClient) close() {
	c.once.Do(func() {
		close(c.stop)
		c.conn.Close()
		<-c.done
	})
}

// closeCode is the close code of a read error: the code of a close frame,
// or -1 when the connection ended without one.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
		return ce.Code
	}
	return -1
}
