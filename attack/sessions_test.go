package attack

import (
	"context"
	"net/http"
	"testing"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// TestAttackSessionFlood: one address opens sessions as fast as the
// negotiate limit lets it. It gets its per-address budget and then 503
// with Retry-After; the session table never fills, and a well-behaved
// client on another address negotiates, sends and polls as usual.
// (Before the per-address budget, 100 000 sessions from 3 334 addresses
// locked everyone out with 503 too_many_sessions for about 70 s.)
func TestAttackSessionFlood(t *testing.T) {
	const (
		maxSessions = 60 // the table: small, so that a flood would fill it
		perAddr     = 20
	)
	tg := startTarget(t, longpoll.MemoryConfig{},
		longpoll.Config{MaxSessions: maxSessions, MaxSessionsPerAddr: perAddr, DisablePresence: true},
		negotiate.Config{DisableNegotiateLimit: true}) // the budget, not the rate, is under test
	hc := attackerClient(t, tg)
	opened, refused := 0, 0
	for range 3 * maxSessions {
		status, data, err := call(context.Background(), hc, http.MethodPost, tg.url+"/rt/negotiate", "", map[string]any{"topics": []string{"room:flood"}})
		switch {
		case err != nil:
			t.Fatal(err)
		case status == http.StatusOK:
			opened++
		case status == http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("attacker's negotiate = %d %s", status, data)
		}
	}
	if opened != perAddr || refused != 3*maxSessions-perAddr {
		t.Fatalf("attacker opened %d sessions and was refused %d times, want %d and %d", opened, refused, perAddr, 3*maxSessions-perAddr)
	}
	for i := range 5 {
		if took := wellBehaved(t, tg, "room:calm", i); took > normalLatency {
			t.Fatalf("well-behaved client took %v", took)
		}
	}
}
