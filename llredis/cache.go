package llredis

import (
	"sync"

	"github.com/lifeline-go/lifeline/longpoll"
)

// eventCache keeps the most recently decoded events of one epoch by
// sequence number, so that every reader on this instance shares one
// *Event per event: decoded once, and framed once per transport (the
// event's memo), however many connections it fans out to.
type eventCache struct {
	mu    sync.Mutex
	epoch string
	byID  map[uint64]*longpoll.Event
	order []uint64 // ring of the cached numbers, oldest at next
	next  int
}

func newEventCache(size int) *eventCache {
	return &eventCache{byID: make(map[uint64]*longpoll.Event, size), order: make([]uint64, 0, size)}
}

// event returns the cached event for a member, decoding it on a miss.
func (c *eventCache) event(epoch, member string) (*longpoll.Event, error) {
	seq, err := memberSeq(member)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.epoch != epoch {
		clear(c.byID)
		c.order, c.next, c.epoch = c.order[:0], 0, epoch
	}
	e := c.byID[seq]
	c.mu.Unlock()
	if e != nil {
		return e, nil
	}
	e, err = decodeMember(epoch, member)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return e, nil
	}
	if prior := c.byID[seq]; prior != nil {
		return prior, nil // a racing reader cached it first: share one
	}
	if len(c.order) < cap(c.order) {
		c.order = append(c.order, seq)
	} else {
		delete(c.byID, c.order[c.next])
		c.order[c.next] = seq
		c.next = (c.next + 1) % len(c.order)
	}
	c.byID[seq] = e
	return e, nil
}
