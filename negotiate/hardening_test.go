package negotiate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// slowBody sends a request's headers and the first byte of a body that
// never arrives, then returns the response the server sends, or an error.
func slowBody(t *testing.T, srv *httptest.Server, path, token string) (*http.Response, error) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: 100\r\n\r\n{", path, longpoll.TokenHeader, token)
	return http.ReadResponse(bufio.NewReader(conn), nil)
}

// A body sent byte by byte is cut off after BodyTimeout with 408, for
// negotiate and send alike (issue 8, item 1).
func TestSlowBodyTimesOut(t *testing.T) {
	const timeout = 100 * time.Millisecond
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true, BodyTimeout: timeout}, Config{})
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	for _, path := range []string{"/rt/negotiate", "/rt/send"} {
		began := time.Now()
		res, err := slowBody(t, srv, path, neg.Token)
		if err != nil {
			t.Fatalf("%s with a slow body: %v (no answer within %v)", path, err, waitTimeout)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusRequestTimeout || !isProblem(res.Header, body, "body_timeout") {
			t.Fatalf("%s with a slow body = %d %s, want 408 body_timeout", path, res.StatusCode, body)
		}
		if waited := time.Since(began); waited < timeout {
			t.Fatalf("%s answered after %v, before BodyTimeout", path, waited)
		}
	}
	_ = lp
}

// A body trickled to a request that is answered without reading it — an
// unknown token, the negotiate limit — is given up at once: net/http would
// otherwise read it before answering, for as long as it trickles.
func TestSlowBodyOfRefusedRequest(t *testing.T) {
	const timeout = time.Minute
	_, srv := newServerWith(t, longpoll.Config{DisablePresence: true, BodyTimeout: timeout},
		Config{NegotiateLimit: ratelimit.Config{Limit: 1, Period: time.Hour, Burst: 1}})
	negotiateOK(t, srv, `{}`) // spends the negotiate allowance
	for _, tt := range []struct {
		path, token string
		status      int
	}{
		{"/rt/send", "t_unknown", http.StatusUnauthorized},
		{"/rt/negotiate", "", http.StatusTooManyRequests},
	} {
		began := time.Now()
		res, err := slowBody(t, srv, tt.path, tt.token)
		if err != nil {
			t.Fatalf("%s refused with a slow body: %v (no answer within %v)", tt.path, err, waitTimeout)
		}
		if took := time.Since(began); took > waitTimeout/2 {
			t.Fatalf("%s refused with a slow body answered after %v: the unread body was waited for", tt.path, took)
		}
		res.Body.Close()
		if res.StatusCode != tt.status {
			t.Fatalf("%s with a slow body = %d, want %d", tt.path, res.StatusCode, tt.status)
		}
	}
}

// The body's deadline never outlives the body: a negotiate whose
// Authorize hook runs longer than BodyTimeout after the body was read
// keeps its request context, and its connection serves the next request.
func TestBodyDeadlineClearedAfterRead(t *testing.T) {
	const timeout = 50 * time.Millisecond
	slowHook := func(c *gin.Context, _, _ string, _ longpoll.Action) error {
		select {
		case <-time.After(4 * timeout):
			return nil
		case <-c.Request.Context().Done():
			return fmt.Errorf("request context ended while the hook ran: %w", context.Cause(c.Request.Context()))
		}
	}
	_, srv := newServerWith(t, longpoll.Config{DisablePresence: true, BodyTimeout: timeout, Authorize: slowHook}, Config{})
	for i := range 2 { // the second request reuses the connection
		if status, data := post(t, srv, "/rt/negotiate", "", `{"topics":["room:a"]}`); status != http.StatusOK {
			t.Fatalf("negotiate %d with a hook slower than BodyTimeout = %d %s, want 200", i, status, data)
		}
	}
}

// otherAddrClient is an HTTP client whose connections come from 127.0.0.2.
func otherAddrClient(t *testing.T) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// One address may hold MaxHeldPerAddress polls, streams and WebSockets at
// once; one more is refused on every transport, and another address is not
// affected (issue 8, item 1).
func TestHeldConnectionCap(t *testing.T) {
	const max = 2
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true, IdleLimit: longpoll.Limit{Off: true}},
		Config{MaxHeldPerAddress: max})
	sessions := make([]Response, max+1)
	for i := range sessions {
		sessions[i] = negotiateOK(t, srv, `{"topics":["room:a"]}`)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan error, max)
	for _, s := range sessions[:max] {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/rt/poll?cursor="+s.Cursor, nil)
		req.Header.Set(longpoll.TokenHeader, s.Token)
		go func() {
			res, err := srv.Client().Do(req)
			if err == nil {
				res.Body.Close()
			}
			held <- err
		}()
	}
	waitFor(t, "the polls to be held", func() bool { return lp.Stats().Receivers == max })
	extra := sessions[max]

	// A poll over the cap.
	status, body, hdr := get(t, srv.Client(), srv.URL+"/rt/poll?cursor="+extra.Cursor, tokenHeader(extra.Token))
	if status != http.StatusTooManyRequests || !isProblem(hdr, body, "too_many_connections") || hdr.Get("Retry-After") == "" {
		t.Fatalf("poll over the cap = %d %s (Retry-After %q), want 429 too_many_connections with Retry-After", status, body, hdr.Get("Retry-After"))
	}
	// An SSE stream over the cap: the problem inside a 200, with retry.
	c := openSSE(t, srv, srv.URL+sseURL(extra, extra.Cursor), tokenHeader(extra.Token))
	m := c.mustNext(t)
	if m.event != "problem" || m.problem(t).Code != "too_many_connections" || m.retry == "" {
		t.Fatalf("SSE over the cap = %+v, want a problem event too_many_connections with retry", m)
	}
	c.mustEnd(t)
	// A WebSocket over the cap: an error frame with retryAfterMs, then 1008.
	ws, _, err := dialWSRaw(t, srv, "/rt/ws", wsDialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := ws.mustOp(t, "error")
	if f.Code != "too_many_connections" || f.Status != http.StatusTooManyRequests || f.RetryAfterMs <= 0 {
		t.Fatalf("WebSocket over the cap: %s, want error 429 too_many_connections with retryAfterMs", f.Raw)
	}
	ws.mustClose(t, websocket.ClosePolicyViolation)

	// Another address polls as usual.
	other := otherAddrClient(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/rt/poll?timeout=0&cursor="+extra.Cursor, nil)
	req.Header.Set(longpoll.TokenHeader, extra.Token)
	res, err := other.Do(req)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot connect from 127.0.0.2: %v", err)
		}
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("poll from another address = %d, want 200", res.StatusCode)
	}

	// When the held polls end, the address may poll again.
	cancel()
	for range max {
		<-held
	}
	waitFor(t, "the held polls to end", func() bool { return lp.Stats().Receivers == 0 })
	status, body, _ = get(t, srv.Client(), srv.URL+"/rt/poll?timeout=0&cursor="+extra.Cursor, tokenHeader(extra.Token))
	if status != http.StatusOK {
		t.Fatalf("poll after the held ones ended = %d %s, want 200", status, body)
	}
}

func TestHeldCountsRelease(t *testing.T) {
	h := newHeldConns(2)
	a1, ok1 := h.acquire("a")
	a2, ok2 := h.acquire("a")
	if _, ok3 := h.acquire("a"); !ok1 || !ok2 || ok3 {
		t.Fatal("want two acquisitions for a, then a refusal")
	}
	b, okb := h.acquire("b")
	for _, ok := range []bool{okb, acquired(h.acquire("")), acquired(h.acquire("")), acquired(h.acquire(""))} {
		if !ok {
			t.Fatal("another key, or an unknown address, must not be refused")
		}
	}
	h.release(a1)
	a3, ok := h.acquire("a")
	if !ok {
		t.Fatal("a released slot must be usable again")
	}
	h.release(a2)
	h.release(a3)
	h.release(b)
	h.release(nil) // an unknown address's
	for i := range h.shards {
		if n := len(h.shards[i].n); n != 0 {
			t.Fatalf("shard %d keeps %d keys after every release", i, n)
		}
	}
}

// acquired is acquire's verdict alone.
func acquired(_ *heldCount, ok bool) bool { return ok }

// Counts taken and handed back at once by many goroutines stay exact: the
// cap is never exceeded, and every count leaves the map once released,
// although releases take no lock until a count empties.
func TestHeldCountsConcurrent(t *testing.T) {
	const max, workers, rounds = 3, 8, 2000
	h := newHeldConns(max)
	var wg sync.WaitGroup
	var over atomic.Bool
	for w := range workers {
		wg.Go(func() {
			key := []string{"a", "b"}[w%2]
			for range rounds {
				c, ok := h.acquire(key)
				if !ok {
					continue
				}
				if c.n.Load() > max {
					over.Store(true)
				}
				h.release(c)
			}
		})
	}
	wg.Wait()
	if over.Load() {
		t.Fatalf("a count went over the cap of %d", max)
	}
	for i := range h.shards {
		if n := len(h.shards[i].n); n != 0 {
			t.Fatalf("shard %d keeps %d keys after every release", i, n)
		}
	}
}

// Requests receiving a body count against MaxHeldPerAddress, apart from
// polls: one more is refused at once.
func TestSlowBodiesCappedPerAddress(t *testing.T) {
	const max = 2
	_, srv := newServerWith(t, longpoll.Config{DisablePresence: true, BodyTimeout: time.Minute}, Config{MaxHeldPerAddress: max})
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	conns := make([]net.Conn, max)
	for i := range conns {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /rt/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", longpoll.TokenHeader, neg.Token)
		_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("slow send %d: %q %v, want 100 Continue (the handler reading)", i, line, err)
		}
		conns[i] = conn
	}
	res, err := slowBody(t, srv, "/rt/send", neg.Token)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusTooManyRequests || !isProblem(res.Header, body, "too_many_connections") {
		t.Fatalf("a third slow send = %d %s, want 429 too_many_connections", res.StatusCode, body)
	}
	// Polls are counted apart.
	status, body, _ := get(t, srv.Client(), srv.URL+"/rt/poll?timeout=0&cursor="+neg.Cursor, tokenHeader(neg.Token))
	if status != http.StatusOK {
		t.Fatalf("poll while the address holds its slow bodies = %d %s, want 200", status, body)
	}
}

// A stream whose topic the buffer has no room for ends with a reason to
// retry later: a problem event inside the 200, or an error frame and 1013.
func TestStreamsOnFullTopicTable(t *testing.T) {
	buf := longpoll.NewMemory(longpoll.MemoryConfig{MaxTopics: 1})
	t.Cleanup(func() { buf.Close() })
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true, Buffer: buf}, Config{})
	publish(t, lp, "room:full", "the one topic there is room for")
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)

	c := openSSE(t, srv, srv.URL+sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	m := c.mustNext(t)
	if m.event != "problem" || m.problem(t).Code != "too_many_topics" || m.retry != "5000" {
		t.Fatalf("SSE on a full topic table = %+v, want a problem event too_many_topics with retry 5000", m)
	}
	c.mustEnd(t)

	ws := dialWS(t, srv, "/rt/ws", neg.Token, neg.Cursor)
	mustOpenFrame(t, ws, neg.ClientID, neg.Cursor)
	f := ws.mustOp(t, "error")
	if f.Code != "too_many_topics" || f.Status != http.StatusServiceUnavailable || f.RetryAfterMs != 5000 {
		t.Fatalf("WebSocket on a full topic table: %s, want error 503 too_many_topics with retryAfterMs", f.Raw)
	}
	ws.mustClose(t, websocket.CloseTryAgainLater)
}
