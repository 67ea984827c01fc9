package longpoll

import (
	"sync"
	"time"
)

// Pools for what every poll cycle would otherwise allocate afresh: its
// batch's slice of events and its response's bytes, taken only while it
// reads and answers, and its timeout timer, held while it waits.

// maxPooledBytes keeps a response larger than this (a big catch-up batch)
// from pinning its buffer in the pool.
const maxPooledBytes = 64 << 10

// batchSlices are []*Event for ReadInto, handed back cleared.
var batchSlices eventSlicePool

type eventSlicePool struct{ p sync.Pool }

func (p *eventSlicePool) get() *[]*Event {
	if s, ok := p.p.Get().(*[]*Event); ok {
		return s
	}
	return new([]*Event)
}

// put clears s, so that the pool holds no event the buffer may evict.
func (p *eventSlicePool) put(s *[]*Event) {
	clear((*s)[:cap(*s)])
	*s = (*s)[:0]
	p.p.Put(s)
}

// responseBuffers are the bytes of poll responses.
var responseBuffers bytePool

type bytePool struct{ p sync.Pool }

// get returns an empty buffer of at least size bytes' capacity.
func (p *bytePool) get(size int) *[]byte {
	if b, ok := p.p.Get().(*[]byte); ok {
		if cap(*b) >= size {
			return b
		}
		*b = make([]byte, 0, size)
		return b
	}
	b := make([]byte, 0, size)
	return &b
}

func (p *bytePool) put(b *[]byte) {
	if cap(*b) > maxPooledBytes {
		return
	}
	*b = (*b)[:0]
	p.p.Put(b)
}

// pollTimers are the held polls' timeout timers: a poll cycle reuses one
// instead of allocating a timer per held poll. Since Go 1.23 a stopped or
// reset timer's channel never delivers a stale expiry, so a timer from the
// pool fires only for its new holder's timeout.
var pollTimers timerPool

type timerPool struct{ p sync.Pool }

// get returns a timer that fires after d.
func (p *timerPool) get(d time.Duration) *time.Timer {
	if t, ok := p.p.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func (p *timerPool) put(t *time.Timer) {
	t.Stop()
	p.p.Put(t)
}
