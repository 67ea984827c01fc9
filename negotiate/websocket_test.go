package negotiate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/longpoll"
)

// wsServer is a server without presence and a session following room:a.
func wsServer(t *testing.T, lcfg longpoll.Config, ncfg Config) (*longpoll.Server, Response, *httptest.Server) {
	t.Helper()
	lcfg.DisablePresence = true
	lp, srv := newServerWith(t, lcfg, ncfg)
	return lp, negotiateOK(t, srv, `{"topics":["room:a"]}`), srv
}

// mustOpenFrame reads the open frame and checks it.
func mustOpenFrame(t *testing.T, c *wsTestClient, clientID, cursor string) {
	t.Helper()
	f := c.mustOp(t, "open")
	if f.ClientID != clientID || f.Cursor != cursor {
		t.Fatalf("open frame = %s, want clientId %s and cursor %s", f.Raw, clientID, cursor)
	}
}

// mustEventFrame reads the next frame and checks it is e.
func mustEventFrame(t *testing.T, c *wsTestClient, e *longpoll.Event) testEnvelope {
	t.Helper()
	f := c.mustOp(t, "event")
	if f.Event == nil || f.Event.ID != e.ID.String() || f.Event.Topic != e.Topic || f.Event.Type != e.Type {
		t.Fatalf("event frame = %s, want event %s on %s", f.Raw, e.ID, e.Topic)
	}
	return *f.Event
}

func TestWebSocketOpenAndDelivery(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	c := dialWS(t, srv, urlOf(neg, WebSocket), neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	for _, data := range []any{map[string]string{"text": "hi é ✓"}, 7, nil} {
		e := publish(t, lp, "room:a", data)
		env := mustEventFrame(t, c, e)
		want, _ := json.Marshal(data)
		if string(env.Data) != string(want) || env.TS == 0 {
			t.Fatalf("event = %+v, want data %s", env, want)
		}
	}
}

func TestWebSocketResume(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	e1 := publish(t, lp, "room:a", 1)
	e2 := publish(t, lp, "room:a", 2)
	e3 := publish(t, lp, "room:a", 3)

	t.Run("auth cursor", func(t *testing.T) {
		c := dialWS(t, srv, "/rt/ws", neg.Token, e1.ID.String())
		mustOpenFrame(t, c, neg.ClientID, e1.ID.String())
		mustEventFrame(t, c, e2)
		mustEventFrame(t, c, e3)
		c.close()
	})
	t.Run("query cursor", func(t *testing.T) {
		c := dialWS(t, srv, "/rt/ws?cursor="+e2.ID.String(), neg.Token, "")
		mustOpenFrame(t, c, neg.ClientID, e2.ID.String())
		mustEventFrame(t, c, e3)
		c.close()
	})
	t.Run("auth cursor overrides the query", func(t *testing.T) {
		c := dialWS(t, srv, "/rt/ws?cursor="+e1.ID.String(), neg.Token, e3.ID.String())
		mustOpenFrame(t, c, neg.ClientID, e3.ID.String())
		// Nothing up to e3 is repeated: the next event is a new one.
		e4 := publish(t, lp, "room:a", 4)
		mustEventFrame(t, c, e4)
		c.close()
	})
}

func TestWebSocketResetOnAnotherEpoch(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	publish(t, lp, "room:a", "before")
	stale := "zzzzzzzzzzzz.7"
	c := dialWS(t, srv, "/rt/ws", neg.Token, stale)
	mustOpenFrame(t, c, neg.ClientID, stale)
	head, _ := lp.Buffer().Head(t.Context())
	if f := c.mustOp(t, "reset"); f.Cursor != head.String() {
		t.Fatalf("reset frame = %s, want cursor %s", f.Raw, head)
	}
	e := publish(t, lp, "room:a", "after")
	mustEventFrame(t, c, e)
}

func TestWebSocketAuthRefusals(t *testing.T) {
	_, neg, srv := wsServer(t, longpoll.Config{}, Config{AuthTimeout: 50 * time.Millisecond})

	t.Run("unknown token", func(t *testing.T) {
		dialWS(t, srv, "/rt/ws", "t_nope", neg.Cursor).mustClose(t, CloseUnknownToken)
	})
	t.Run("empty token", func(t *testing.T) {
		dialWS(t, srv, "/rt/ws", "", neg.Cursor).mustClose(t, CloseUnknownToken)
	})
	t.Run("no auth frame in time", func(t *testing.T) {
		c, _, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.mustClose(t, CloseAuthTimeout)
		if elapsed := time.Since(start); elapsed < 40*time.Millisecond {
			t.Fatalf("closed after %v, before the 50ms AuthTimeout", elapsed)
		}
	})
	t.Run("first frame not auth", func(t *testing.T) {
		c, _, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.send(map[string]any{"op": "send", "topic": "room:a", "type": "message", "mid": "m_00000001"})
		c.mustClose(t, CloseAuthTimeout)
	})
	t.Run("first frame not JSON", func(t *testing.T) {
		c, _, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.sendRaw(websocket.TextMessage, []byte(`{"op":"auth","token":`))
		c.mustClose(t, CloseAuthTimeout)
	})
	t.Run("bad cursor", func(t *testing.T) {
		dialWS(t, srv, "/rt/ws", neg.Token, "not a cursor").mustClose(t, CloseBadCursor)
	})
	t.Run("bad query cursor", func(t *testing.T) {
		dialWS(t, srv, "/rt/ws?cursor=nope", neg.Token, "").mustClose(t, CloseBadCursor)
	})
	t.Run("no cursor", func(t *testing.T) {
		dialWS(t, srv, "/rt/ws", neg.Token, "").mustClose(t, CloseBadCursor)
	})
}

func TestWebSocketOrigin(t *testing.T) {
	_, neg, srv := wsServer(t, longpoll.Config{}, Config{AllowedOrigins: []string{"https://app.example/"}})
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{srv.URL, true},
		{"https://app.example", true},
		{"HTTPS://APP.EXAMPLE", true},
		{"http://evil.example", false},
		{"https://app.example.evil.example", false},
		{"null", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		c, res, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{Header: h})
		if tt.ok {
			if err != nil {
				t.Errorf("Origin %q refused: %v", tt.origin, err)
				continue
			}
			c.send(map[string]string{"op": "auth", "token": neg.Token, "cursor": neg.Cursor})
			mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
			c.close()
			continue
		}
		if err == nil {
			c.close()
			t.Errorf("Origin %q accepted, want 403 before the upgrade", tt.origin)
			continue
		}
		if res == nil {
			t.Errorf("Origin %q: %v without a response, want 403", tt.origin, err)
			continue
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusForbidden || !isProblem(res.Header, body, "forbidden_origin") {
			t.Errorf("Origin %q: %d %s %s, want a 403 problem", tt.origin, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	}
}

func TestWebSocketFrameTooLarge(t *testing.T) {
	const max = 1024
	_, neg, srv := wsServer(t, longpoll.Config{MaxMessageBytes: max}, Config{})
	open := func(t *testing.T) *wsTestClient {
		c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
		mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
		return c
	}
	sendFrame := func(size int) []byte {
		head := `{"op":"send","topic":"room:a","type":"message","mid":"m_big00001","data":"`
		return []byte(head + strings.Repeat("x", size-len(head)-2) + `"}`)
	}
	t.Run("far over", func(t *testing.T) {
		c := open(t)
		if err := c.sendRaw(websocket.TextMessage, sendFrame(4*max)); err != nil {
			t.Fatal(err)
		}
		c.mustClose(t, websocket.CloseMessageTooBig)
	})
	// PROTOCOL.md §5b: "Frames larger than maxMessageBytes close the
	// connection with 1009", maxMessageBytes as negotiate advertises it.
	t.Run("just over maxMessageBytes", func(t *testing.T) {
		if neg.MaxMessageBytes != max {
			t.Fatalf("negotiate advertised maxMessageBytes %d, want %d", neg.MaxMessageBytes, max)
		}
		c := open(t)
		if err := c.sendRaw(websocket.TextMessage, sendFrame(max+1)); err != nil {
			t.Fatal(err)
		}
		c.mustClose(t, websocket.CloseMessageTooBig)
	})
}

func TestWebSocketSends(t *testing.T) {
	lcfg := longpoll.Config{Authorize: func(_ *gin.Context, _, topic string, action longpoll.Action) error {
		if topic == "admin" {
			return errors.New("admins only")
		}
		return nil
	}}
	lp, neg, srv := wsServer(t, lcfg, Config{})
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)

	msg := map[string]any{"op": "send", "topic": "room:a", "type": "message", "data": map[string]string{"text": "hi"}, "mid": "m_ws000001"}
	c.send(msg)
	ack := c.mustOp(t, "ack")
	if ack.MID != "m_ws000001" || ack.ID == "" {
		t.Fatalf("ack = %s, want mid m_ws000001 and an id", ack.Raw)
	}
	ev := c.mustOp(t, "event")
	if ev.Event.ID != ack.ID || ev.Event.From != neg.ClientID || string(ev.Event.Data) != `{"text":"hi"}` {
		t.Fatalf("published event = %s, want id %s from %s", ev.Raw, ack.ID, neg.ClientID)
	}

	// A retry with the same mid gets the same ack and publishes nothing.
	c.send(msg)
	if again := c.mustOp(t, "ack"); again.MID != ack.MID || again.ID != ack.ID {
		t.Fatalf("retried ack = %s, want %s", again.Raw, ack.Raw)
	}
	sentinel := publish(t, lp, "room:a", "sentinel")
	mustEventFrame(t, c, sentinel) // not a second copy of the message

	refusals := []struct {
		frame  map[string]any
		mid    string
		status int
		code   string
	}{
		{map[string]any{"op": "send", "topic": "admin", "type": "message", "mid": "m_ws000002"}, "m_ws000002", 403, "forbidden_topic"},
		{map[string]any{"op": "frobnicate", "mid": "m_ws000003"}, "m_ws000003", 400, "bad_frame"},
		{map[string]any{"op": "auth", "token": neg.Token}, "", 400, "bad_frame"},
		{map[string]any{"op": "send", "topic": "room:a", "mid": "m_ws000004"}, "m_ws000004", 400, "bad_message"},
		{map[string]any{"op": "send", "topic": "no spaces", "type": "message", "mid": "m_ws000005"}, "m_ws000005", 400, "bad_topic"},
	}
	for _, r := range refusals {
		c.send(r.frame)
		f := c.mustOp(t, "error")
		if f.MID != r.mid || f.Status != r.status || f.Code != r.code {
			t.Errorf("frame %v: error %s, want mid %q status %d code %s", r.frame, f.Raw, r.mid, r.status, r.code)
		}
	}
	// A frame that is not JSON is refused in-band too.
	c.sendRaw(websocket.TextMessage, []byte("not json"))
	if f := c.mustOp(t, "error"); f.Code != "bad_frame" {
		t.Errorf("non-JSON frame: %s, want bad_frame", f.Raw)
	}
	// The connection is still good.
	msg["mid"] = "m_ws000009"
	c.send(msg)
	if f := c.mustOp(t, "ack"); f.MID != "m_ws000009" {
		t.Fatalf("ack after refusals = %s", f.Raw)
	}
}

func TestWebSocketHeartbeat(t *testing.T) {
	_, neg, srv := wsServer(t, longpoll.Config{}, Config{Heartbeat: 20 * time.Millisecond})
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	for i := 0; i < 3; i++ {
		f, err := c.next(waitTimeout)
		if err != nil || f.Op != "hb" || string(f.Raw) != `{"op":"hb"}` {
			t.Fatalf("frame %d = %s %v, want {\"op\":\"hb\"}", i, f.Raw, err)
		}
	}
	if !c.pinged(waitTimeout) {
		t.Fatal("no ping control frame")
	}
}

func TestWebSocketPongTimeout(t *testing.T) {
	const pongTimeout = 100 * time.Millisecond
	_, neg, srv := wsServer(t, longpoll.Config{}, Config{Heartbeat: 20 * time.Millisecond, PongTimeout: pongTimeout})

	t.Run("silent peer dropped", func(t *testing.T) {
		c, _, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{NoPong: true})
		if err != nil {
			t.Fatal(err)
		}
		c.send(map[string]string{"op": "auth", "token": neg.Token, "cursor": neg.Cursor})
		start := time.Now()
		mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
		for {
			f, err := c.next(waitTimeout)
			if err == nil {
				if f.Op != "hb" {
					t.Fatalf("unexpected frame %s", f.Raw)
				}
				continue
			}
			if errors.Is(err, errNoMessage) {
				t.Fatal("a peer answering no pings was not dropped")
			}
			if elapsed := time.Since(start); elapsed < pongTimeout*8/10 {
				t.Fatalf("dropped after %v, before PongTimeout %v", elapsed, pongTimeout)
			}
			if c.pings.Load() == 0 {
				t.Fatal("dropped without having been pinged")
			}
			return
		}
	})
	t.Run("answering peer kept", func(t *testing.T) {
		c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
		start := time.Now()
		mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
		for time.Since(start) < 4*pongTimeout {
			if f, err := c.next(waitTimeout); err != nil || f.Op != "hb" {
				t.Fatalf("after %v: %s %v, want heartbeats on a live connection", time.Since(start), f.Raw, err)
			}
		}
	})
}

// A peer that reads everything and answers every ping, on a topic busier
// than the heartbeat, is alive: it must not be dropped for not answering
// pings that were never sent (PROTOCOL.md §5b: "The server pings every
// 25 s").
func TestWebSocketBusyStreamKeepsHealthyPeer(t *testing.T) {
	const pongTimeout = 150 * time.Millisecond
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{Heartbeat: 50 * time.Millisecond, PongTimeout: pongTimeout})
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // an event every 10 ms, more often than the heartbeat
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := lp.Publish(context.Background(), "room:a", "message", i); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	start := time.Now()
	for time.Since(start) < 5*pongTimeout {
		if _, err := c.next(waitTimeout); err != nil {
			t.Fatalf("a reading, pong-answering peer was dropped after %v (pings seen: %d): %v", time.Since(start), c.pings.Load(), err)
		}
	}
}

func TestWebSocketSlowConsumer(t *testing.T) {
	const (
		total = 300
		// A publisher that waited for the stalled client would wait out
		// this whole timeout; one that does not finishes far sooner. The
		// 300 publishes take ~0.8 s under the race detector on an idle
		// 2-core machine and were seen past 3 s on a loaded one.
		writeTimeout = 8 * time.Second
	)
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{WriteTimeout: writeTimeout})
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	waitFor(t, "the stream to attach", func() bool { return lp.Stats().Receivers == 1 })

	// The client stops reading; the server publishes ~18 MiB.
	pad := strings.Repeat("p", 60<<10)
	ids := make([]string, total)
	began := time.Now()
	for i := range ids {
		data := json.RawMessage(`{"n":` + strconv.Itoa(i) + `,"pad":"` + pad + `"}`)
		e, err := lp.PublishDraft(context.Background(), longpoll.Draft{Topic: "room:a", Type: "message", Data: data})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = e.ID.String()
	}
	published := time.Since(began)
	t.Logf("%d publishes took %v", total, published)
	if published >= writeTimeout {
		t.Errorf("publishing took %v, the stalled client's whole write timeout: publishers waited for it", published)
	}
	// It is dropped when a write has waited out the write timeout.
	waitWithin(t, writeTimeout+waitTimeout, "the slow consumer to be dropped", func() bool { return lp.Stats().Receivers == 0 })

	// The client reads what reached it, then the connection's end.
	next, last := 0, neg.Cursor
	// drain reads events in order until the connection ends.
	drain := func(c *wsTestClient) error {
		for {
			f, err := c.next(waitTimeout)
			if err != nil {
				return err
			}
			if f.Op != "event" || f.Event == nil || next >= total || f.Event.ID != ids[next] {
				want := "nothing more"
				if next < total {
					want = "event " + ids[next]
				}
				t.Fatalf("frame %d = %.80s, want %s", next, f.Raw, want)
			}
			last = f.Event.ID
			next++
			if next == total {
				return nil
			}
		}
	}
	end := drain(c)
	if errors.Is(end, errNoMessage) {
		t.Fatal("the slow consumer's connection was not closed")
	}
	t.Logf("slow consumer got %d of %d events, then %v (close code %d)", next, total, end, closeCode(end))
	if next == total {
		t.Fatal("every event reached the client: the socket buffers never filled, nothing was tested")
	}
	c.close()

	// Reconnecting from the last processed cursor delivers the rest,
	// exactly once and in order. The test's reader is slow under the race
	// detector and may be cut off again as a slow consumer; it then
	// reconnects again, as a client does.
	for attempt := 1; next < total; attempt++ {
		if attempt > 10 {
			t.Fatalf("still %d events missing after 10 reconnects", total-next)
		}
		c2 := dialWS(t, srv, "/rt/ws", neg.Token, last)
		mustOpenFrame(t, c2, neg.ClientID, last)
		if err := drain(c2); err != nil {
			if errors.Is(err, errNoMessage) {
				t.Fatalf("reconnect %d: stalled at event %d of %d", attempt, next, total)
			}
			t.Logf("reconnect %d ended at event %d: %v", attempt, next, err)
			c2.close()
			continue
		}
		sentinel := publish(t, lp, "room:a", "sentinel")
		mustEventFrame(t, c2, sentinel)
	}
}

func TestWebSocketSuperseded(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	first := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, first, neg.ClientID, neg.Cursor)
	second := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, second, neg.ClientID, neg.Cursor)
	first.mustClose(t, CloseSuperseded)
	e := publish(t, lp, "room:a", "to the second")
	mustEventFrame(t, second, e)

	// An SSE stream of the same session supersedes the WebSocket too.
	sse := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, sse, neg.ClientID, neg.Cursor)
	second.mustClose(t, CloseSuperseded)
}

func TestWebSocketShutdown(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	lp.Close()
	// Close waited for the stream's goroutine, which detached on its way
	// out.
	if n := lp.Stats().Receivers; n != 0 {
		t.Errorf("Close returned with %d receivers still attached", n)
	}
	c.mustClose(t, websocket.CloseGoingAway)
}

// An ended session (DELETE {base}/session elsewhere, expiry, EndSessions)
// is "4001 unknown_token: no such session, or it expired" — negotiate
// again — not "4005 superseded", after which a client does nothing.
func TestWebSocketSessionEnded(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	lp.EndSessions()
	c.mustClose(t, CloseUnknownToken)
}

// Client data goes out verbatim in WebSocket text frames, which must be
// UTF-8 (RFC 6455 §8.1): a browser fails the connection (1007) on any other
// frame, and every reconnect from a cursor before that event receives it
// again. Invalid UTF-8 must be refused (or repaired) when it is sent.
func TestWebSocketTextFramesAreUTF8(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	sender := negotiateOK(t, srv, `{}`)

	status, body := post(t, srv, "/rt/send", sender.Token, "{\"topic\":\"room:a\",\"type\":\"message\",\"mid\":\"m_utf8_0001\",\"data\":\"bad \xff\xfe bytes\"}")
	switch status {
	case http.StatusOK:
		f := c.mustOp(t, "event")
		if !utf8.Valid(f.Raw) {
			t.Errorf("a send with invalid UTF-8 was published (%s) and framed as a text frame that is not UTF-8: %q", body, f.Raw)
		}
	case http.StatusBadRequest:
	default:
		t.Fatalf("send with invalid UTF-8 = %d %s, want 400 (or a repaired event)", status, body)
	}
	e := publish(t, lp, "room:a", "sentinel")
	mustEventFrame(t, c, e)
}

// PROTOCOL.md §5b: every frame is JSON text; a binary frame, before or
// after auth, is answered with close 1003 instead of being ignored.
func TestWebSocketBinaryFrameCloses1003(t *testing.T) {
	_, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	t.Run("after auth", func(t *testing.T) {
		c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
		mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
		if err := c.sendRaw(websocket.BinaryMessage, []byte(`{"op":"send"}`)); err != nil {
			t.Fatal(err)
		}
		c.mustClose(t, websocket.CloseUnsupportedData)
	})
	t.Run("instead of auth", func(t *testing.T) {
		c, _, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.sendRaw(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		c.mustClose(t, websocket.CloseUnsupportedData)
	})
}

// RFC 6455 §4.1: an upgrade over HTTP/1.0 is refused, not answered 101.
func TestWebSocketRefusesHTTP10(t *testing.T) {
	_, _, srv := wsServer(t, longpoll.Config{}, Config{})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	fmt.Fprintf(conn, "GET /rt/ws HTTP/1.0\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", srv.Listener.Addr())
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"bad_upgrade"`) {
		t.Fatalf("HTTP/1.0 upgrade = %d %s, want 400 bad_upgrade", res.StatusCode, body)
	}
}

// A client that asks for batches ("batch": true in auth) gets the events a
// stream reads together in one "events" frame, in order, and a lone event
// as its "event" frame; one that does not gets an "event" frame each.
func TestWebSocketBatchedEvents(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{}, Config{})
	var ids []string
	for i := range 5 {
		ids = append(ids, publish(t, lp, "room:a", i).ID.String())
	}

	c := dialBatchWS(t, srv, neg)
	f := c.mustOp(t, "events")
	var got []string
	for i, e := range f.Events {
		if e.Topic != "room:a" || string(e.Data) != strconv.Itoa(i) {
			t.Fatalf("events frame = %s: event %d is %+v", f.Raw, i, e)
		}
		got = append(got, e.ID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("events frame carries %v, want %v", got, ids)
	}
	e := publish(t, lp, "room:a", 5)
	mustEventFrame(t, c, e) // one event: its shared "event" frame

	plain := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor) // supersedes c
	mustOpenFrame(t, plain, neg.ClientID, neg.Cursor)
	for _, id := range append(ids, e.ID.String()) {
		if f := plain.mustOp(t, "event"); f.Event == nil || f.Event.ID != id {
			t.Fatalf("frame = %s, want the event frame of %s", f.Raw, id)
		}
	}
}
