package negotiate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/internal/testkit/nginxtest"
	"github.com/lifeline-go/lifeline/longpoll"
)

// behindNginx starts nginx in mode in front of srv.
func behindNginx(t *testing.T, srv *httptest.Server, mode nginxtest.Mode) string {
	t.Helper()
	return behindProxy(t, srv, nginxtest.ErrNoNginx, func(upstream string) (string, func() error, error) {
		p, err := nginxtest.Start(context.Background(), upstream, mode)
		if err != nil {
			return "", nil, err
		}
		return p.URL, p.Close, nil
	})
}

// behindProxy starts a real proxy in front of srv with start and returns
// its base URL; it is stopped when the test ends. Without the proxy
// (start fails with missing) the test skips on a developer's machine and
// fails under CI=true.
func behindProxy(t *testing.T, srv *httptest.Server, missing error, start func(upstream string) (string, func() error, error)) string {
	t.Helper()
	url, stop, err := start(strings.TrimPrefix(srv.URL, "http://"))
	if errors.Is(err, missing) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop() })
	return url
}

// proxyClient talks to the proxy; its idle connections are closed when the
// test ends so that goleak sees no stray goroutine.
func proxyClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// negotiateVia negotiates through the proxy at base.
func negotiateVia(t *testing.T, hc *http.Client, base, body string) Response {
	t.Helper()
	resp, err := hc.Post(base+"/rt/negotiate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res Response
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("negotiate through the proxy: %d, %v", resp.StatusCode, err)
	}
	return res
}

// firstSSELine opens the SSE stream through base and returns its first
// line, or an error when nothing arrives within wait.
func firstSSELine(t *testing.T, hc *http.Client, base string, res Response, wait time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+urlOf(res, SSE)+"&cursor="+res.Cursor, nil)
	req.Header.Set(longpoll.TokenHeader, res.Token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	return strings.TrimSpace(line), err
}

func dialThrough(base string, res Response, origin string) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+urlOf(res, WebSocket), hdr)
}

// TestBehindDefaultNginx: nginx's stock proxy_pass strips Upgrade, so the
// WebSocket handshake fails at once (the client falls back), while SSE gets
// through unbuffered thanks to X-Accel-Buffering: no.
func TestBehindDefaultNginx(t *testing.T) {
	_, srv := newServer(t, longpoll.Config{DisablePresence: true})
	base := behindNginx(t, srv, nginxtest.Default)
	hc := proxyClient(t)
	res := negotiateVia(t, hc, base, `{"topics":["room:a"]}`)

	conn, resp, err := dialThrough(base, res, base)
	if err == nil {
		conn.Close()
		t.Fatal("the WebSocket handshake succeeded through a proxy that strips Upgrade")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("handshake through default nginx: %v, response %v; want a 400 from the server", err, resp)
	}
	resp.Body.Close()

	line, err := firstSSELine(t, hc, base, res, 3*time.Second)
	if err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("SSE through default nginx: first line %q, %v; want the open event within 3 s", line, err)
	}
}

// TestBehindBufferingNginx: a proxy that buffers every response holds the
// SSE stream back; the first-byte probe (3 s in the client) sees nothing.
// Long-poll, made of complete responses, still works.
func TestBehindBufferingNginx(t *testing.T) {
	lp, srv := newServer(t, longpoll.Config{DisablePresence: true, PollTimeout: 2 * time.Second})
	base := behindNginx(t, srv, nginxtest.Buffering)
	hc := proxyClient(t)
	res := negotiateVia(t, hc, base, `{"topics":["room:a"]}`)

	if line, err := firstSSELine(t, hc, base, res, time.Second); err == nil {
		t.Fatalf("SSE through a buffering proxy delivered %q at once; the test proxy does not buffer", line)
	}
	e, err := lp.Publish(context.Background(), "room:a", "message", "through the proxy")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+urlOf(res, LongPoll)+"?cursor="+res.Cursor, nil)
	req.Header.Set(longpoll.TokenHeader, res.Token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if status := resp.StatusCode; status != http.StatusOK || !strings.Contains(string(body), e.ID.String()) {
		t.Fatalf("long-poll through a buffering proxy = %d %s, want the event", status, body)
	}
}

// TestBehindWebSocketNginx: configured as the README recommends, nginx
// carries the WebSocket, and the Origin check passes because Host is
// forwarded.
func TestBehindWebSocketNginx(t *testing.T) {
	lp, srv := newServer(t, longpoll.Config{DisablePresence: true})
	base := behindNginx(t, srv, nginxtest.WebSocket)
	res := negotiateVia(t, proxyClient(t), base, `{"topics":["room:a"]}`)
	conn, _, err := dialThrough(base, res, base)
	if err != nil {
		t.Fatalf("WebSocket through nginx configured for it: %v", err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := conn.WriteJSON(map[string]string{"op": "auth", "token": res.Token, "cursor": res.Cursor}); err != nil {
		t.Fatal(err)
	}
	var open struct{ Op, Cursor string }
	if err := conn.ReadJSON(&open); err != nil || open.Op != "open" {
		t.Fatalf("first frame = %+v, %v; want open", open, err)
	}
	e, _ := lp.Publish(context.Background(), "room:a", "message", "hi")
	var frame struct {
		Op    string
		Event struct{ ID string }
	}
	if err := conn.ReadJSON(&frame); err != nil || frame.Op != "event" || frame.Event.ID != e.ID.String() {
		t.Fatalf("frame = %+v, %v; want the event %v", frame, err, e.ID)
	}
}

// TestBehindShortTimeoutNginx: nginx with a proxy_read_timeout (3 s here)
// shorter than the server's hold and heartbeat answers a quiet poll with
// 504 and cuts a quiet stream; a poll asking for a shorter hold
// (`timeout`) and a stream asking for heartbeats below the limit
// (`heartbeat`) pass: what the client asks once it learned the limit.
func TestBehindShortTimeoutNginx(t *testing.T) {
	_, srv := newServer(t, longpoll.Config{DisablePresence: true, PollTimeout: 25 * time.Second})
	base := behindNginx(t, srv, nginxtest.ShortTimeout)
	limit := nginxtest.ShortReadTimeout
	near := func(d, want time.Duration) bool {
		return d > want-500*time.Millisecond && d < want+1500*time.Millisecond
	}

	t.Run("poll", func(t *testing.T) {
		t.Parallel()
		hc := proxyClient(t)
		res := negotiateVia(t, hc, base, `{"topics":["room:a"]}`)
		for _, c := range []struct {
			query  string
			status int
			after  time.Duration
		}{
			{"", http.StatusGatewayTimeout, limit},
			{"&timeout=2000", http.StatusOK, 2 * time.Second},
		} {
			req, _ := http.NewRequest(http.MethodGet, base+urlOf(res, LongPoll)+"?cursor="+res.Cursor+c.query, nil)
			req.Header.Set(longpoll.TokenHeader, res.Token)
			start := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if took := time.Since(start); resp.StatusCode != c.status || !near(took, c.after) {
				t.Errorf("quiet poll%s = %d after %v, want %d after about %v", c.query, resp.StatusCode, took, c.status, c.after)
			}
		}
	})
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		hc := proxyClient(t)
		res := negotiateVia(t, hc, base, `{"topics":["room:a"]}`)
		quiet := func(query string, within time.Duration) (time.Duration, int) {
			ctx, cancel := context.WithTimeout(context.Background(), within)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+urlOf(res, SSE)+"&cursor="+res.Cursor+query, nil)
			req.Header.Set(longpoll.TokenHeader, res.Token)
			start := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			beats := 0
			r := bufio.NewReader(resp.Body)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return time.Since(start), beats
				}
				if strings.HasPrefix(line, ": hb") {
					beats++
				}
			}
		}
		if lasted, _ := quiet("", 3*limit); !near(lasted, limit) {
			t.Errorf("a quiet stream lasted %v through nginx, want cut at about %v", lasted, limit)
		}
		lasted, beats := quiet("&heartbeat=1500", 2*limit)
		if lasted < 2*limit-100*time.Millisecond || beats < 3 {
			t.Errorf("a stream beating every 1.5 s lasted %v with %d heartbeats, want %v (the test's own limit) and 3 or more", lasted, beats, 2*limit)
		}
	})
}
