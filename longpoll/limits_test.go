package longpoll

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A client polling in a tight loop (timeout=0, nothing new) spends its idle
// budget and is told to wait; after waiting it may poll again.
func TestTightLoopPollerIsLimited(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{DisablePresence: true, Now: clock.Now, IdleLimit: Limit{Limit: 6, Period: time.Minute, Burst: 3}})
	o := h.open([]string{"room:a"}, "")
	// Three idle polls spend the burst; the fourth finds the bucket empty
	// after it was answered, so the session must wait before its next one.
	for i := range 4 {
		if status, _, body := h.poll(context.Background(), o.Token, o.Cursor, "0"); status != http.StatusOK {
			t.Fatalf("idle poll %d = %d %s", i, status, body)
		}
	}
	status, body, res := h.do(context.Background(), http.MethodGet, "/poll?timeout=0&cursor="+o.Cursor, o.Token, nil)
	if status != http.StatusTooManyRequests || problemCode(t, body) != "rate_limited" {
		t.Fatalf("tight-loop poll = %d %s, want 429 rate_limited", status, body)
	}
	wait, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || wait < 1 || wait > 10 {
		t.Fatalf("Retry-After = %q, want 1..10 s (one token per 10 s)", res.Header.Get("Retry-After"))
	}
	// Waiting as told is enough.
	clock.Advance(time.Duration(wait) * time.Second)
	if status, _, body := h.poll(context.Background(), o.Token, o.Cursor, "0"); status != http.StatusOK {
		t.Fatalf("poll after Retry-After = %d %s, want 200", status, body)
	}
}

// A healthy client re-polls after each answer; polls answered with events
// cost nothing, however many.
func TestHealthyPollerIsNeverLimited(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{DisablePresence: true, Now: clock.Now, IdleLimit: Limit{Limit: 1, Period: time.Hour, Burst: 1}})
	o := h.open([]string{"room:a"}, "")
	cursor := o.Cursor
	for i := range 50 {
		h.publish("room:a", "message", i)
		status, p, body := h.poll(context.Background(), o.Token, cursor, "")
		if status != http.StatusOK || len(p.Events) != 1 {
			t.Fatalf("poll %d = %d %s, want the event", i, status, body)
		}
		cursor = p.Cursor
	}
}

// Replaying one cursor, answered with the same events each time, is not
// progress: it costs like an idle poll.
func TestReplayingPollerIsLimited(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{DisablePresence: true, Now: clock.Now, IdleLimit: Limit{Limit: 1, Period: time.Hour, Burst: 2}})
	o := h.open([]string{"room:a"}, "")
	h.publish("room:a", "message", 1)
	var statuses []int
	for range 5 {
		status, _, _ := h.poll(context.Background(), o.Token, o.Cursor, "")
		statuses = append(statuses, status)
	}
	if statuses[0] != 200 || statuses[len(statuses)-1] != http.StatusTooManyRequests {
		t.Fatalf("replaying polls answered %v, want 200 first and 429 in the end", statuses)
	}
}

// Sends beyond the burst are refused with 429, the IETF fields and a
// Retry-After, and publish nothing.
func TestSendLimit(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{DisablePresence: true, Now: clock.Now, SendLimit: Limit{Limit: 1, Period: time.Second, Burst: 3}})
	o := h.open([]string{"room:a"}, "")
	for i := range 3 {
		status, body, res := h.do(context.Background(), http.MethodPost, "/send", o.Token, msg("room:a", "message", "m_limit000"+strconv.Itoa(i), i))
		if status != http.StatusOK {
			t.Fatalf("send %d = %d %s", i, status, body)
		}
		if want := `"sends";r=` + strconv.Itoa(2-i); !strings.HasPrefix(res.Header.Get("RateLimit"), want) || res.Header.Get("RateLimit-Policy") != `"sends";q=3;w=3` {
			t.Fatalf("send %d fields: RateLimit %q, RateLimit-Policy %q; want %s…, \"sends\";q=3;w=3", i, res.Header.Get("RateLimit"), res.Header.Get("RateLimit-Policy"), want)
		}
	}
	status, body, res := h.do(context.Background(), http.MethodPost, "/send", o.Token, msg("room:a", "message", "m_limit0009", 9))
	if status != http.StatusTooManyRequests || problemCode(t, body) != "rate_limited" || res.Header.Get("Retry-After") != "1" || res.Header.Get("RateLimit") != `"sends";r=0;t=1` {
		t.Fatalf("send over the limit = %d %s, Retry-After %q, RateLimit %q; want 429, 1, \"sends\";r=0;t=1", status, body, res.Header.Get("Retry-After"), res.Header.Get("RateLimit"))
	}
	if _, p, _ := h.poll(context.Background(), o.Token, o.Cursor, "0"); len(p.Events) != 3 {
		t.Fatalf("%d events published, want the 3 allowed sends only", len(p.Events))
	}
	clock.Advance(time.Second)
	if status, body := h.send(o.Token, msg("room:a", "message", "m_limit0009", 9)); status != http.StatusOK {
		t.Fatalf("send after a second = %d %s", status, body)
	}
}
