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
	if count("a") != 1 || count("b") != 1 {
		t.Fatalf("after a notify of a: a %d, b %d; want 1 (the ordinary one) and 1", count("a"), count("b"))
	}
	if once.sets[0].w.registered(once, 0) || !once.sets[1].w.registered(once, 1) {
		t.Fatal("the one-shot subscription must be unregistered from a only")
	}
	if again, err := m.resubscribe(once); err != nil || !again {
		t.Fatalf("resubscribe = %v, %v; want true (registered again with a)", again, err)
	}
	if again, err := m.resubscribe(once); err != nil || again {
		t.Fatalf("resubscribe, registered everywhere = %v, %v; want false", again, err)
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

// A topic that the sweep drops between the notify that took a one-shot
// subscription and its registering again (nobody registered, its events
// expired) is replaced by the topic of that name: appends to it signal
// the subscription.
func TestOneShotSubscriptionFollowsARecreatedTopic(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{Now: clock.Now, MaxAge: time.Minute})
	once, err := m.subscribeOnce([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	defer once.Close()
	old := m.lookup("a")
	mustAppend(t, m, "a", "message", `1`)
	<-once.C()
	clock.Advance(2 * time.Minute)
	m.Sweep()
	if m.lookup("a") != nil {
		t.Fatal("the sweep kept the idle topic")
	}
	if _, err := m.resubscribe(once); err != nil {
		t.Fatal(err)
	}
	if now := m.lookup("a"); now == nil || now == old || once.sets[0].t != now {
		t.Fatal("the subscription must follow the topic created again")
	}
	mustAppend(t, m, "a", "message", `2`)
	select {
	case <-once.C():
	case <-time.After(3 * time.Second):
		t.Fatal("an append to the topic created again did not signal the subscription")
	}
}
