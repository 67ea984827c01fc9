package negotiate

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/haproxytest"
	"github.com/lifeline-go/lifeline/longpoll"
)

// behindHAProxy starts HAProxy in mode in front of srv, as behindNginx
// starts nginx.
func behindHAProxy(t *testing.T, srv *httptest.Server, mode haproxytest.Mode) string {
	t.Helper()
	return behindProxy(t, srv, haproxytest.ErrNoHAProxy, func(upstream string) (string, func() error, error) {
		p, err := haproxytest.Start(context.Background(), upstream, mode)
		if err != nil {
			return "", nil, err
		}
		return p.URL, p.Close, nil
	})
}

// sseLine is one line of a stream and when it was read.
type sseLine struct {
	text string
	at   time.Time
}

// streamVia opens the stream through base and reads its lines into the
// returned channel until the test ends.
func streamVia(t *testing.T, hc *http.Client, base string, res Response) (*http.Response, <-chan sseLine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+urlOf(res, SSE)+"&cursor="+res.Cursor, nil)
	req.Header.Set(longpoll.TokenHeader, res.Token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	lines := make(chan sseLine, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		r := bufio.NewReader(resp.Body)
		for {
			s, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- sseLine{strings.TrimRight(s, "\n"), time.Now()}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return resp, lines
}

// eventLatencies publishes n events spaced by gap and returns, sorted, how
// long each took from Publish returning to its id line being read.
func eventLatencies(t *testing.T, lp *longpoll.Server, lines <-chan sseLine, n int, gap time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	for i := range n {
		sent := time.Now()
		e := publish(t, lp, "room:a", i)
		want := "id: " + e.ID.String()
		deadline := time.After(5 * time.Second)
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("the stream ended")
				}
				if l.text == want {
					out = append(out, l.at.Sub(sent))
					break wait
				}
			case <-deadline:
				t.Fatalf("event %d did not arrive within 5 s", i)
			}
		}
		time.Sleep(gap)
	}
	slices.Sort(out)
	return out
}

// median is the middle of sorted durations.
func median(d []time.Duration) time.Duration { return d[len(d)/2] }

// sseLatencyVia measures, through the proxy at base, how long SSE events
// take from Publish to the client.
func sseLatencyVia(t *testing.T, lp *longpoll.Server, base string) []time.Duration {
	t.Helper()
	hc := proxyClient(t)
	res := negotiateVia(t, hc, base, `{"topics":["room:a"]}`)
	resp, lines := streamVia(t, hc, base, res)
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("the stream came %s-encoded through the proxy", enc)
	}
	return eventLatencies(t, lp, lines, 11, 20*time.Millisecond)
}

// TestBehindHAProxyNoDelay: in HTTP mode HAProxy sends the body of a
// response it has not seen the end of with MSG_MORE, and the kernel holds
// each SSE event for its 200 ms cork timer; `option http-no-delay` sends at
// once. The README's HAProxy section quotes these numbers.
func TestBehindHAProxyNoDelay(t *testing.T) {
	lp, srv := newServer(t, longpoll.Config{DisablePresence: true})
	slow := median(sseLatencyVia(t, lp, behindHAProxy(t, srv, haproxytest.Default)))
	fast := median(sseLatencyVia(t, lp, behindHAProxy(t, srv, haproxytest.NoDelay)))
	t.Logf("SSE event latency through HAProxy: median %v by default, %v with option http-no-delay", slow, fast)
	if slow > time.Second || fast > time.Second {
		t.Fatalf("SSE events took %v (default) and %v (http-no-delay): want both under a second", slow, fast)
	}
	if fast*4 > slow {
		t.Fatalf("http-no-delay (%v) is not much faster than the default (%v): HAProxy no longer delays SSE; update the README's HAProxy section", fast, slow)
	}
}

// TestBehindCompressingHAProxy: HAProxy compresses no response that says
// Cache-Control: no-transform, so SSE passes it uncompressed and prompt;
// behind a hop that drops the header it compresses the stream (and holds
// the end of each frame: the client's probe finds that, see
// client/test/integration/proxies.test.ts).
func TestBehindCompressingHAProxy(t *testing.T) {
	lp, srv := newServer(t, longpoll.Config{DisablePresence: true})
	lat := sseLatencyVia(t, lp, behindHAProxy(t, srv, haproxytest.Compress))
	if m := median(lat); m > time.Second {
		t.Fatalf("SSE through a compressing HAProxy: median latency %v, want under a second", m)
	}

	base := behindHAProxy(t, srv, haproxytest.CompressStripped)
	hc := proxyClient(t)
	res := negotiateVia(t, hc, base, `{"topics":["room:a"]}`)
	resp, _ := streamVia(t, hc, base, res)
	if enc := resp.Header.Get("Content-Encoding"); enc != "gzip" {
		t.Fatalf("behind a hop that drops no-transform the stream came %q-encoded, want gzip: the test proxy does not compress", enc)
	}
}

// TestWebSocketBehindHAProxy: HAProxy forwards Upgrade in HTTP mode, and
// once upgraded it tunnels: events are not delayed as SSE's are.
func TestWebSocketBehindHAProxy(t *testing.T) {
	lp, srv := newServer(t, longpoll.Config{DisablePresence: true})
	base := behindHAProxy(t, srv, haproxytest.Default)
	res := negotiateVia(t, proxyClient(t), base, `{"topics":["room:a"]}`)
	conn, _, err := dialThrough(base, res, base)
	if err != nil {
		t.Fatalf("WebSocket through HAProxy: %v", err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := conn.WriteJSON(map[string]string{"op": "auth", "token": res.Token, "cursor": res.Cursor}); err != nil {
		t.Fatal(err)
	}
	var open struct{ Op string }
	if err := conn.ReadJSON(&open); err != nil || open.Op != "open" {
		t.Fatalf("first frame = %+v, %v; want open", open, err)
	}
	var lat []time.Duration
	for i := range 11 {
		sent := time.Now()
		e := publish(t, lp, "room:a", i)
		var frame struct {
			Op    string
			Event struct{ ID string }
		}
		if err := conn.ReadJSON(&frame); err != nil || frame.Event.ID != e.ID.String() {
			t.Fatalf("frame = %+v, %v; want the event %v", frame, err, e.ID)
		}
		lat = append(lat, time.Since(sent))
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(lat)
	t.Logf("WebSocket event latency through HAProxy: median %v", median(lat))
	if median(lat) > 100*time.Millisecond {
		t.Fatalf("WebSocket events through HAProxy took %v (median), want the tunnel's few ms", median(lat))
	}
}
