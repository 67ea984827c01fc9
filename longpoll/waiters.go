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
func (w *waiters) notify() {
	if w.count.Load() == 0 {
		return
	}
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for s := range sh.subs {
			s.signal()
		}
		sh.mu.Unlock()
	}
}

// subscription is Memory's Subscription: one channel registered in the
// waiter set of each of its topics.
type subscription struct {
	ch    chan struct{}
	shard uint32
	once  sync.Once
	sets  []*waiters
	one   [1]*waiters // sets' array for one topic, the common case: no second allocation
}

// nextShard deals subscriptions round-robin over the shards.
var nextShard atomic.Uint32

func newSubscription(ntopics int) *subscription {
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
	s.once.Do(func() {
		for _, w := range s.sets {
			w.remove(s)
		}
	})
}
