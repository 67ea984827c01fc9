package longpoll

import (
	"testing"
	"time"
)

func newTestWaiter() *pollWaiter {
	w := new(pollWaiter)
	w.own = make(chan struct{}, 1)
	w.ch = w.own
	return w
}

// woken waits up to limit for w's signal and returns its reason, or -1.
func woken(w *pollWaiter, limit time.Duration) int {
	select {
	case <-w.ch:
		return int(w.reason.Load())
	case <-time.After(limit):
		return -1
	}
}

// Polls with different timeouts, added in any order, are each woken once
// their own timeout has passed and not before, the shorter first.
func TestDeadlinesWakeEachAtItsTimeout(t *testing.T) {
	d := newDeadlines()
	defer d.close()
	long, short := newTestWaiter(), newTestWaiter()
	other := newTestWaiter()
	other.shard = deadlineShards - 1 // another shard, another timer
	start := time.Now()
	d.add(other, 100*time.Millisecond)
	d.add(long, 300*time.Millisecond)
	d.add(short, 60*time.Millisecond) // earlier than the armed timer: re-arms it
	if why := woken(short, 5*time.Second); why != int(wokeTimeout) {
		t.Fatalf("short poll: woken with %d, want timeout", why)
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Fatalf("short poll woken after %v, before its 60ms timeout", el)
	}
	if why := woken(other, 5*time.Second); why != int(wokeTimeout) {
		t.Fatalf("poll of another shard: woken with %d, want timeout", why)
	}
	if why := woken(long, 5*time.Second); why != int(wokeTimeout) {
		t.Fatalf("long poll: woken with %d, want timeout", why)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("long poll woken after %v, before its 300ms timeout", el)
	}
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		n := len(sh.queues)
		sh.mu.Unlock()
		if n != 0 {
			t.Fatalf("shard %d: %d queues left after every poll timed out", i, n)
		}
	}
}

// A removed poll is never woken; the others of its queue still are, in
// order.
func TestDeadlinesRemove(t *testing.T) {
	d := newDeadlines()
	defer d.close()
	ws := []*pollWaiter{newTestWaiter(), newTestWaiter(), newTestWaiter()}
	for _, w := range ws {
		d.add(w, 50*time.Millisecond)
	}
	d.remove(ws[1]) // the middle of the queue
	d.remove(ws[1]) // a second remove does nothing
	for _, i := range []int{0, 2} {
		if why := woken(ws[i], 5*time.Second); why != int(wokeTimeout) {
			t.Fatalf("poll %d: woken with %d, want timeout", i, why)
		}
	}
	if why := woken(ws[1], 100*time.Millisecond); why != -1 {
		t.Fatalf("removed poll woken with %d", why)
	}
}

// Close ends the polls still queued (the Server is closing: a poll whose
// session it no longer lists must not wait for its client), an added poll
// is ended at once, and no timer fires.
func TestDeadlinesClosed(t *testing.T) {
	d := newDeadlines()
	queued := newTestWaiter()
	d.add(queued, 30*time.Millisecond)
	d.close()
	if why := woken(queued, time.Second); why != int(wokeEnded) {
		t.Fatalf("poll queued at close: woken with %d, want ended", why)
	}
	late := newTestWaiter()
	d.add(late, time.Minute)
	if why := woken(late, time.Second); why != int(wokeEnded) {
		t.Fatalf("poll added after close: woken with %d, want ended", why)
	}
	if why := woken(queued, 100*time.Millisecond); why != -1 {
		t.Fatalf("a closed deadlines' timer woke a poll with %d", why)
	}
}

// A poll's first reason sticks: an end after its timeout does not change
// why it was woken, and the second signal does not block.
func TestPollWaiterFirstReasonWins(t *testing.T) {
	w := newTestWaiter()
	w.wake(wokeTimeout)
	w.end()
	if why := woken(w, time.Second); why != int(wokeTimeout) {
		t.Fatalf("woken with %d, want timeout", why)
	}
}
