package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// TestRunListensAndShutsDown runs the command's server on a free port, reads
// its LISTENING line, and checks that cancelling shuts it down promptly.
func TestRunListensAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	servers := make(chan *longpoll.Server, 1)
	serverStarted = func(lp *longpoll.Server) { servers <- lp }
	defer func() { serverStarted = nil }()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", options{}, w, slog.New(slog.NewTextHandler(io.Discard, nil)))
		w.Close()
	}()

	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the LISTENING line: %v", err)
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTENING ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("first line %q, want LISTENING http://127.0.0.1:<port>", line)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // drain until run closes the pipe

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	res, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", res.StatusCode)
	}

	// A held poll must end at once on shutdown, not hold Shutdown up.
	res, err = client.Post(base+rtBase+"/negotiate", "application/json", strings.NewReader(`{"topics":["room:general"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ Token, Cursor string }
	err = json.NewDecoder(res.Body).Decode(&s)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan int, 1)
	firstDone := make(chan struct{})
	go func() {
		// The presence join is after the cursor: skip it by polling from the
		// head, which the first poll returns.
		status := 0
		defer func() { polled <- status }()
		cursor := s.Cursor
		for i := range 2 {
			req, _ := http.NewRequest(http.MethodGet, base+rtBase+"/poll?cursor="+cursor, nil)
			req.Header.Set("Lifeline-Token", s.Token)
			res, err := client.Do(req)
			if err != nil {
				return
			}
			var b struct{ Cursor string }
			_ = json.NewDecoder(res.Body).Decode(&b)
			res.Body.Close()
			status, cursor = res.StatusCode, b.Cursor
			if status != http.StatusOK {
				return
			}
			if i == 0 {
				close(firstDone)
			}
		}
	}()

	start := time.Now()
	lp := <-servers
	<-firstDone
	for deadline := time.Now().Add(5 * time.Second); lp.Stats().Receivers != 1; { // the second poll is held
		if time.Now().After(deadline) {
			t.Fatal("the poll was never held")
		}
		time.Sleep(time.Millisecond) // polling a condition, not waiting for behaviour
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(shutdownTimeout + time.Second):
		t.Fatal("run did not return after cancel")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if status := <-polled; status != http.StatusServiceUnavailable {
		t.Errorf("the held poll ended with %d, want 503", status)
	}
}
