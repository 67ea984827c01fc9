package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// With -metrics-addr, /metrics and /healthz are served on that address
// and not on the public one, and the metrics follow the app's traffic.
func TestMetricsServedOnTheirOwnAddressOnly(t *testing.T) {
	ops, err := newOperations("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", options{Logger: slog.New(slog.DiscardHandler), Operations: ops}, w)
		w.Close()
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	lines := bufio.NewReader(out)
	read := func(prefix string) string {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the %s line: %v", prefix, err)
		}
		url, ok := strings.CutPrefix(strings.TrimSpace(line), prefix+" ")
		if !ok {
			t.Fatalf("line %q, want %s <url>", line, prefix)
		}
		return url
	}
	metricsURL := read("METRICS")
	base := read("LISTENING")
	go func() { _, _ = io.Copy(io.Discard, out) }()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(url string) (int, string) {
		res, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if status, _ := get(base + "/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public address: %d, want 404", status)
	}
	res, err := client.Post(base+rtBase+"/negotiate", "application/json", strings.NewReader(`{"topics":["room:general"]}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	status, body := get(metricsURL)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d", metricsURL, status)
	}
	for _, want := range []string{"lifeline_sessions_started_total 1", "lifeline_sessions 1", `lifeline_connections{transport="websocket"} 0`, "lifeline_buffer_events", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if status, _ := get(strings.TrimSuffix(metricsURL, "/metrics") + "/healthz"); status != http.StatusOK {
		t.Errorf("GET /healthz on the metrics address: %d", status)
	}
}
