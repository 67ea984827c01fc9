package llprom

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/longpoll/buffertest"
	"github.com/lifeline-go/lifeline/negotiate"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// Each test drives one path through real TCP and checks that the metrics
// moved by exactly what happened, read back through the registry.

func TestConnectionsDeliveriesAndSwitchesOnEachTransport(t *testing.T) {
	r := newRig(t, longpoll.Config{}, negotiate.Config{})
	n := r.negotiate(map[string]any{"topics": []string{"room:a"}})
	r.want(1, "lifeline_sessions_started_total")
	r.want(1, "lifeline_sessions")

	// Long-poll: held, then answered by a publish.
	polled := make(chan pollResult, 1)
	go func() {
		var res pollResult
		r.get("/rt/poll?cursor="+n.Cursor, n.Token, &res)
		polled <- res
	}()
	r.waitValue(1, "lifeline_connections", "transport", "longpoll")
	publish(t, r.lp, "room:a", 1)
	res := <-polled
	if len(res.Events) != 1 {
		t.Fatalf("poll answered %d events, want 1", len(res.Events))
	}
	r.waitValue(0, "lifeline_connections", "transport", "longpoll")
	r.want(1, "lifeline_events_published_total")
	r.want(1, "lifeline_events_delivered_total", "transport", "longpoll")
	r.want(1, "lifeline_delivery_seconds", "transport", "longpoll")

	// SSE: the session's next receiver, on another transport.
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/rt/sse?cursor="+res.Cursor, nil)
	req.Header.Set(longpoll.TokenHeader, n.Token)
	stream, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(stream.Body)
	if msg := readSSE(t, lines); !strings.Contains(msg, "event: open") {
		t.Fatalf("first SSE message %q, want open", msg)
	}
	r.waitValue(1, "lifeline_connections", "transport", "sse")
	r.want(1, "lifeline_transport_switches_total", "from", "longpoll", "to", "sse")
	publish(t, r.lp, "room:a", 2)
	msg := readSSE(t, lines)
	if !strings.Contains(msg, `"data":2`) {
		t.Fatalf("SSE message %q, want the event", msg)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(msg, "id: "), "\n")
	r.waitValue(1, "lifeline_events_delivered_total", "transport", "sse")
	r.want(1, "lifeline_delivery_seconds", "transport", "sse")

	// WebSocket: supersedes the stream.
	ws := r.dialWS(negotiated{Token: n.Token, Cursor: id}, 0)
	r.waitValue(1, "lifeline_connections", "transport", "websocket")
	r.waitValue(0, "lifeline_connections", "transport", "sse")
	stream.Body.Close()
	r.want(1, "lifeline_transport_switches_total", "from", "sse", "to", "websocket")
	publish(t, r.lp, "room:a", 3)
	if f := readOp(t, ws); f["op"] != "event" {
		t.Fatalf("frame %v, want the event", f)
	}
	r.waitValue(1, "lifeline_events_delivered_total", "transport", "websocket")
	r.want(1, "lifeline_delivery_seconds", "transport", "websocket")
	r.want(3, "lifeline_events_published_total")
	r.want(2, "lifeline_transport_switches_total")
	ws.Close()
	r.waitValue(0, "lifeline_connections")
}

func TestReportedFallbacksCountedByTransportAndReason(t *testing.T) {
	r := newRig(t, longpoll.Config{}, negotiate.Config{})
	r.negotiate(map[string]any{"topics": []string{"room:a"}, "failed": []map[string]string{
		{"transport": "websocket", "reason": "no_upgrade"},
		{"transport": "websocket", "reason": "no_upgrade"}, // repeated: one report
		{"transport": "sse", "reason": "made-up <reason>"},
		{"transport": "carrier-pigeon", "reason": "error"},
	}})
	r.want(1, "lifeline_transport_failures_total", "transport", "websocket", "reason", "no_upgrade")
	r.want(1, "lifeline_transport_failures_total", "transport", "sse", "reason", "other")
	r.want(1, "lifeline_transport_failures_total", "transport", "other", "reason", "error")
	r.want(3, "lifeline_transport_failures_total")
	if got := strings.Count(r.logs.String(), "reported a transport failure"); got != 3 {
		t.Errorf("%d failure log lines, want 3:\n%s", got, r.logs)
	}
}

func TestRateLimitedSendsAndNegotiates(t *testing.T) {
	clock := buffertest.NewClock()
	r := newRig(t, longpoll.Config{Now: clock.Now, SendLimit: longpoll.Limit{Limit: 1, Period: time.Hour, Burst: 2}},
		negotiate.Config{NegotiateLimit: ratelimit.Config{Limit: 1, Period: time.Hour, Burst: 1}})
	n := r.negotiate(map[string]any{"topics": []string{"room:a"}})
	send := func(mid string) int {
		return r.post("/rt/send", n.Token, map[string]string{"topic": "room:a", "type": "message", "mid": mid}, nil)
	}
	if status := send("mid-00001"); status != http.StatusOK {
		t.Fatalf("first send: %d", status)
	}
	if status := send("mid-00001"); status != http.StatusOK { // a retry: answered from memory
		t.Fatalf("retried send: %d", status)
	}
	for range 3 {
		if status := send("mid-00002"); status != http.StatusTooManyRequests {
			t.Fatalf("send over the limit: %d, want 429", status)
		}
	}
	r.want(1, "lifeline_sends_total", "outcome", "published")
	r.want(1, "lifeline_sends_total", "outcome", "duplicate")
	r.want(3, "lifeline_sends_total", "outcome", "rate_limited")
	r.want(5, "lifeline_sends_total")
	r.want(3, "lifeline_rate_limited_total", "policy", "sends")
	if status := r.post("/rt/negotiate", "", map[string]any{"topics": []string{"room:a"}}, nil); status != http.StatusTooManyRequests {
		t.Fatalf("second negotiate: %d, want 429", status)
	}
	r.want(1, "lifeline_rate_limited_total", "policy", "negotiate")

	// The log gets one line per policy for the burst, when the janitor
	// sweeps at least 10 s after the last line.
	r.lp.Sweep()
	if strings.Contains(r.logs.String(), "refused by a rate limit") {
		t.Fatal("a refusal line before 10 s passed")
	}
	clock.Advance(11 * time.Second)
	r.lp.Sweep()
	logs := r.logs.String()
	if got := strings.Count(logs, "refused by a rate limit"); got != 2 {
		t.Fatalf("%d refusal lines, want 2 (sends, negotiate):\n%s", got, logs)
	}
	if !strings.Contains(logs, `"policy":"sends","refused":3`) || !strings.Contains(logs, `"policy":"negotiate","refused":1`) {
		t.Fatalf("refusal lines do not carry the counts:\n%s", logs)
	}
	clock.Advance(11 * time.Second)
	r.lp.Sweep() // nothing refused since: no line
	if got := strings.Count(r.logs.String(), "refused by a rate limit"); got != 2 {
		t.Fatalf("%d refusal lines after a quiet period, want still 2", got)
	}
}

func TestResetsCountedByCause(t *testing.T) {
	buf := longpoll.NewMemory(longpoll.MemoryConfig{MaxEventsPerTopic: 2})
	defer buf.Close()
	r := newRig(t, longpoll.Config{Buffer: buf}, negotiate.Config{})
	n := r.negotiate(map[string]any{"topics": []string{"room:a"}})
	for i := range 3 {
		publish(t, r.lp, "room:a", i)
	}
	var res pollResult
	r.get("/rt/poll?cursor="+n.Cursor, n.Token, &res)
	if !res.Reset {
		t.Fatalf("poll from before evicted events: %+v, want a reset", res)
	}
	r.want(1, "lifeline_resets_total", "cause", "evicted")

	other := longpoll.NewMemory(longpoll.MemoryConfig{})
	stale, _ := other.Head(context.Background())
	other.Close()
	if again := r.negotiate(map[string]any{"topics": []string{"room:a"}, "cursor": stale.String()}); !again.Reset {
		t.Fatal("negotiate from another epoch's cursor did not reset")
	}
	r.want(1, "lifeline_resets_total", "cause", "epoch")
	r.want(2, "lifeline_resets_total")
	if got := strings.Count(r.logs.String(), "told to reset"); got != 2 {
		t.Errorf("%d reset log lines, want 2", got)
	}
}

func TestSlowConsumerCountedAndLogged(t *testing.T) {
	r := newRig(t, longpoll.Config{}, negotiate.Config{WriteTimeout: 300 * time.Millisecond})
	n := r.negotiate(map[string]any{"topics": []string{"room:a"}})
	r.dialWS(n, 4096) // and never read again
	r.waitValue(1, "lifeline_connections", "transport", "websocket")
	pad := strings.Repeat("p", 60<<10)
	for i := range 300 { // ~18 MiB: more than any socket buffers hold
		data := json.RawMessage(`{"n":` + strconv.Itoa(i) + `,"pad":"` + pad + `"}`)
		if _, err := r.lp.PublishDraft(context.Background(), longpoll.Draft{Topic: "room:a", Type: "message", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	r.waitValue(1, "lifeline_slow_consumers_total", "transport", "websocket")
	r.waitValue(0, "lifeline_connections", "transport", "websocket")
	r.want(1, "lifeline_slow_consumers_total")
	if got := strings.Count(r.logs.String(), "dropped a slow consumer"); got != 1 {
		t.Errorf("%d slow-consumer log lines, want 1", got)
	}
}

func TestReadiness(t *testing.T) {
	r := newRig(t, longpoll.Config{}, negotiate.Config{})
	if status := r.get("/healthz", "", nil); status != http.StatusOK {
		t.Fatalf("healthz of a running server: %d", status)
	}
	r.lp.Close()
	if status := r.get("/healthz", "", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("healthz of a closed server: %d, want 503", status)
	}
}

// publish publishes a server-side event or fails the test.
func publish(t *testing.T, lp *longpoll.Server, topic string, data any) {
	t.Helper()
	if _, err := lp.Publish(context.Background(), topic, "message", data); err != nil {
		t.Fatal(err)
	}
}

// readSSE reads one SSE message (up to its blank line).
func readSSE(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var msg strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("SSE read: %v after %q", err, msg.String())
		}
		if line == "\n" && msg.Len() > 0 {
			return msg.String()
		}
		if !strings.HasPrefix(line, "retry:") && !strings.HasPrefix(line, ":") {
			msg.WriteString(line)
		}
	}
}
