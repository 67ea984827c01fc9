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
type waiters struct {
	count  atomic.Int64
	shards [waiterShards]struct {
		mu   sync.Mutex
		subs map[*subscription]struct{}
	}
}

func (w *waiters) add(s *subscription) {
	sh := &w.shards[s.shard]
	sh.mu.Lock()
	if sh.subs == nil {
		sh.subs = make(map[*subscription]struct{})
	}
	sh.subs[s] = struct{}{}
	sh.mu.Unlock()
	w.count.Add(1)
}

func (w *waiters) remove(s *subscription) {
	sh := &w.shards[s.shard]
	sh.mu.Lock()
	if _, ok := sh.subs[s]; ok {
		delete(sh.subs, s)
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
	buf := notifyBufs.Get().(*[]*subscription)
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for s := range sh.subs {
			*buf = append(*buf, s)
		}
		sh.mu.Unlock()
		for _, s := range *buf {
			s.signal()
		}
		clear(*buf) // keep no subscription alive from the pool
		*buf = (*buf)[:0]
	}
	notifyBufs.Put(buf)
}

// notifyBufs are notify's copies of one shard's subscriptions.
var notifyBufs = sync.Pool{New: func() any { return new([]*subscription) }}

// subscription is Memory's Subscription: one channel registered in the
// waiter set of each of its topics.
type subscription struct {
	ch     chan struct{}
	shard  uint32
	closed atomic.Bool
	sets   []*waiters
	one    [1]*waiters // sets' array for one topic, the common case: no second allocation
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
		s.sets = s.one[:0]
	} else {
		s.sets = make([]*waiters, 0, ntopics)
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
	for _, w := range s.sets {
		w.remove(s)
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
	s.one[0] = nil
	s.sets = s.one[:0]
	s.closed.Store(false)
	oneTopicSubs.Put(s)
}
