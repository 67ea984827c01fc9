package negotiate

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/longpoll"
)

// A WebSocket client that floods sends gets error frames with the retry
// delay, then is closed with 1008; a well-behaved client on the same server
// keeps receiving promptly throughout.
func TestWebSocketFloodIsRefusedThenClosed(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{SendLimit: longpoll.Limit{Limit: 5, Period: time.Second, Burst: 5}}, Config{FloodClose: 10})
	calm := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	listener := dialWS(t, srv, "/rt/ws", calm.Token, calm.Cursor)
	listener.mustOp(t, "open")

	flooder := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	flooder.mustOp(t, "open")
	acks, refusals := 0, 0
	for i := 0; ; i++ {
		if err := flooder.send(map[string]any{"op": "send", "topic": "room:b", "type": "message", "mid": fmt.Sprintf("m_flood%04d", i), "data": i}); err != nil {
			break // closed under us
		}
		f, err := flooder.next(waitTimeout)
		for err == nil && f.Op == "event" || err == nil && f.Op == "hb" {
			f, err = flooder.next(waitTimeout)
		}
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
				t.Fatalf("flooder ended with %v, want close 1008", err)
			}
			break
		}
		switch {
		case f.Op == "ack":
			acks++
		case f.Op == "error" && f.Code == "rate_limited" && f.Status == 429 && f.RetryAfterMs > 0:
			refusals++
		default:
			t.Fatalf("flooder got %s", f.Raw)
		}
		if i > 100 {
			t.Fatal("a flooding client was never closed")
		}
	}
	if acks != 5 || refusals != 9 {
		t.Fatalf("flooder: %d acks and %d refusals before the close, want 5 (the burst) and 9 (then the 10th closes)", acks, refusals)
	}

	// The calm client still gets events at once.
	began := time.Now()
	e := publish(t, lp, "room:a", "still here")
	for {
		f := listener.mustNext(t)
		if f.Op == "event" && f.Event.ID == e.ID.String() {
			break
		}
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("the calm client got its event after %v", took)
	}
}

// Negotiate is limited per address, and X-Forwarded-For, which any client
// can send, does not buy a fresh bucket.
func TestNegotiateLimitPerAddress(t *testing.T) {
	_, srv := newServerWith(t, longpoll.Config{}, Config{})
	for i := range DefaultNegotiateBurst {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/rt/negotiate", strings.NewReader(`{}`))
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		if status, body := do(t, srv, req); status != http.StatusOK {
			t.Fatalf("negotiate %d within the burst = %d %s", i, status, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/rt/negotiate", strings.NewReader(`{}`))
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.HasPrefix(res.Header.Get("RateLimit"), `"negotiate";r=0`) {
		t.Fatalf("negotiate over the limit = %d, Retry-After %q, RateLimit %q; want 429 with both", res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("RateLimit"))
	}
}

// An SSE client over its idle budget is slowed with retry:, inside a 200,
// so that a native EventSource waits instead of giving up for good.
func TestSSEOpenOverLimitIsSlowedNotRefused(t *testing.T) {
	_, srv := newServerWith(t, longpoll.Config{IdleLimit: longpoll.Limit{Limit: 1, Period: time.Minute, Burst: 1}}, Config{})
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	first := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, first, neg.ClientID, neg.Cursor)
	first.close()
	second := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	m := second.mustNext(t)
	if p := m.problem(t); m.event != "problem" || p.Code != "rate_limited" || m.retry == "" || m.retry == "0" {
		t.Fatalf("SSE open over the limit got %+v, want retry: and a rate_limited problem", m)
	}
	second.mustEnd(t)
}

// A client that blasts frames without waiting for answers fills the
// connection's inbox; closing it for flooding must still end the handler
// and its reader goroutine (goleak checks the goroutine at the end).
func TestWebSocketFloodWithBacklogEnds(t *testing.T) {
	lp, neg, srv := wsServer(t, longpoll.Config{SendLimit: longpoll.Limit{Limit: 1, Period: time.Minute, Burst: 1}}, Config{FloodClose: 3})
	c := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	c.mustOp(t, "open")
	for i := range 200 {
		if c.send(map[string]any{"op": "send", "topic": "room:a", "type": "message", "mid": fmt.Sprintf("m_blast%04d", i), "data": i}) != nil {
			break
		}
	}
	waitFor(t, "the flooding connection's handler to end", func() bool { return lp.Stats().Receivers == 0 })
}
