package longpoll

import (
	"hash/maphash"
	"sync"
)

// A Hub wakes the local readers of topics: the Subscribe half of a Buffer,
// for implementations whose events are stored elsewhere (Redis, for
// example) and whose appends are announced to this process by a message.
// Notify is called for each announced append; NotifyAll when announcements
// may have been missed (a reconnect), so that every reader reads again.
//
// A topic's waiter set exists only while someone waits on it. The zero Hub
// is not usable; use NewHub. A Hub is safe for concurrent use.
type Hub struct {
	seed   maphash.Seed
	shards [shardCount]hubShard
}

type hubShard struct {
	mu     sync.Mutex
	topics map[string]*waiters
}

// NewHub returns an empty Hub.
func NewHub() *Hub {
	h := &Hub{seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].topics = make(map[string]*waiters)
	}
	return h
}

func (h *Hub) shardFor(topic string) *hubShard {
	return &h.shards[maphash.String(h.seed, topic)%shardCount]
}

// Subscribe returns a Subscription signalled by Notify on any of topics and
// by NotifyAll. It is registered before Subscribe returns.
func (h *Hub) Subscribe(topics []string) Subscription {
	s := &hubSubscription{hub: h, sub: newSubscription(len(topics)), topics: topics}
	for i, name := range topics {
		sh := h.shardFor(name)
		sh.mu.Lock()
		w := sh.topics[name]
		if w == nil {
			w = new(waiters)
			sh.topics[name] = w
		}
		s.sub.sets[i].w = w
		w.add(s.sub, i)
		sh.mu.Unlock()
	}
	return s
}

// Notify wakes every reader of topic.
func (h *Hub) Notify(topic string) {
	sh := h.shardFor(topic)
	sh.mu.Lock()
	w := sh.topics[topic]
	sh.mu.Unlock()
	if w != nil {
		w.notify()
	}
}

// NotifyAll wakes every reader of every topic.
func (h *Hub) NotifyAll() {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for _, w := range sh.topics {
			w.notify()
		}
		sh.mu.Unlock()
	}
}

// Waiting returns the number of topics someone waits on.
func (h *Hub) Waiting() int {
	n := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		n += len(sh.topics)
		sh.mu.Unlock()
	}
	return n
}

// hubSubscription unregisters from its topics' waiter sets under their
// shard locks, and drops a set nobody waits on any more.
type hubSubscription struct {
	hub    *Hub
	sub    *subscription
	topics []string
	once   sync.Once
}

func (s *hubSubscription) C() <-chan struct{} { return s.sub.ch }

func (s *hubSubscription) Close() {
	s.once.Do(func() {
		for i, name := range s.topics {
			sh := s.hub.shardFor(name)
			sh.mu.Lock()
			w := s.sub.sets[i].w
			w.remove(s.sub, i)
			if w.count.Load() == 0 && sh.topics[name] == w {
				delete(sh.topics, name)
			}
			sh.mu.Unlock()
		}
	})
}
