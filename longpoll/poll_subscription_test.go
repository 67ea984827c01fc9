package longpoll

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

// tickingClock moves one microsecond at every reading, so that an event
// with a TTL of a nanosecond has expired by the next reading: a reader
// woken by it finds nothing to deliver.
type tickingClock struct{ n atomic.Int64 }

func (c *tickingClock) Now() time.Time {
	return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).Add(time.Duration(c.n.Add(1)) * time.Microsecond)
}

// A held poll woken by an append that brings it nothing (an event expired
// by the time it reads) waits again, registered again: the next event
// reaches it. Its subscription is one-shot, and the notify that woke it
// unregistered it.
func TestHeldPollWokenForNothingIsWokenAgain(t *testing.T) {
	clock := &tickingClock{}
	h := newHarness(t, Config{DisablePresence: true, Now: clock.Now})
	o := h.open([]string{"room:a"}, "")
	res := h.pollAsync(context.Background(), o.Token, o.Cursor, "5000")
	eventually(t, "the poll to be held", func() bool { return heldPolls(h.lp, "room:a") == 1 })

	if _, err := h.lp.PublishDraft(context.Background(), Draft{Topic: "room:a", Type: "message", Data: json.RawMessage(`"gone"`), TTL: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	// The publish took the subscription; the poll, finding nothing, has
	// registered again once it counts as waiting.
	eventually(t, "the poll to wait again", func() bool { return heldPolls(h.lp, "room:a") == 1 })
	select {
	case r := <-res:
		t.Fatalf("the poll answered the expired event: %d %s", r.status, r.body)
	default:
	}
	kept := h.publish("room:a", "message", "kept")
	select {
	case r := <-res:
		if r.status != 200 || len(r.resp.Events) != 1 || r.resp.Events[0].ID != kept.ID.String() {
			t.Fatalf("poll = %d %s, want the event %s", r.status, r.body, kept.ID)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the poll was not woken by the event after the expired one")
	}
}

// A one-shot subscription leaves its topic's waiter set when a notify
// signals it, while an ordinary one stays; registering it again puts it
// back, and closing it then takes it out.
func TestOneShotSubscriptionTakenByNotify(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{})
	once, err := m.subscribeOnce([]string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	stays, err := m.Subscribe([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	defer stays.Close()
	count := func(topic string) int64 { return m.lookup(topic).waiters.Load().count.Load() }
	if count("a") != 2 || count("b") != 1 {
		t.Fatalf("registered: a %d, b %d; want 2 and 1", count("a"), count("b"))
	}
	mustAppend(t, m, "a", "message", `1`)
	<-once.C()
	<-stays.C()
	// Taken from a, but still counted there until the poll is done with it.
	if count("a") != 2 || count("b") != 1 {
		t.Fatalf("after a notify of a: a %d, b %d; want 2 (one taken, not released) and 1", count("a"), count("b"))
	}
	if once.sets[0].w.registered(once, 0) || !once.sets[1].w.registered(once, 1) {
		t.Fatal("the one-shot subscription must be unregistered from a only")
	}
	if again := m.resubscribe(once); !again {
		t.Fatal("resubscribe = false; want true (registered again with a)")
	}
	if again := m.resubscribe(once); again {
		t.Fatal("resubscribe, registered everywhere = true; want false")
	}
	if count("a") != 2 || count("b") != 1 {
		t.Fatalf("registered again: a %d, b %d; want 2 and 1", count("a"), count("b"))
	}
	mustAppend(t, m, "b", "message", `2`)
	<-once.C()
	once.Close() // unregistered from b already, registered with a
	if count("a") != 1 || count("b") != 0 {
		t.Fatalf("after Close: a %d, b %d; want 1 and 0", count("a"), count("b"))
	}
}

// A topic whose notify took a one-shot subscription is not dropped while
// that subscription's poll still reads it, even with nothing retained and
// nobody else registered: dropping it would lose the topic's later events
// to the poll (or, with its events evicted, answer it with a reset). Once
// the poll closes its subscription, the sweep drops the topic.
func TestSweepKeepsATopicAWokenPollStillReads(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{Now: clock.Now, MaxAge: time.Minute})
	once, err := m.subscribeOnce([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	kept := m.lookup("a")
	mustAppend(t, m, "a", "message", `1`)
	<-once.C()
	clock.Advance(2 * time.Minute) // the event expires: nothing retained
	m.Sweep()
	if m.lookup("a") != kept {
		t.Fatal("the sweep dropped a topic whose woken poll had not released its subscription")
	}
	if !m.resubscribe(once) {
		t.Fatal("resubscribe = false; want true (the notify took the subscription)")
	}
	mustAppend(t, m, "a", "message", `2`)
	select {
	case <-once.C():
	case <-time.After(3 * time.Second):
		t.Fatal("an append after registering again did not signal the subscription")
	}
	once.Close()
	clock.Advance(2 * time.Minute)
	m.Sweep()
	if m.lookup("a") != nil {
		t.Fatal("the sweep kept an idle topic nobody follows")
	}
}
