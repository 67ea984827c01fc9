package attack

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// Held connections: one address opens far more polls and unauthenticated
// WebSockets than any client needs. It holds at most MaxHeldPerAddress;
// the rest are refused at once (429 too_many_connections, or an error frame
// and close 1008), and a client elsewhere is served throughout.
func TestAttackHeldConnections(t *testing.T) {
	const (
		maxHeld  = 16
		sessions = 24
		sockets  = 40
	)
	tg := startTarget(t, longpoll.MemoryConfig{}, longpoll.Config{DisablePresence: true, IdleLimit: longpoll.Limit{Off: true}},
		negotiate.Config{MaxHeldPerAddress: maxHeld, AuthTimeout: 3 * time.Second})
	hc := attackerClient(t, tg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Polls: one per session, each held up to 25 s.
	polls := make(chan int, sessions)
	var attackers sync.WaitGroup
	for range sessions {
		s := mustNegotiate(t, hc, tg, "room:a")
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			status, _, _ := call(ctx, hc, http.MethodGet, tg.url+"/rt/poll?cursor="+s.Cursor, s.Token, nil)
			polls <- status
		}()
	}
	// Unauthenticated WebSockets, each waiting out AuthTimeout if let in.
	wsDialer := websocket.Dialer{NetDialContext: attackerDialer(t, tg).DialContext, HandshakeTimeout: 5 * time.Second}
	refused := 0
	for range sockets {
		conn, _, err := wsDialer.Dial("ws"+strings.TrimPrefix(tg.url, "http")+"/rt/ws", nil)
		if err != nil {
			t.Fatalf("attacker WebSocket dial: %v", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		var frame struct{ Op, Code string }
		if conn.ReadJSON(&frame) == nil && frame.Code == "too_many_connections" {
			refused++
		}
		defer conn.Close()
	}

	// The refused polls come back at once; the held ones stay held.
	eventually(t, 10*time.Second, "the polls over the cap to be refused", func() bool {
		return len(polls) >= sessions-maxHeld
	})
	held := tg.lp.Stats().Receivers
	t.Logf("attacker: %d polls held, %d refused; %d of %d WebSockets refused", held, len(polls), refused, sockets)
	if held > maxHeld {
		t.Fatalf("%d polls held for one address, over the cap of %d", held, maxHeld)
	}
	if refused < sockets-(maxHeld-held) {
		t.Fatalf("%d WebSockets refused with %d polls held: the cap of %d was not applied to WebSockets", refused, held, maxHeld)
	}
	for i := 0; i < sessions-maxHeld; i++ {
		if status := <-polls; status != http.StatusTooManyRequests {
			t.Fatalf("a poll over the cap = %d, want 429", status)
		}
	}
	for i := range 3 {
		wellBehaved(t, tg, "room:good", i)
	}
	cancel()
	attackers.Wait()
}
