package negotiate

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// names lists the transports of a negotiate response, in order.
func names(res Response) []string {
	out := make([]string, len(res.Transports))
	for i, t := range res.Transports {
		out[i] = t.Name
	}
	return out
}

func TestNegotiateTransportOrder(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		body string
		want []string
	}{
		{"default", Config{}, `{}`, []string{WebSocket, SSE, LongPoll}},
		{"empty body", Config{}, ``, []string{WebSocket, SSE, LongPoll}},
		{"sse and longpoll", Config{}, `{"transports":["sse","longpoll"]}`, []string{SSE, LongPoll}},
		{"client order is not the server's", Config{}, `{"transports":["longpoll","sse","websocket"]}`, []string{WebSocket, SSE, LongPoll}},
		{"long-poll always offered", Config{}, `{"transports":["websocket"]}`, []string{WebSocket, LongPoll}},
		{"unknown transports only", Config{}, `{"transports":["carrier-pigeon"]}`, []string{LongPoll}},
		{"websocket failed", Config{}, `{"failed":[{"transport":"websocket","reason":"no_upgrade"}]}`, []string{SSE, LongPoll, WebSocket}},
		{"both streams failed", Config{}, `{"failed":[{"transport":"sse","reason":"no_first_byte"},{"transport":"websocket","reason":"open_timeout"}]}`, []string{LongPoll, WebSocket, SSE}},
		{"failed but unsupported", Config{}, `{"transports":["sse","longpoll"],"failed":[{"transport":"websocket","reason":"no_upgrade"}]}`, []string{SSE, LongPoll}},
		{"WebSocket disabled", Config{DisableWebSocket: true}, `{}`, []string{SSE, LongPoll}},
		{"SSE disabled", Config{DisableSSE: true}, `{}`, []string{WebSocket, LongPoll}},
		{"both disabled", Config{DisableWebSocket: true, DisableSSE: true}, `{}`, []string{LongPoll}},
		{"disabled and failed", Config{DisableSSE: true}, `{"failed":[{"transport":"websocket","reason":"error"}]}`, []string{LongPoll, WebSocket}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A server per case: failures are remembered per address.
			_, srv := newServerWith(t, longpoll.Config{}, tt.cfg)
			res := negotiateOK(t, srv, tt.body)
			if got := names(res); !slices.Equal(got, tt.want) {
				t.Fatalf("transports = %v, want %v", got, tt.want)
			}
			for _, tr := range res.Transports {
				if want := map[string]string{WebSocket: "/rt/ws", SSE: "/rt/sse?client=" + res.ClientID, LongPoll: "/rt/poll"}[tr.Name]; tr.URL != want {
					t.Errorf("%s URL = %q, want %q", tr.Name, tr.URL, want)
				}
			}
		})
	}
}

func TestNegotiateRemembersFailures(t *testing.T) {
	_, srv := newServerWith(t, longpoll.Config{}, Config{})
	failed := negotiateOK(t, srv, `{"failed":[{"transport":"websocket","reason":"no_upgrade"}]}`)
	if got := names(failed); !slices.Equal(got, []string{SSE, LongPoll, WebSocket}) {
		t.Fatalf("with failed websocket: %v", got)
	}
	// A later negotiate from the same address, reporting nothing.
	for i := 0; i < 2; i++ {
		if got := names(negotiateOK(t, srv, `{}`)); !slices.Equal(got, []string{SSE, LongPoll, WebSocket}) {
			t.Fatalf("negotiate %d after a reported failure: %v, want websocket last", i, got)
		}
	}
	// Another address is not affected.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	defer other.CloseIdleConnections()
	res, err := other.Post(srv.URL+"/rt/negotiate", "application/json", strings.NewReader(`{}`))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot connect from 127.0.0.2: %v", err)
		}
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	}
	defer res.Body.Close()
	var fresh Response
	if err := json.NewDecoder(res.Body).Decode(&fresh); err != nil {
		t.Fatal(err)
	}
	if got := names(fresh); !slices.Equal(got, []string{WebSocket, SSE, LongPoll}) {
		t.Fatalf("negotiate from 127.0.0.2: %v, want the default order", got)
	}
}

func TestNegotiateForgetsFailures(t *testing.T) {
	const memory = 50 * time.Millisecond
	// Negotiates in a loop: without the per-address negotiate limit.
	_, srv := newServerWith(t, longpoll.Config{}, Config{FailureMemory: memory, DisableNegotiateLimit: true})
	start := time.Now()
	negotiateOK(t, srv, `{"failed":[{"transport":"sse","reason":"no_first_byte"}]}`)
	var got []string
	waitFor(t, "the failure to be forgotten", func() bool {
		got = names(negotiateOK(t, srv, `{}`))
		return got[1] == SSE
	})
	if elapsed := time.Since(start); elapsed < memory {
		t.Fatalf("failure forgotten after %v, before FailureMemory %v", elapsed, memory)
	}
	if !slices.Equal(got, []string{WebSocket, SSE, LongPoll}) {
		t.Fatalf("after FailureMemory: %v", got)
	}
}

func TestDisabledTransportsNotMounted(t *testing.T) {
	_, srv := newServerWith(t, longpoll.Config{}, Config{DisableWebSocket: true, DisableSSE: true})
	neg := negotiateOK(t, srv, `{}`)
	for _, path := range []string{"/rt/ws?cursor=" + neg.Cursor, "/rt/sse?cursor=" + neg.Cursor} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		req.Header.Set(longpoll.TokenHeader, neg.Token)
		if status, body := do(t, srv, req); status != http.StatusNotFound {
			t.Errorf("GET %s on a server without it = %d %s, want 404", path, status, body)
		}
	}
	if _, res, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{}); err == nil || res == nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("WebSocket handshake on a server without it: %v %v, want 404", err, res)
	}
	// Long-poll still works.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+urlOf(neg, LongPoll)+"?timeout=0&cursor="+neg.Cursor, nil)
	req.Header.Set(longpoll.TokenHeader, neg.Token)
	if status, body := do(t, srv, req); status != http.StatusOK {
		t.Errorf("poll = %d %s", status, body)
	}
}

// Only failures that describe the network path are remembered for the
// address; a transient one concerns the reporting client alone.
func TestTransientFailuresAreNotRemembered(t *testing.T) {
	_, srv := newServerWith(t, longpoll.Config{}, Config{})
	first := negotiateOK(t, srv, `{"failed":[{"transport":"websocket","reason":"closed_early"},{"transport":"sse","reason":"error"}]}`)
	if first.Transports[0].Name != LongPoll {
		t.Fatalf("the reporting client's order = %v, want its failed transports last", first.Transports)
	}
	next := negotiateOK(t, srv, `{}`)
	if next.Transports[0].Name != WebSocket || next.Transports[1].Name != SSE {
		t.Fatalf("the next client's order = %v, want the default: transient failures are not remembered", next.Transports)
	}
}
