package longpoll

import (
	"sync"
	"sync/atomic"
)

// waiterShards spreads a topic's subscriptions over independently locked
// sets, so that thousands of waiters leaving a topic at once after a
// fan-out — each unregistering itself — do not queue on one lock.
const waiterShards = 32

// waiters is the set of subscriptions waiting on one topic. A topic creates
// it on its first subscription, so that quiet topics stay small.
//
// Each shard keeps its subscriptions in a slice, and each subscription
// its position there: adding and removing are O(1) (a removal moves the
// last one into the gap), and notify copies a shard with one memmove
// instead of walking a map.
type waiters struct {
	count  atomic.Int64
	shards [waiterShards]waiterShard
}

type waiterShard struct {
	mu   sync.Mutex
	subs []waiting
}

// waiting is a subscription in a shard, with the index of the set in the
// subscription's sets, to find its position when it is moved.
type waiting struct {
	s   *subscription
	set int
}

// add registers s, whose i-th set w is.
func (w *waiters) add(s *subscription, i int) {
	sh := &w.shards[s.shard]
	sh.mu.Lock()
	s.slots[i] = int32(len(sh.subs))
	sh.subs = append(sh.subs, waiting{s, i})
	sh.mu.Unlock()
	w.count.Add(1)
}

// remove unregisters s, whose i-th set w is, if it is registered.
func (w *waiters) remove(s *subscription, i int) {
	sh := &w.shards[s.shard]
	sh.mu.Lock()
	if at := s.slots[i]; at >= 0 {
		last := len(sh.subs) - 1
		if moved := sh.subs[last]; int(at) != last {
			sh.subs[at] = moved
			moved.s.slots[moved.set] = at
		}
		sh.subs[last] = waiting{}
		sh.subs = sh.subs[:last]
		s.slots[i] = -1
		w.count.Add(-1)
	}
	sh.mu.Unlock()
}

// notify signals every subscription without blocking: a full channel
// already holds a pending signal.
//
// It copies each shard's subscriptions under the shard's lock and signals
// them after releasing it. Held polls woken by a signal close their
// subscription at once, on the other cores, and would otherwise queue on
// the lock that the fan-out holds for the whole shard (in a fan-out to
// 10 000 polls this was the whole of the server's lock contention). A
// subscription closed meanwhile may so take one last signal; every waiter
// takes a signal as "read again", so a stale one costs a read.
func (w *waiters) notify() {
	if w.count.Load() == 0 {
		return
	}
	buf := notifyBufs.Get().(*[]waiting)
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		*buf = append(*buf, sh.subs...)
		sh.mu.Unlock()
		for _, s := range *buf {
			s.s.signal()
		}
		clear(*buf) // keep no subscription alive from the pool
		*buf = (*buf)[:0]
	}
	notifyBufs.Put(buf)
}

// notifyBufs are notify's copies of one shard's subscriptions.
var notifyBufs = sync.Pool{New: func() any { return new([]waiting) }}

// subscription is Memory's Subscription: one channel registered in the
// waiter set of each of its topics.
type subscription struct {
	ch     chan struct{}
	shard  uint32
	closed atomic.Bool
	sets   []*waiters
	// slots[i] is the subscription's position in its shard of sets[i]
	// (-1 once removed), guarded by that shard's lock; its length is fixed
	// at the number of topics, so that no lock guards the slice itself.
	slots []int32
	// topics[i] is the topic of sets[i], for Memory's reads (nil for a
	// Hub's): a read needs no lookup by name.
	topics []*topic
	// The arrays of sets, slots and topics for one topic, the common
	// case: no further allocation.
	one     [1]*waiters
	oneSlot [1]int32
	oneT    [1]*topic
}

// nextShard deals subscriptions round-robin over the shards.
var nextShard atomic.Uint32

func newSubscription(ntopics int) *subscription {
	if ntopics <= 1 {
		if s, ok := oneTopicSubs.Get().(*subscription); ok {
			return s
		}
	}
	s := &subscription{ch: make(chan struct{}, 1), shard: nextShard.Add(1) % waiterShards}
	if ntopics <= len(s.one) {
		s.sets, s.slots, s.topics = s.one[:0], s.oneSlot[:ntopics], s.oneT[:0]
	} else {
		s.sets, s.slots, s.topics = make([]*waiters, 0, ntopics), make([]int32, ntopics), make([]*topic, 0, ntopics)
	}
	for i := range s.slots {
		s.slots[i] = -1
	}
	return s
}

func (s *subscription) C() <-chan struct{} { return s.ch }

// signal wakes the subscription without blocking: a full channel already
// holds a pending signal.
func (s *subscription) signal() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// Close unregisters from every topic. It takes no topic lock, only the
// subscription's shard in each topic's waiter set.
func (s *subscription) Close() {
	if s.closed.Swap(true) {
		return
	}
	for i, w := range s.sets {
		w.remove(s, i)
	}
}

// oneTopicSubs are closed one-topic subscriptions of Memory, handed back
// by their one owner (a poll cycle) through recycleSubscription.
var oneTopicSubs sync.Pool

// recycleSubscription closes sub and, when it is Memory's for one topic,
// pools it for the next Subscribe. The caller must be sub's only owner
// and must not use it, nor its channel, afterwards. Once Close has
// returned, no new notify finds it; one already signalling its copy of
// the waiter set may still signal it, which its next owner takes as a
// spurious wake-up: it reads again and finds nothing new.
func recycleSubscription(sub Subscription) {
	sub.Close()
	s, ok := sub.(*subscription)
	if !ok || cap(s.sets) > len(s.one) {
		return
	}
	select { // a signal taken by nobody would wake the next owner early
	case <-s.ch:
	default:
	}
	s.one[0], s.oneT[0] = nil, nil
	s.sets, s.slots, s.topics = s.one[:0], s.oneSlot[:1], s.oneT[:0]
	s.slots[0] = -1
	s.closed.Store(false)
	oneTopicSubs.Put(s)
}
