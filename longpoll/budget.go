package longpoll

import (
	"sync"
	"sync/atomic"
)

// A byteBudget keeps a Memory's retained events under a global number of
// bytes by evicting the oldest events first, whatever their topic.
//
// Bytes are counted where events enter and leave topic rings (under each
// topic's lock). The age queue records, per append, the topic and the
// event's sequence number, oldest first: 16 bytes that do not keep the
// event alive. An entry whose event already left its topic (evicted by
// count or age, or its topic dropped) is stale; stale entries are skipped
// when popped and compacted away when they outnumber live events, so the
// queue stays within a small multiple of the events retained.
//
// The queue's lock is never held while a topic lock is taken, and appends
// push after releasing their topic's lock.
type byteBudget struct {
	mu    sync.Mutex
	queue []ageEntry // queue[head:] are the entries, oldest first
	head  int
}

// usage counts what a Memory's topic rings retain.
type usage struct {
	bytes  atomic.Int64 // Event.size of every retained event
	events atomic.Int64
}

// An ageEntry names one appended event by its topic and sequence number.
type ageEntry struct {
	t   *topic
	seq uint64
}

// stale reports whether the entry's event has left its topic: the topic's
// oldest retained event is newer, or the topic is empty.
func (a ageEntry) stale() bool {
	oldest := a.t.oldest.Load()
	return oldest == 0 || oldest > a.seq
}

// push records an appended event. live is the number of events retained
// in the whole buffer, which bounds the queue after a compaction.
func (b *byteBudget) push(t *topic, seq uint64, live int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.head >= 1024 && 2*b.head >= len(b.queue) {
		// Reuse the popped prefix rather than let the array grow forever.
		n := copy(b.queue, b.queue[b.head:])
		clear(b.queue[n:])
		b.queue, b.head = b.queue[:n], 0
	}
	if n := int64(len(b.queue) - b.head); n > 2*live+1024 {
		b.compact()
	}
	b.queue = append(b.queue, ageEntry{t: t, seq: seq})
}

// compact drops stale entries and the popped prefix. The caller holds mu.
func (b *byteBudget) compact() {
	kept := b.queue[:0]
	for _, a := range b.queue[b.head:] {
		if !a.stale() {
			kept = append(kept, a)
		}
	}
	clear(b.queue[len(kept):]) // release the topics of dropped entries
	b.queue, b.head = kept, 0
}

// pop returns the oldest entry whose event may still be retained.
func (b *byteBudget) pop() (ageEntry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.head < len(b.queue) {
		a := b.queue[b.head]
		b.queue[b.head] = ageEntry{}
		b.head++
		if !a.stale() {
			return a, true
		}
	}
	return ageEntry{}, false
}

// len returns the number of entries queued, stale or not.
func (b *byteBudget) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) - b.head
}
