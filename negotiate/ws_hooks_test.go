package negotiate

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/internal/testkit/syncbuf"
	"github.com/lifeline-go/lifeline/longpoll"
)

// A hook that panics on a WebSocket send runs on the stream's goroutine,
// which no gin middleware wraps: the stream recovers it, logs it and
// closes with 1011, and the process and its other streams carry on.
func TestWebSocketSendHookPanicClosesWith1011(t *testing.T) {
	var logs syncbuf.Buffer
	lcfg := longpoll.Config{
		DisablePresence: true,
		Logger:          slog.New(slog.NewTextHandler(&logs, nil)),
		OnMessage: func(c *gin.Context, m longpoll.Message) (longpoll.Draft, error) {
			if string(m.Data) == `"boom"` {
				_ = c.MustGet("missing") // panics: no such key
			}
			return m.Draft(), nil
		},
	}
	_, srv := newServerWith(t, lcfg, Config{})
	first := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	second := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	a := dialWS(t, srv, "/rt/ws", first.Token, first.Cursor)
	defer a.close()
	mustOpenFrame(t, a, first.ClientID, first.Cursor)
	b := dialWS(t, srv, "/rt/ws", second.Token, second.Cursor)
	defer b.close()
	mustOpenFrame(t, b, second.ClientID, second.Cursor)

	a.send(map[string]any{"op": "send", "topic": "room:a", "type": "message", "data": "boom", "mid": "m_panic001"})
	a.mustClose(t, websocket.CloseInternalServerErr)
	if !strings.Contains(logs.String(), "panic handling a WebSocket send") {
		t.Errorf("the panic was not logged: %s", logs.String())
	}

	b.send(map[string]any{"op": "send", "topic": "room:a", "type": "message", "data": "fine", "mid": "m_after001"})
	if ack := b.mustOp(t, "ack"); ack.MID != "m_after001" {
		t.Fatalf("ack = %s", ack.Raw)
	}
}

// Close waits for the WebSocket streams, and ends the context of a hook
// that waits on its request's context: a hook blocked so cannot hold Close
// up, and the send it gave up on is not refused.
func TestCloseEndsTheContextOfAWebSocketSendHook(t *testing.T) {
	inHook := make(chan struct{})
	hookErr := make(chan error, 1)
	lcfg := longpoll.Config{
		DisablePresence: true,
		OnMessage: func(c *gin.Context, m longpoll.Message) (longpoll.Draft, error) {
			close(inHook)
			<-c.Request.Context().Done() // e.g. a database call under the request's context
			hookErr <- c.Request.Context().Err()
			return longpoll.Draft{}, c.Request.Context().Err()
		},
	}
	lp, srv := newServerWith(t, lcfg, Config{})
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	defer c.close()
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	c.send(map[string]any{"op": "send", "topic": "room:a", "type": "message", "data": 1, "mid": "m_block001"})
	select {
	case <-inHook:
	case <-time.After(waitTimeout):
		t.Fatal("the hook did not run")
	}

	closed := make(chan struct{})
	go func() {
		lp.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return while a hook waited on its request's context")
	}
	if err := <-hookErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the hook's context ended with %v, want context.Canceled", err)
	}
	// The hook gave up on its context, which is no refusal: no error frame
	// for the send (it stays unacknowledged, and the client sends it again
	// after it reconnects), and the stream closes with 1001.
	c.mustClose(t, websocket.CloseGoingAway)
	if lp.Stats().Receivers != 0 {
		t.Fatalf("%d receivers still attached after Close", lp.Stats().Receivers)
	}
}
