package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/syncbuf"
)

// POST /api/notify needs the bearer token; without one configured the
// route does not exist (issue 8, item 11).
func TestNotifyNeedsToken(t *testing.T) {
	h := newHarness(t)
	for name, header := range map[string]http.Header{
		"no credentials": nil,
		"wrong token":    {"Authorization": {"Bearer nope"}},
		"not bearer":     {"Authorization": {"Basic " + testNotifyToken}},
	} {
		status, body, hdr := h.do(http.MethodPost, "/api/notify", header, map[string]string{"text": "hi"})
		if status != http.StatusUnauthorized || problemCode(t, body) != "unauthorized" || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("notify with %s = %d %s, want 401 unauthorized with WWW-Authenticate", name, status, body)
		}
	}

	engine, lp := newApp(options{})
	defer lp.Close()
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/notify", strings.NewReader(`{"text":"hi"}`)))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("notify on an app without a token = %d, want 404: the route must not be mounted", rec.Code)
	}
}

// A WebSocket handshake from a foreign origin gets Lifeline's
// forbidden_origin problem, not the CORS middleware's empty 403 (item 12).
func TestForeignOriginWebSocketGetsProblem(t *testing.T) {
	h := newHarness(t)
	status, body, hdr := h.do(http.MethodGet, rtBase+"/ws", http.Header{
		"Origin": {"https://evil.example"}, "Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="},
	}, nil)
	if status != http.StatusForbidden || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") || problemCode(t, body) != "forbidden_origin" {
		t.Fatalf("foreign-origin WebSocket = %d %q %s, want 403 forbidden_origin as a problem document", status, hdr.Get("Content-Type"), body)
	}
}

// A graceful shutdown that had to cut a request in flight is still a clean
// exit, and says so in the log (item 10).
func TestShutdownCuttingARequestIsClean(t *testing.T) {
	defer func(d time.Duration) { shutdownTimeout = d }(shutdownTimeout)
	shutdownTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	var logs syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, w)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	addr := strings.TrimPrefix(strings.TrimSpace(line), "LISTENING http://")

	// A request whose body trickles: in flight until BodyTimeout (10 s),
	// far beyond the shutdown's wait.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Expect: 100-continue makes the server say when the handler starts
	// reading the body: the request is then surely in flight.
	fmt.Fprintf(conn, "POST %s/negotiate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", rtBase, addr)
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, " 100 ") {
		t.Fatalf("waiting for 100 Continue: %q %v", status, err)
	}
	fmt.Fprint(conn, "{")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after a shutdown that cut a request: %v, want a clean exit", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
	if !strings.Contains(logs.String(), "cut the requests still in flight") {
		t.Fatalf("log %q does not say the shutdown cut a request", logs.String())
	}
}
