package negotiate

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// wsCtxKey is the key of a value the app's middleware puts in the upgrade
// request's context.
type wsCtxKey struct{}

// onUpgrade is middleware that runs f for WebSocket upgrade requests only.
func onUpgrade(f gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if strings.HasSuffix(c.Request.URL.Path, routeWebSocket) {
			f(c)
		}
	}
}

// A seenSend is what Authorize or OnMessage saw of a WebSocket send's
// *gin.Context, read while the hook ran.
type seenSend struct {
	hook     string
	user     string
	value    any
	header   string
	query    string
	clientIP string
	ctx      context.Context
	ctxErr   error
	writeErr error
}

func seeSend(hook string, c *gin.Context) seenSend {
	ctx := c.Request.Context()
	c.Writer.Header().Set("X-Hook", hook) // must not panic
	_, werr := c.Writer.Write([]byte("nothing can be written"))
	return seenSend{
		hook: hook, user: c.GetString("user"), value: ctx.Value(wsCtxKey{}),
		header: c.GetHeader("X-App"), query: c.Query("app"), clientIP: c.ClientIP(),
		ctx: ctx, ctxErr: ctx.Err(), writeErr: werr,
	}
}

// A WebSocket stream outlives its upgrade request on a goroutine of its
// own; its sends reach Authorize and OnMessage with a copy of the upgrade
// request's *gin.Context: the Keys the app's middleware set, the request's
// header, query and context values, and a context that is live while the
// stream runs, although the request's own was canceled when its handler
// returned, and canceled when the stream ends.
func TestWebSocketSendSeesUpgradeRequestContext(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []seenSend
	)
	record := func(s seenSend) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	lcfg := longpoll.Config{
		Authorize: func(c *gin.Context, _, _ string, action longpoll.Action) error {
			if action == longpoll.Publish {
				record(seeSend("Authorize", c))
			}
			return nil
		},
		OnMessage: func(c *gin.Context, m longpoll.Message) (longpoll.Draft, error) {
			record(seeSend("OnMessage", c))
			return m.Draft(), nil
		},
	}
	upgradeDone := make(chan context.Context, 1)
	lcfg.DisablePresence = true
	_, srv := newServerWith(t, lcfg, Config{}, onUpgrade(func(c *gin.Context) {
		c.Set("user", "ada")
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), wsCtxKey{}, "traced"))
		c.Next()
		upgradeDone <- c.Request.Context()
	}))
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)

	c, res, err := dialWSRaw(t, srv, "/rt/ws?app=probe", wsDialOptions{Header: http.Header{"X-App": {"yes"}}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	if err := c.send(map[string]string{"op": "auth", "token": neg.Token, "cursor": neg.Cursor}); err != nil {
		t.Fatal(err)
	}
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	// The upgrade request's handler has returned, and net/http canceled its
	// context.
	select {
	case reqCtx := <-upgradeDone:
		select {
		case <-reqCtx.Done():
		case <-time.After(waitTimeout):
			t.Fatal("the upgrade request's context was not canceled after its handler returned")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the upgrade request's handler did not return while its stream runs")
	}

	c.send(map[string]any{"op": "send", "topic": "room:a", "type": "message", "data": 1, "mid": "m_ctx00001"})
	if ack := c.mustOp(t, "ack"); ack.MID != "m_ctx00001" {
		t.Fatalf("ack = %s", ack.Raw)
	}
	mu.Lock()
	got := slicesClone(seen)
	mu.Unlock()
	if len(got) != 2 || got[0].hook != "Authorize" || got[1].hook != "OnMessage" {
		t.Fatalf("hooks ran: %+v, want Authorize then OnMessage", got)
	}
	for _, s := range got {
		if s.user != "ada" || s.value != "traced" || s.header != "yes" || s.query != "probe" || s.clientIP != "127.0.0.1" {
			t.Errorf("%s saw user %q, context value %v, X-App %q, query app %q, client IP %q; want ada, traced, yes, probe, 127.0.0.1",
				s.hook, s.user, s.value, s.header, s.query, s.clientIP)
		}
		if s.ctxErr != nil {
			t.Errorf("%s ran with a canceled request context: %v", s.hook, s.ctxErr)
		}
		if !errors.Is(s.writeErr, http.ErrHijacked) {
			t.Errorf("%s: writing to c.Writer = %v, want http.ErrHijacked", s.hook, s.writeErr)
		}
	}
	if got[0].ctx != got[1].ctx {
		t.Error("Authorize and OnMessage of one send saw different request contexts")
	}

	// The stream ends when the client goes away, and with it the context.
	c.close()
	select {
	case <-got[0].ctx.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the send's request context was not canceled when the stream ended")
	}
}

func slicesClone(s []seenSend) []seenSend { return append([]seenSend(nil), s...) }

// Once upgraded, a WebSocket keeps nothing of its upgrade request: its
// *http.Request is collected while the stream runs on, and so are
// net/http's response and connection, which refer to it (a finalizer on
// either would never run: they refer to each other).
func TestWebSocketUpgradeRequestCollected(t *testing.T) {
	reqGone := make(chan struct{})
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true}, Config{}, onUpgrade(func(c *gin.Context) {
		runtime.AddCleanup(c.Request, func(gone chan struct{}) { close(gone) }, reqGone)
	}))
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)

	deadline := time.Now().Add(waitTimeout)
	for collected := false; !collected; {
		runtime.GC() // gin's pool of Contexts empties over two
		select {
		case <-reqGone:
			collected = true
		case <-time.After(20 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("after %v the stream still keeps its upgrade request", waitTimeout)
			}
		}
	}
	e := publish(t, lp, "room:a", "still streaming")
	mustEventFrame(t, c, e)
}
