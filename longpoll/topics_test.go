package longpoll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A full topic table makes room by reclaiming topics that nobody follows
// and that hold only presence or expired events; topics with messages or
// subscribers stay (issue 8, item 3).
func TestMemoryReclaimsDisposableTopicsWhenFull(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	m := newTestMemory(t, MemoryConfig{MaxTopics: 4, Now: clock})
	ctx := context.Background()
	start, _ := m.Head(ctx)
	mustAppend(t, m, "presence-only", TypePresence, `{"action":"join"}`)
	mustAppend(t, m, "messages", TypeMessage, "1")
	if _, err := m.Append(ctx, Draft{Topic: "typing", Type: "typing", TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, m, "followed", TypePresence, `{"action":"join"}`)
	sub, err := m.Subscribe([]string{"followed"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	now = now.Add(2 * time.Second) // the typing event has expired

	if _, err := m.Append(ctx, Draft{Topic: "new-1", Type: TypeMessage}); err != nil {
		t.Fatalf("append to a new topic with a full table of disposable topics: %v", err)
	}
	for topic, want := range map[string]bool{"presence-only": false, "typing": false, "messages": true, "followed": true, "new-1": true} {
		if got := m.lookup(topic) != nil; got != want {
			t.Errorf("after reclaiming, topic %s held = %v, want %v", topic, got, want)
		}
	}
	// The lost presence history is a reset for a reader from before it.
	if b := mustRead(t, m, []string{"presence-only"}, start, 0); !b.Reset {
		t.Error("read of a reclaimed presence topic from before its events: no reset")
	}
	// With a room left, the next new topic is created at once; then the
	// table is full of topics a reader needs, and stays full.
	if _, err := m.Append(ctx, Draft{Topic: "new-2", Type: TypeMessage}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * reclaimEvery)
	if _, err := m.Append(ctx, Draft{Topic: "new-3", Type: TypeMessage}); !errors.Is(err, ErrTooManyTopics) {
		t.Fatalf("append to a new topic with a table full of messages: %v, want ErrTooManyTopics", err)
	}
	if _, err := m.Subscribe([]string{"new-4"}); !errors.Is(err, ErrTooManyTopics) {
		t.Fatalf("subscribe to a new topic with a full table: %v, want ErrTooManyTopics", err)
	}
}

// A full table is 503 too_many_topics with Retry-After on poll and send —
// a condition to retry, not the "do not retry" 400 bad_topic.
func TestTopicTableFullIs503(t *testing.T) {
	buf := NewMemory(MemoryConfig{MaxTopics: 2})
	t.Cleanup(func() { buf.Close() })
	h := newHarness(t, Config{DisablePresence: true, Buffer: buf})
	holder := h.open([]string{"a", "b"}, "")
	h.publish("a", TypeMessage, 1)
	h.publish("b", TypeMessage, 1)
	_ = holder
	late := h.open([]string{"c"}, "")
	status, body, res := h.do(context.Background(), http.MethodGet, "/poll?timeout=0&cursor="+late.Cursor, late.Token, nil)
	if status != http.StatusServiceUnavailable || problemCode(t, body) != "too_many_topics" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("poll of a new topic with a full table = %d %s, want 503 too_many_topics with Retry-After", status, body)
	}
	status, body = h.send(late.Token, msg("c", TypeMessage, "m_fulltable", 1))
	if status != http.StatusServiceUnavailable || problemCode(t, body) != "too_many_topics" {
		t.Fatalf("send to a new topic with a full table = %d %s, want 503 too_many_topics", status, body)
	}
}

// One session may create only TopicLimit new topics by sending; sends to
// topics that exist are not charged.
func TestSendTopicCreationLimit(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true, SendLimit: Limit{Off: true}, TopicLimit: Limit{Limit: 3, Period: time.Hour, Burst: 3}})
	o := h.open([]string{"room:a"}, "")
	h.publish("room:a", TypeMessage, 1) // room:a exists
	for i := range 3 {
		if status, body := h.send(o.Token, msg(fmt.Sprintf("new:%d", i), TypeMessage, fmt.Sprintf("m_newtopic%d", i), 1)); status != http.StatusOK {
			t.Fatalf("send %d to a new topic = %d %s", i, status, body)
		}
	}
	status, body, res := h.do(context.Background(), http.MethodPost, "/send", o.Token, msg("new:3", TypeMessage, "m_newtopic3", 1))
	if status != http.StatusTooManyRequests || problemCode(t, body) != "rate_limited" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a fourth new topic = %d %s, want 429 rate_limited with Retry-After", status, body)
	}
	for i := range 5 {
		if status, body := h.send(o.Token, msg("room:a", TypeMessage, fmt.Sprintf("m_existing%d", i), 1)); status != http.StatusOK {
			t.Fatalf("send %d to an existing topic over the topic limit = %d %s, want 200", i, status, body)
		}
	}
	// Another session has its own allowance.
	other := h.open([]string{"room:a"}, "")
	if status, body := h.send(other.Token, msg("new:3", TypeMessage, "m_othersess", 1)); status != http.StatusOK {
		t.Fatalf("another session's new topic = %d %s, want 200", status, body)
	}
}
