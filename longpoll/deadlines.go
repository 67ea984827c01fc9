package longpoll

import (
	"sync"
	"time"
)

// deadlineGrain is how late a held poll's timeout may be answered: expiries
// due within one grain are answered together, by one timer callback.
const deadlineGrain = 5 * time.Millisecond

// A deadlineShard times out held polls with one runtime timer for all of
// them, instead of a timer per poll (~200 bytes held, and the runtime's timer
// heap touched twice per poll cycle).
//
// Polls are queued by their timeout: every poll of a queue was added with
// the same timeout, under the lock, so each queue is in deadline order and
// its head is its earliest. Clients mostly use the default timeout, so
// there are few queues; adding and removing a poll is O(1), and a timer
// callback visits only expired polls and the head of each queue.
//
// The timer is armed for the earliest deadline, rounded up to the grain.
// Removing a poll never re-arms it: a callback that finds nothing due only
// re-arms for the next deadline.
type deadlineShard struct {
	mu     sync.Mutex
	queues map[time.Duration]*deadlineQueue
	timer  *time.Timer // calls fire; nil until the first add
	armed  int64       // when the timer fires (since start); 0 when stopped
	start  time.Time   // the monotonic origin of every deadline
	closed bool
}

// A deadlineQueue is a doubly linked list of the polls that share one
// timeout, through their pollWaiter links.
type deadlineQueue struct {
	head, tail *pollWaiter
}

// deadlineShards spreads held polls over independently locked deadline
// queues: after a fan-out every woken poll removes itself at once, and on
// one lock those removals were ~4% of the server's CPU.
const deadlineShards = 16

// deadlines is the Server's set of held-poll timeouts, sharded; a
// pollWaiter keeps its shard for life.
type deadlines struct {
	shards [deadlineShards]deadlineShard
}

func newDeadlines() *deadlines {
	d := new(deadlines)
	start := time.Now()
	for i := range d.shards {
		d.shards[i].queues = make(map[time.Duration]*deadlineQueue)
		d.shards[i].start = start
	}
	return d
}

// add queues w to be woken with wokeTimeout after timeout. w must not be
// queued already.
func (d *deadlines) add(w *pollWaiter, timeout time.Duration) {
	d.shards[w.shard].add(w, timeout)
}

// remove unqueues w if it is queued. Once it returns, d never wakes w.
func (d *deadlines) remove(w *pollWaiter) { d.shards[w.shard].remove(w) }

// close stops every shard's timer; a later add ends its poll at once.
func (d *deadlines) close() {
	for i := range d.shards {
		d.shards[i].close()
	}
}

// since is the time since d.start, read from the monotonic clock.
func (d *deadlineShard) since() int64 { return int64(time.Since(d.start)) }

func (d *deadlineShard) add(w *pollWaiter, timeout time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		w.wake(wokeEnded) // the Server is closing: the poll ends with ErrClosed
		return
	}
	w.at = d.since() + int64(timeout)
	q := d.queues[timeout]
	if q == nil {
		q = new(deadlineQueue)
		d.queues[timeout] = q
	}
	w.queue, w.prev, w.next = q, q.tail, nil
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	if d.armed == 0 || w.at < d.armed-int64(deadlineGrain) {
		d.arm(w.at)
	}
}

func (d *deadlineShard) remove(w *pollWaiter) {
	d.mu.Lock()
	if w.queue != nil {
		d.unlink(w)
	}
	d.mu.Unlock()
}

// unlink takes w out of its queue. The caller holds mu.
func (d *deadlineShard) unlink(w *pollWaiter) {
	q := w.queue
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.queue, w.prev, w.next = nil, nil, nil
}

// arm sets the timer for deadline at, rounded up to the grain so that
// expiries close together share one callback. The caller holds mu.
func (d *deadlineShard) arm(at int64) {
	grain := int64(deadlineGrain)
	at = (at + grain - 1) / grain * grain
	d.armed = at
	wait := time.Duration(at - d.since())
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.fire)
		return
	}
	d.timer.Reset(wait)
}

// fire wakes every poll whose deadline has passed, under the lock (so
// that a poll that removed itself is never woken afterwards), drops the
// queues left empty, and re-arms for the earliest deadline left.
func (d *deadlineShard) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = 0
	if d.closed {
		return
	}
	now := d.since()
	var next int64
	for timeout, q := range d.queues {
		for q.head != nil && q.head.at <= now {
			w := q.head
			d.unlink(w)
			w.wake(wokeTimeout)
		}
		if q.head == nil {
			delete(d.queues, timeout)
			continue
		}
		if next == 0 || q.head.at < next {
			next = q.head.at
		}
	}
	if next != 0 {
		d.arm(next)
	}
}

// close stops the timer and ends every poll still queued, as a later add
// ends its poll at once: a held poll whose session the Server no longer
// lists would otherwise wait for its client to go.
func (d *deadlineShard) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
	for timeout, q := range d.queues {
		for q.head != nil {
			w := q.head
			d.unlink(w)
			w.wake(wokeEnded)
		}
		delete(d.queues, timeout)
	}
}
