package longpoll

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// eventually waits for cond, checking it often, and fails after 5 s. It
// waits on state, not on the passage of time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// heldPolls counts the subscriptions on a topic of the Server's Memory buffer:
// one per held poll.
func heldPolls(lp *Server, topic string) int {
	t := lp.buf.(*Memory).lookup(topic)
	if t == nil {
		return 0
	}
	w := t.waiters.Load()
	if w == nil {
		return 0
	}
	return int(w.count.Load())
}

type pollResult struct {
	status int
	resp   pollResponse
	body   []byte
}

func (h *harness) pollAsync(ctx context.Context, token, cursor, timeout string) <-chan pollResult {
	ch := make(chan pollResult, 1)
	go func() {
		status, resp, body := h.poll(ctx, token, cursor, timeout)
		ch <- pollResult{status, resp, body}
	}()
	return ch
}

func TestPollAnswersAtOnceWithWaitingEvents(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a", "news"}, "")
	h.publish("room:a", "message", "one")
	h.publish("other", "message", "not followed")
	h.publish("news", "notification", "two")
	status, p, body := h.poll(context.Background(), o.Token, o.Cursor, "")
	if status != http.StatusOK || len(p.Events) != 2 {
		t.Fatalf("poll = %d %s, want 200 with 2 events", status, body)
	}
	if p.Events[0].Topic != "room:a" || p.Events[1].Topic != "news" || p.Cursor != p.Events[1].ID {
		t.Fatalf("poll = %s, want room:a then news, cursor at the last", body)
	}
}

func TestHeldPollReleasedByPublish(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	res := h.pollAsync(context.Background(), o.Token, o.Cursor, "")
	eventually(t, "the poll to be held", func() bool { return heldPolls(h.lp, "room:a") == 1 })
	h.publish("other", "message", 1) // not followed: must not release it
	e := h.publish("room:a", "message", 2)
	r := <-res
	if r.status != http.StatusOK || len(r.resp.Events) != 1 || r.resp.Events[0].ID != e.ID.String() {
		t.Fatalf("held poll = %d %s, want the published event", r.status, r.body)
	}
	eventually(t, "the poll to let go", func() bool { return heldPolls(h.lp, "room:a") == 0 })
}

// Stats counts a poll as held while it waits, and not while it is
// answered at once.
func TestStatsCountHeldPolls(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	h.publish("room:a", "message", 1)
	if status, p, body := h.poll(context.Background(), o.Token, o.Cursor, ""); status != http.StatusOK || len(p.Events) != 1 {
		t.Fatalf("poll = %d %s, want the waiting event", status, body)
	} else {
		o.Cursor = p.Cursor
	}
	if n := h.lp.Stats().HeldPolls; n != 0 {
		t.Fatalf("after a poll answered at once, %d held polls, want 0: it never waited", n)
	}
	res := h.pollAsync(context.Background(), o.Token, o.Cursor, "")
	eventually(t, "the poll to be counted held", func() bool { return h.lp.Stats().HeldPolls == 1 })
	h.publish("room:a", "message", 2)
	if r := <-res; r.status != http.StatusOK || len(r.resp.Events) != 1 {
		t.Fatalf("held poll = %d %s, want the published event", r.status, r.body)
	}
	eventually(t, "the answered poll to leave the count", func() bool { return h.lp.Stats().HeldPolls == 0 })
}

func TestHeldPollTimesOut(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	began := time.Now()
	status, p, body := h.poll(context.Background(), o.Token, o.Cursor, "50")
	if status != http.StatusOK || len(p.Events) != 0 || p.Cursor != o.Cursor {
		t.Fatalf("timed-out poll = %d %s, want 200, no events, the same cursor", status, body)
	}
	if waited := time.Since(began); waited < 50*time.Millisecond {
		t.Fatalf("poll returned after %v, before its 50 ms timeout", waited)
	}
	if status, p, _ := h.poll(context.Background(), o.Token, o.Cursor, "0"); status != http.StatusOK || len(p.Events) != 0 {
		t.Fatalf("timeout=0 poll = %d, want an immediate empty 200", status)
	}
}

func TestPollTimeoutCappedAtConfig(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true, PollTimeout: 30 * time.Millisecond})
	o := h.open([]string{"room:a"}, "")
	// Beyond 32 bits and beyond 64 bits: large values are capped, never refused.
	for _, timeout := range []string{"600000", "4294967296", "99999999999999999999999"} {
		began := time.Now()
		if status, _, body := h.poll(context.Background(), o.Token, o.Cursor, timeout); status != http.StatusOK {
			t.Fatalf("poll with timeout=%s: %d %s, want 200", timeout, status, body)
		}
		if waited := time.Since(began); waited > 5*time.Second {
			t.Fatalf("a timeout=%s request was held %v; the configured 30 ms should cap it", timeout, waited)
		}
	}
}

func TestNewerPollSupersedesHeldPoll(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	first := h.pollAsync(context.Background(), o.Token, o.Cursor, "")
	eventually(t, "the first poll to be held", func() bool { return heldPolls(h.lp, "room:a") == 1 })
	second := h.pollAsync(context.Background(), o.Token, o.Cursor, "")
	r := <-first
	if r.status != http.StatusOK || !r.resp.Superseded || len(r.resp.Events) != 0 {
		t.Fatalf("superseded poll = %d %s, want 200 superseded", r.status, r.body)
	}
	eventually(t, "the second poll to be held", func() bool { return heldPolls(h.lp, "room:a") == 1 })
	h.publish("room:a", "message", 1)
	if r := <-second; r.status != http.StatusOK || len(r.resp.Events) != 1 {
		t.Fatalf("second poll = %d %s, want the event", r.status, r.body)
	}
}

func TestClientDisconnectEndsHeldPoll(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	ctx, cancel := context.WithCancel(context.Background())
	res := h.pollAsync(ctx, o.Token, o.Cursor, "")
	eventually(t, "the poll to be held", func() bool { return heldPolls(h.lp, "room:a") == 1 })
	cancel()
	<-res
	eventually(t, "the handler to notice the disconnect", func() bool { return heldPolls(h.lp, "room:a") == 0 })
}

func TestShutdownReleasesHeldPolls(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	var results []<-chan pollResult
	for range 3 {
		o := h.open([]string{"room:a"}, "")
		results = append(results, h.pollAsync(context.Background(), o.Token, o.Cursor, ""))
	}
	eventually(t, "3 polls to be held", func() bool { return heldPolls(h.lp, "room:a") == 3 })
	began := time.Now()
	h.lp.Close()
	for _, res := range results {
		r := <-res
		if r.status != http.StatusServiceUnavailable || problemCode(t, r.body) != "shutting_down" {
			t.Fatalf("poll at shutdown = %d %s, want 503 shutting_down", r.status, r.body)
		}
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("held polls took %v to end at shutdown", took)
	}
	status, body, res := h.do(context.Background(), http.MethodGet, "/poll?cursor=a.1", "t_x", nil)
	if status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("poll after shutdown = %d %s Retry-After=%q, want 503 with Retry-After 1", status, body, res.Header.Get("Retry-After"))
	}
}

func TestPollErrors(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	tests := []struct {
		name, token, cursor, timeout string
		status                       int
		code                         string
	}{
		{"malformed cursor", o.Token, "not-a-cursor", "", 400, "bad_cursor"},
		{"missing cursor", o.Token, "", "", 400, "bad_cursor"},
		{"bad timeout", o.Token, o.Cursor, "-5", 400, "bad_timeout"},
		{"timeout not a number", o.Token, o.Cursor, "1s", 400, "bad_timeout"},
		{"no token", "", o.Cursor, "", 401, "unknown_token"},
		{"unknown token", "t_forged", o.Cursor, "", 401, "unknown_token"},
	}
	for _, tt := range tests {
		status, _, body := h.poll(context.Background(), tt.token, tt.cursor, tt.timeout)
		if status != tt.status || problemCode(t, body) != tt.code {
			t.Errorf("%s: poll = %d %s, want %d %s", tt.name, status, body, tt.status, tt.code)
		}
	}
}

func TestPollResetOnOtherEpoch(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	h.publish("room:a", "message", 1)
	status, p, body := h.poll(context.Background(), o.Token, "otherepoch.3", "")
	head, _ := h.lp.buf.Head(context.Background())
	if status != http.StatusOK || !p.Reset || len(p.Events) != 0 || p.Cursor != head.String() {
		t.Fatalf("poll with another epoch's cursor = %d %s, want 200 reset to %v", status, body, head)
	}
}

func TestOpenErrorsAndResume(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true, Authorize: func(_ *gin.Context, _, topic string, _ Action) error {
		if topic == "secret" {
			return errors.New("members only")
		}
		return nil
	}})
	for _, tt := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"topics": []string{"secret"}}, 403, "forbidden_topic"},
		{map[string]any{"topics": []string{"bad topic"}}, 400, "bad_topic"},
		{map[string]any{"topics": []string{"a"}, "cursor": "x"}, 400, "bad_cursor"},
		{map[string]any{"topics": []string{"a"}, "meta": []int{1}}, 400, "bad_request"},
	} {
		status, body, _ := h.do(context.Background(), http.MethodPost, "/open", "", tt.body)
		if status != tt.status || problemCode(t, body) != tt.code {
			t.Errorf("open %v = %d %s, want %d %s", tt.body, status, body, tt.status, tt.code)
		}
	}
	first := h.open([]string{"a"}, "")
	h.publish("a", "message", 1)
	resumed := h.open([]string{"a"}, first.Cursor)
	if resumed.Reset || resumed.Cursor != first.Cursor {
		t.Fatalf("open resuming a covered cursor = %+v, want the same cursor, no reset", resumed)
	}
	stale := h.open([]string{"a"}, "elsewhere.9")
	if !stale.Reset || stale.Cursor == "elsewhere.9" {
		t.Fatalf("open resuming another epoch = %+v, want a reset to the head", stale)
	}
}

func TestSessionExpiresAfterIdleTTL(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{SessionTTL: time.Minute, Now: clock.Now})
	watcher := h.open([]string{"room:a"}, "")
	leaver := h.open([]string{"room:a"}, "")
	clock.Advance(50 * time.Second)
	if status, _, _ := h.poll(context.Background(), watcher.Token, watcher.Cursor, "0"); status != http.StatusOK {
		t.Fatalf("poll within the TTL = %d", status)
	}
	clock.Advance(20 * time.Second) // leaver idle 70 s, watcher 20 s
	h.lp.Sweep()
	if status, _, body := h.poll(context.Background(), leaver.Token, leaver.Cursor, "0"); status != http.StatusUnauthorized {
		t.Fatalf("poll after the TTL = %d %s, want 401", status, body)
	}
	_, p, _ := h.poll(context.Background(), watcher.Token, watcher.Cursor, "0")
	var actions []string
	for _, e := range p.Events {
		if e.Type == TypePresence && e.From == leaver.ClientID {
			var d presenceData
			mustUnmarshal(t, e.Data, &d)
			actions = append(actions, d.Action)
		}
	}
	if len(actions) != 2 || actions[0] != "join" || actions[1] != "leave" {
		t.Fatalf("presence of the expired client = %v, want [join leave]", actions)
	}
	if n := h.lp.Stats().Sessions; n != 1 {
		t.Fatalf("%d sessions live, want 1", n)
	}
}

// A poll answer is framed by Content-Length, however large its batch:
// net/http alone would chunk one larger than its 2 KiB header buffer, and
// clients and proxies expect the length (a load client that reads raw
// HTTP/1.1 requires it).
func TestPollAnswerHasContentLength(t *testing.T) {
	h := newHarness(t, Config{})
	o := h.open([]string{"room:a"}, "")
	text := strings.Repeat("x", 200)
	for range 40 { // ~10 KB of events
		h.publish("room:a", "message", map[string]string{"text": text})
	}
	status, body, res := h.do(context.Background(), http.MethodGet, "/poll?cursor="+url.QueryEscape(o.Cursor), o.Token, nil)
	if status != http.StatusOK {
		t.Fatalf("poll: %d %s", status, body)
	}
	if len(body) < 8<<10 {
		t.Fatalf("the answer is %d bytes, want a batch over 8 KiB", len(body))
	}
	if res.ContentLength != int64(len(body)) || len(res.TransferEncoding) > 0 {
		t.Fatalf("Content-Length %d, Transfer-Encoding %v, for a %d-byte body", res.ContentLength, res.TransferEncoding, len(body))
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", got)
	}
}

// The Content-Length values of short answers are shared: equal for equal
// lengths, right, and one long, so that nothing appends to a shared one.
func TestContentLengthValues(t *testing.T) {
	for _, n := range []int{0, 9, 194, cachedLengths - 1, cachedLengths, 1 << 20} {
		v := contentLength(n)
		if len(v) != 1 || cap(v) != 1 || v[0] != strconv.Itoa(n) {
			t.Fatalf("contentLength(%d) = %q (cap %d)", n, v, cap(v))
		}
		if again := contentLength(n); n < cachedLengths && &again[0] != &v[0] {
			t.Fatalf("contentLength(%d) made a second value", n)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { contentLength(194) }); allocs != 0 {
		t.Fatalf("a cached length allocates %v times", allocs)
	}
}
