package longpoll

import (
	"sync"
	"sync/atomic"
)

// waiterShards spreads a topic's subscriptions over independently locked
// sets, so that thousands of subscribers registering or leaving at once
// after a fan-out do not queue on one lock.
const waiterShards = 32

// waiters is the set of subscriptions waiting on one topic. A topic creates
// it on its first subscription, so that quiet topics stay small.
//
// Each shard keeps its subscriptions in slices, and each subscription its
// position there: adding and removing are O(1) (a removal moves the last
// one into the gap), and notify copies a shard with one memmove instead of
// walking a map.
//
// A held poll's subscription is one-shot (subscribeOnce): notify takes
// the shard's one-shot subscriptions all at once, and they are no longer
// registered. The thousands of polls that one publish wakes then have
// nothing to unregister as they end, where each took its shard's lock
// and moved another subscription into its place; a poll that waits again
// registers again first (Memory.resubscribe).
type waiters struct {
	// count is the registrations not yet released by their owners: a
	// one-shot registration that notify took counts until its owner closes
	// its subscription or registers it again, without a lock (release). A
	// topic is dropped or reclaimed only at zero, so never while a poll it
	// woke still reads it, and notify skips the shards only when nobody
	// can be registered.
	count  atomic.Int64
	shards [waiterShards]waiterShard
}

type waiterShard struct {
	mu   sync.Mutex
	subs []waiting // subscriptions registered until they close
	once []waiting // one-shot subscriptions, until notify takes them
	// spare is the array of a once that notify took, emptied, to be the
	// next once; nil while a notify still signals from it.
	spare []waiting
	// round counts the times notify took once; written under mu. A
	// one-shot subscription registered in an earlier round was taken.
	round atomic.Uint64
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
	if s.oneShot {
		s.sets[i].slot = int32(len(sh.once))
		s.sets[i].round = sh.round.Load()
		sh.once = append(sh.once, waiting{s, i})
	} else {
		s.sets[i].slot = int32(len(sh.subs))
		sh.subs = append(sh.subs, waiting{s, i})
	}
	// Counted before the lock is released: a notify that finds s in the
	// shard finds it counted, so it never skips the shards for a zero
	// count while s is there.
	w.count.Add(1)
	sh.mu.Unlock()
}

// registered reports whether s, whose i-th set w is, is still registered
// there after a signal: a one-shot subscription that notify took is not.
// Only s's owner calls it, between its add and its remove.
func (w *waiters) registered(s *subscription, i int) bool {
	return !s.oneShot || s.sets[i].round == w.shards[s.shard].round.Load()
}

// remove unregisters s, whose i-th set w is, if it is registered. For a
// one-shot subscription that notify took, it takes no lock.
func (w *waiters) remove(s *subscription, i int) {
	sh := &w.shards[s.shard]
	if s.oneShot && s.sets[i].round != sh.round.Load() {
		w.release(s, i) // taken: rounds only grow, and only s's owner adds s again
		return
	}
	sh.mu.Lock()
	list := &sh.subs
	if s.oneShot {
		list = &sh.once
		if s.sets[i].round != sh.round.Load() {
			sh.mu.Unlock()
			w.release(s, i) // taken meanwhile
			return
		}
	}
	if at := s.sets[i].slot; at >= 0 {
		last := len(*list) - 1
		if moved := (*list)[last]; int(at) != last {
			(*list)[at] = moved
			moved.s.sets[moved.set].slot = at
		}
		(*list)[last] = waiting{}
		*list = (*list)[:last]
		s.sets[i].slot = -1
		w.count.Add(-1)
	}
	sh.mu.Unlock()
}

// release gives back the count of s's i-th registration, a one-shot one
// that notify took, once: its owner is done with it (it closes s, or
// registers s again). Nobody else writes the slot of a taken registration.
func (w *waiters) release(s *subscription, i int) {
	if s.sets[i].slot >= 0 {
		s.sets[i].slot = -1
		w.count.Add(-1)
	}
}

// notify signals every subscription without blocking: a full channel
// already holds a pending signal.
//
// It copies each shard's subscriptions under the shard's lock, takes its
// one-shot ones whole (swapping in the spare array), and signals them
// after releasing it. Held polls woken by a signal end at once, on the
// other cores, and would otherwise queue on the lock that the fan-out
// holds for the whole shard (in a fan-out to 10 000 polls this was the
// whole of the server's lock contention). A subscription closed meanwhile
// may so take one last signal; every waiter takes a signal as "read
// again", so a stale one costs a read.
func (w *waiters) notify() {
	if w.count.Load() == 0 {
		return
	}
	buf := notifyBufs.Get().(*[]waiting)
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		*buf = append(*buf, sh.subs...)
		taken := sh.once
		if len(taken) > 0 {
			sh.once, sh.spare = sh.spare, nil
			sh.round.Add(1)
		}
		sh.mu.Unlock()
		for _, s := range *buf {
			s.s.signal()
		}
		clear(*buf) // keep no subscription alive from the pool
		*buf = (*buf)[:0]
		if len(taken) == 0 {
			continue
		}
		for _, s := range taken { // still counted: see count
			s.s.signal()
		}
		clear(taken)
		sh.mu.Lock()
		if sh.spare == nil {
			sh.spare = taken[:0]
		}
		sh.mu.Unlock()
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
	// oneShot marks a held poll's subscription (subscribeOnce), which a
	// notify unregisters (see waiters).
	oneShot bool
	// sets[i] is the registration with the i-th topic. The slice is made
	// at its full length before any registration and never changes while
	// registered, as others read it to move the subscription (setRef.slot).
	sets []setRef
	one  [1]setRef // sets' array for one topic, the common case: no second allocation
}

// A setRef is a subscription's registration with one topic's waiter set.
type setRef struct {
	w *waiters // nil until registered (or should registering have failed)
	t *topic   // Memory's topic, read without a lookup by name; nil for a Hub's
	// slot is the subscription's position in its shard of w (-1 when it
	// is not there), guarded by that shard's lock.
	slot int32
	// round is, for a one-shot subscription, its shard's round in which
	// it registered there; written by its owner.
	round uint64
}

// nextShard deals subscriptions round-robin over the shards.
var nextShard atomic.Uint32

func newSubscription(ntopics int) *subscription {
	if ntopics == 1 {
		if s, ok := oneTopicSubs.Get().(*subscription); ok {
			return s
		}
	}
	s := &subscription{ch: make(chan struct{}, 1), shard: nextShard.Add(1) % waiterShards}
	if ntopics <= len(s.one) {
		s.sets = s.one[:ntopics]
	} else {
		s.sets = make([]setRef, ntopics)
	}
	for i := range s.sets {
		s.sets[i].slot = -1
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
	for i := range s.sets { // by index: others may write a setRef's slot
		if w := s.sets[i].w; w != nil {
			w.remove(s, i)
		}
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
	if !ok || len(s.sets) != len(s.one) { // one topic: sets is s.one's
		return
	}
	select { // a signal taken by nobody would wake the next owner early
	case <-s.ch:
	default:
	}
	s.one[0] = setRef{slot: -1}
	s.oneShot = false
	s.closed.Store(false)
	oneTopicSubs.Put(s)
}
