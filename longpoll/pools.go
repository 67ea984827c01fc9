package longpoll

import "sync"

// Pools for what every poll cycle would otherwise allocate afresh: its
// batch's slice of events and its response's bytes, taken only while it
// reads and answers. (Its wait is a pooled pollWaiter, its timeout an
// entry in the Server's deadlines.)

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
