package longpoll

import (
	"sync"
	"sync/atomic"
	"time"
)

// A topic holds the retained events of one topic in a ring, oldest first,
// and the subscriptions waiting on it. Sequence numbers and storage times
// only grow along the ring, so seeks are binary searches.
type topic struct {
	name string

	mu   sync.RWMutex
	ring []*Event // ring[(head+i)%len(ring)] is the i-th oldest; grows up to limit
	head int
	n    int
	// limit is the most events the topic retains (MaxEventsPerTopic). The
	// ring starts small and doubles up to it, so quiet topics stay cheap.
	limit int
	// lost is the highest sequence number of a durable event that left the
	// ring (evicted by count, expired by age, or lost with a dropped topic).
	// A cursor below it cannot be honoured.
	lost uint64
	// lostCause is why the event numbered lost left (ResetEvicted or
	// ResetExpired), for metrics.
	lostCause ResetCause
	// last is the sequence number of the newest event ever appended.
	last uint64
	// lastAt is the storage time of the newest event; storage times are kept
	// monotonic so that age expiry removes a prefix.
	lastAt time.Time
	// waiters is created on the first subscription and kept while the
	// topic lives; its own locks, not mu, guard its contents.
	waiters atomic.Pointer[waiters]
	// dropped is set when the sweep removes the topic from its shard;
	// writers that still hold a pointer to it must look it up again.
	dropped bool
	// oldest is the sequence number of the oldest retained event, 0 when
	// there is none; written under mu, read without it by the byte budget.
	oldest atomic.Uint64
	// use counts the retained events and bytes of the whole Memory.
	use *usage
}

// initialRing is the ring size of a new topic.
const initialRing = 8

func newTopic(name string, limit int, lost uint64, use *usage) *topic {
	return &topic{name: name, ring: make([]*Event, min(initialRing, limit)), limit: limit, lost: lost, use: use}
}

// noteOldest records the oldest retained event's sequence number after the
// ring changed. The caller holds t.mu for writing.
func (t *topic) noteOldest() {
	if t.n == 0 {
		t.oldest.Store(0)
	} else {
		t.oldest.Store(t.at(0).ID.Seq)
	}
}

// at returns the i-th oldest retained event.
func (t *topic) at(i int) *Event {
	return t.ring[(t.head+i)%len(t.ring)]
}

// push appends e, growing the ring up to its limit and then evicting the
// oldest event. The caller holds t.mu for writing.
func (t *topic) push(e *Event) {
	if t.n == len(t.ring) {
		if len(t.ring) < t.limit {
			t.grow()
		} else {
			t.dropOldest(ResetEvicted)
		}
	}
	t.ring[(t.head+t.n)%len(t.ring)] = e
	t.n++
	t.last = e.ID.Seq
	t.lastAt = e.Time
	t.use.bytes.Add(e.size())
	t.use.events.Add(1)
	if t.n == 1 {
		t.noteOldest()
	}
}

// grow doubles the ring, capped at the limit, oldest event first.
func (t *topic) grow() {
	bigger := make([]*Event, min(2*len(t.ring), t.limit))
	for i := range t.n {
		bigger[i] = t.at(i)
	}
	t.ring, t.head = bigger, 0
}

// dropOldest removes the oldest event, recording its loss, and why, if it
// was durable.
func (t *topic) dropOldest(why ResetCause) {
	old := t.at(0)
	if old.TTL == 0 && old.ID.Seq > t.lost {
		t.lost, t.lostCause = old.ID.Seq, why
	}
	t.ring[t.head] = nil
	t.head = (t.head + 1) % len(t.ring)
	t.n--
	t.use.bytes.Add(-old.size())
	t.use.events.Add(-1)
	t.noteOldest()
}

// evictThrough drops the retained events up to seq, oldest first, for the
// byte budget, recording the loss of durable ones. The caller holds t.mu
// for writing.
func (t *topic) evictThrough(seq uint64) {
	for t.n > 0 && t.at(0).ID.Seq <= seq {
		t.dropOldest(ResetEvicted)
	}
}

// expired returns how many of the oldest events are older than cutoff.
func (t *topic) expired(cutoff time.Time) int {
	lo, hi := 0, t.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t.at(mid).Time.Before(cutoff) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// dropExpired removes events older than cutoff. The caller holds t.mu for
// writing.
func (t *topic) dropExpired(cutoff time.Time) {
	if t.n == 0 || !t.at(0).Time.Before(cutoff) {
		return // the common case on every append: nothing has expired
	}
	for k := t.expired(cutoff); k > 0; k-- {
		t.dropOldest(ResetExpired)
	}
}

// lostAt returns the highest durable sequence number that a reader at time
// now must consider lost, and why it was: what left the ring, and what is
// still in it but older than cutoff (age expiry is applied lazily, so reads
// judge it without modifying the ring under a read lock).
func (t *topic) lostAt(cutoff time.Time) (uint64, ResetCause) {
	lost, why := t.lost, t.lostCause
	for i := t.expired(cutoff) - 1; i >= 0; i-- {
		if e := t.at(i); e.TTL == 0 {
			if e.ID.Seq > lost {
				lost, why = e.ID.Seq, ResetExpired
			}
			break
		}
	}
	return lost, why
}

// search returns the index of the oldest retained event after seq.
func (t *topic) search(seq uint64) int {
	lo, hi := 0, t.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t.at(mid).ID.Seq <= seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// waiterSet returns the topic's waiter set, created on first use. The
// caller holds t.mu (for reading at least), so that the sweep cannot drop
// the topic meanwhile.
func (t *topic) waiterSet() *waiters {
	if w := t.waiters.Load(); w != nil {
		return w
	}
	t.waiters.CompareAndSwap(nil, new(waiters))
	return t.waiters.Load()
}

// notify wakes the topic's waiters. It needs no topic lock: a waiter
// registers before it reads, so it either is registered in time for this
// signal or reads after the append it would signal.
func (t *topic) notify() {
	if w := t.waiters.Load(); w != nil {
		w.notify()
	}
}

// idle reports whether the topic can be dropped: nothing retained and no
// subscribers. The caller holds t.mu.
func (t *topic) idle() bool {
	w := t.waiters.Load()
	return t.n == 0 && (w == nil || w.count.Load() == 0)
}

// disposable reports whether the topic may be reclaimed when the topic
// table is full: nobody is subscribed, and every retained event is a
// presence event or past its TTL or age. The caller holds t.mu.
func (t *topic) disposable(now, cutoff time.Time) bool {
	if w := t.waiters.Load(); w != nil && w.count.Load() > 0 {
		return false
	}
	for i := range t.n {
		if e := t.at(i); e.Type != TypePresence && !e.Expired(now) && !e.Time.Before(cutoff) {
			return false
		}
	}
	return true
}
