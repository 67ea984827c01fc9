package longpoll

import (
	"sync"
	"sync/atomic"
)

// Why a held poll's wait channel was signalled.
const (
	wokeEvents  uint32 = iota // no reason set: something may have been appended
	wokeTimeout               // the poll's timeout passed
	wokeEnded                 // superseded, the session ended, or the Server is closing: Receiver.Why tells which
)

// A pollWaiter is what a held poll waits on: one channel that new events,
// the poll's timeout (deadlines) and its end (the session, as its
// receiverEnd) all signal, with the reason beside it. A held poll so
// selects on two channels, this one and its request's context, where it
// would otherwise select on four, each case costing a parked sudog for as
// long as it is held. With Memory and Hub the channel is the subscription's
// own: nothing is allocated for it.
//
// pollWaiters are pooled: one is put back only once nothing can signal it
// any more (detached from its session, removed from the deadlines).
type pollWaiter struct {
	ch     chan struct{} // the wait channel: the subscription's, or own
	own    chan struct{} // the wait channel beside a foreign Buffer's subscription
	reason atomic.Uint32
	shard  uint32 // of the deadlines, dealt round-robin when created

	// Links in a deadlines queue, guarded by the deadlines' lock.
	queue      *deadlineQueue
	prev, next *pollWaiter
	at         int64 // the deadline, since deadlines.start
}

// end is the poll's receiverEnd: the session calls it when a newer
// receiver supersedes the poll or the session ends.
func (w *pollWaiter) end() { w.wake(wokeEnded) }

// wake records why (unless a reason is recorded already) and signals the
// channel without blocking: a full channel holds a signal the poll has yet
// to take, and it reads the reason after taking it.
func (w *pollWaiter) wake(why uint32) {
	w.reason.CompareAndSwap(wokeEvents, why)
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// wakeChanner is a subscription (Memory's, Hub's) whose channel others may
// signal too.
type wakeChanner interface{ wakeChan() chan struct{} }

func (s *subscription) wakeChan() chan struct{}    { return s.ch }
func (s *hubSubscription) wakeChan() chan struct{} { return s.sub.ch }

// pollWaiters are reused across poll cycles.
var pollWaiters = sync.Pool{New: func() any {
	return &pollWaiter{shard: nextDeadlineShard.Add(1) % deadlineShards}
}}

var nextDeadlineShard atomic.Uint32

// getPollWaiter returns a waiter whose channel is sub's when sub lets
// others signal it. Otherwise the waiter uses its own channel, and
// subC is sub's channel, which the poll must select on as well; else nil.
func getPollWaiter(sub Subscription) (w *pollWaiter, subC <-chan struct{}) {
	w = pollWaiters.Get().(*pollWaiter)
	w.reason.Store(wokeEvents)
	if wc, ok := sub.(wakeChanner); ok {
		w.ch = wc.wakeChan()
		return w, nil
	}
	if w.own == nil {
		w.own = make(chan struct{}, 1)
	}
	select { // a signal left from a previous poll would only wake this one early
	case <-w.own:
	default:
	}
	w.ch = w.own
	return w, sub.C()
}

// putPollWaiter pools w. The caller has detached it from its session and
// removed it from the deadlines.
func putPollWaiter(w *pollWaiter) {
	w.ch = nil
	pollWaiters.Put(w)
}
