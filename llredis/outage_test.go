package llredis

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// outageBound is how soon a request must be answered while Redis is down:
// "within a few seconds", never a hang.
const outageBound = 3 * time.Second

func newOutageCluster(t *testing.T, n int) (*redistest.Server, []*appInstance) {
	redis := redistest.Start(t)
	// A prefix of its own: this Redis dies with the test, keys and all.
	cluster := newCluster(t, redis.Client(), n, Config{Prefix: "outage", OpTimeout: 500 * time.Millisecond},
		longpoll.Config{DisablePresence: true}, negotiate.Config{DisableNegotiateLimit: true})
	return redis, cluster
}

// wantUnavailable checks a 503 with Retry-After and a problem+json body
// whose code is "unavailable".
func wantUnavailable(t *testing.T, what string, status int, body []byte, h http.Header) {
	t.Helper()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	if status != http.StatusServiceUnavailable || p.Code != "unavailable" || h.Get("Retry-After") == "" ||
		!strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%s during the outage = %d %s (Retry-After %q, %s), want 503 unavailable problem with Retry-After",
			what, status, body, h.Get("Retry-After"), h.Get("Content-Type"))
	}
}

// Redis stops under a held poll, a send, a negotiate and a publish: each
// is answered 503 with a retry hint within seconds; when Redis is back
// (empty), the same instances serve again by themselves, and a client
// whose events were lost is told reset.
func TestOutageMidPollSendAndRecovery(t *testing.T) {
	redis, cluster := newOutageCluster(t, 2)
	a, b := cluster[0], cluster[1]
	s := negotiateAt(t, a, []string{"room:1"}, "")
	if _, err := b.lp.Publish(context.Background(), "room:1", "message", "before"); err != nil {
		t.Fatal(err)
	}
	_, p, _ := pollAt(t, context.Background(), b, s, s.Cursor, 0)
	if len(p.Events) != 1 {
		t.Fatalf("poll before the outage = %+v", p)
	}
	cursor := p.Cursor

	type answer struct {
		status int
		h      http.Header
		took   time.Duration
	}
	held := make(chan answer, 1)
	go func() {
		start := time.Now()
		status, _, h := pollAt(t, context.Background(), a, s, cursor, 20*time.Second)
		held <- answer{status, h, time.Since(start)}
	}()
	waitFor(t, "the poll to be held", func() bool { return a.lp.Stats().HeldPolls == 1 })
	redis.Stop()
	select {
	case got := <-held:
		if got.status != http.StatusServiceUnavailable || got.h.Get("Retry-After") == "" {
			t.Fatalf("held poll when Redis stopped = %d (Retry-After %q), want 503 with Retry-After", got.status, got.h.Get("Retry-After"))
		}
	case <-time.After(outageBound):
		t.Fatal("a held poll was not released within seconds of Redis stopping")
	}

	start := time.Now()
	status, body, h := call(t, context.Background(), http.MethodPost, b.srv.URL+"/rt/negotiate", "", map[string]any{"topics": []string{"room:1"}})
	wantUnavailable(t, "negotiate", status, body, h)
	status, body, h = call(t, context.Background(), http.MethodPost, a.srv.URL+"/rt/send", s.Token,
		map[string]any{"topic": "room:1", "type": "message", "data": "x", "mid": "m_outage01"})
	wantUnavailable(t, "send", status, body, h)
	status, body, h = call(t, context.Background(), http.MethodGet, b.srv.URL+"/rt/poll?cursor="+cursor, s.Token, nil)
	wantUnavailable(t, "poll", status, body, h)
	if _, err := a.lp.Publish(context.Background(), "room:1", "message", "lost"); !errors.Is(err, longpoll.ErrUnavailable) {
		t.Fatalf("Publish during the outage = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 4*outageBound {
		t.Fatalf("four requests during the outage took %v", took)
	}

	// Redis comes back empty: the instances resume by themselves; the old
	// session is gone (401) and its cursor is from a lost epoch (reset).
	redis.Restart()
	waitFor(t, "the instances to serve again", func() bool {
		status, _, _ := call(t, context.Background(), http.MethodPost, a.srv.URL+"/rt/negotiate", "", nil)
		return status == http.StatusOK
	})
	if status, _, _ := pollAt(t, context.Background(), b, s, cursor, 0); status != http.StatusUnauthorized {
		t.Fatalf("poll with a session Redis lost = %d, want 401", status)
	}
	again := negotiateAt(t, b, []string{"room:1"}, cursor)
	if !again.Reset {
		t.Fatalf("negotiate with a cursor of the lost epoch = %+v, want reset", again)
	}
	// Wake-ups work again across instances.
	done := make(chan pollResult, 1)
	go func() {
		_, p, _ := pollAt(t, context.Background(), a, again, again.Cursor, 20*time.Second)
		done <- p
	}()
	waitFor(t, "the poll to be held", func() bool { return a.lp.Stats().HeldPolls == 1 })
	if _, err := b.lp.Publish(context.Background(), "room:1", "message", "after"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-done:
		if len(p.Events) != 1 {
			t.Fatalf("poll after recovery = %+v", p)
		}
	case <-time.After(outageBound):
		t.Fatal("a publish after recovery did not wake a poll on another instance")
	}
}

// Streams end with a retry hint when Redis stops: SSE with a problem event
// and a retry field, WebSocket with close 1013.
func TestOutageMidStream(t *testing.T) {
	redis, cluster := newOutageCluster(t, 1)
	in := cluster[0]
	s := negotiateAt(t, in, []string{"room:1"}, "")

	req, _ := http.NewRequest(http.MethodGet, in.srv.URL+"/rt/sse?cursor="+s.Cursor, nil)
	req.Header.Set(longpoll.TokenHeader, s.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("SSE = %v %v", res, err)
	}
	defer res.Body.Close()

	ws2 := negotiateAt(t, in, []string{"room:2"}, "")
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(in.srv.URL, "http")+"/rt/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]string{"op": "auth", "token": ws2.Token, "cursor": ws2.Cursor}); err != nil {
		t.Fatal(err)
	}
	if _, frame, err := conn.ReadMessage(); err != nil || !strings.Contains(string(frame), `"open"`) {
		t.Fatalf("WebSocket open = %s %v", frame, err)
	}
	waitFor(t, "both streams to attach", func() bool { return in.lp.Stats().Receivers == 2 })

	redis.Stop()
	sseEnded := make(chan string, 1)
	go func() {
		var block []string
		lines := bufio.NewScanner(res.Body)
		for lines.Scan() {
			if line := lines.Text(); line != "" {
				block = append(block, line)
			} else if strings.Contains(strings.Join(block, "\n"), "event: problem") {
				sseEnded <- strings.Join(block, "\n")
				return
			} else {
				block = nil
			}
		}
		sseEnded <- "stream ended without a problem event"
	}()
	select {
	case block := <-sseEnded:
		if !strings.Contains(block, `"unavailable"`) || !strings.Contains(block, "retry: ") {
			t.Fatalf("SSE when Redis stopped ended with %q, want a problem event unavailable with retry", block)
		}
	case <-time.After(outageBound):
		t.Fatal("SSE stream not ended within seconds of Redis stopping")
	}
	conn.SetReadDeadline(time.Now().Add(outageBound))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != negotiate.CloseTryAgainLater {
			t.Fatalf("WebSocket when Redis stopped ended with %v, want close 1013", err)
		}
		break
	}
}

// A held poll costs Redis nothing while it waits: no command per client
// and no polling loop.
func TestHeldPollsCostRedisNothing(t *testing.T) {
	redis, cluster := newOutageCluster(t, 1)
	in := cluster[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const polls = 20
	for range polls {
		s := negotiateAt(t, in, []string{"room:1"}, "")
		go pollAt(t, ctx, in, s, s.Cursor, 20*time.Second)
	}
	waitFor(t, "the polls to be held", func() bool { return in.lp.Stats().HeldPolls == polls })
	rdb := redis.Client()
	processed := func() int64 {
		info, err := rdb.Info(context.Background(), "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
				n, _ := json.Number(v).Int64()
				return n
			}
		}
		t.Fatal("no total_commands_processed in INFO")
		return 0
	}
	before := processed()
	time.Sleep(500 * time.Millisecond) // the span over which nothing must happen
	if spent := processed() - before - 1; spent > 0 {
		t.Fatalf("%d Redis commands while %d polls waited half a second, want 0", spent, polls)
	}
}

// A fan-out costs Redis the append alone: the woken polls read from their
// instance's mirror of the newest events, fed by the append's notice.
func TestFanOutReadsNoRedis(t *testing.T) {
	redis, cluster := newOutageCluster(t, 2)
	a, b := cluster[0], cluster[1]
	const polls = 20
	results := make(chan int, polls)
	for range polls {
		s := negotiateAt(t, b, []string{"room:1"}, "")
		go func() {
			_, p, _ := pollAt(t, context.Background(), b, s, s.Cursor, 20*time.Second)
			results <- len(p.Events)
		}()
	}
	waitFor(t, "the polls to be held", func() bool { return b.lp.Stats().HeldPolls == polls })
	if _, err := a.backend.Buffer().Head(context.Background()); err != nil { // A learns the epoch, as any running instance has
		t.Fatal(err)
	}
	rdb := redis.Client()
	scripts := func() int64 {
		info, err := rdb.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		// Scripts that ran: calls less failed ones (a NOSCRIPT ran nothing).
		var n int64
		for _, line := range strings.Split(info, "\r\n") {
			rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:")
			if !ok {
				continue
			}
			for _, field := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(field, "=")
				x, _ := json.Number(v).Int64()
				switch k {
				case "calls":
					n += x
				case "failed_calls":
					n -= x
				}
			}
		}
		return n
	}
	before := scripts()
	if _, err := a.lp.Publish(context.Background(), "room:1", "message", "hi"); err != nil {
		t.Fatal(err)
	}
	for range polls {
		if n := <-results; n != 1 {
			t.Fatalf("a poll got %d events, want 1", n)
		}
	}
	if ran := scripts() - before; ran != 1 {
		t.Fatalf("%d scripts ran for one publish fanned out to %d polls on another instance, want 1 (the append)", ran, polls)
	}
}
