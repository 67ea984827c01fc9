package llredis

import "sync"

// flight shares reads between callers that ask the same question at once:
// when one publish wakes a thousand polls of one room at one cursor, Redis
// is read a few times, not a thousand.
//
// A caller may only share a read that starts after it arrived. It
// subscribed to wake-ups before it asked, so a read that started earlier
// could miss an append whose wake-up came before the subscription, and
// that wake-up would be lost. So per key one read runs, and callers that
// arrive meanwhile join the next one, which starts when the running read
// ends.
type flight[T any] struct {
	mu    sync.Mutex
	slots map[string]*flightSlot[T]
}

type flightSlot[T any] struct {
	running, pending *flightCall[T]
}

type flightCall[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func (f *flight[T]) do(key string, fn func() (T, error)) (T, error) {
	f.mu.Lock()
	if f.slots == nil {
		f.slots = make(map[string]*flightSlot[T])
	}
	s := f.slots[key]
	if s == nil {
		s = &flightSlot[T]{}
		f.slots[key] = s
	}
	if s.running == nil {
		c := &flightCall[T]{done: make(chan struct{})}
		s.running = c
		f.mu.Unlock()
		return f.run(key, s, c, fn)
	}
	if c := s.pending; c != nil {
		f.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	c := &flightCall[T]{done: make(chan struct{})}
	s.pending = c
	prior := s.running
	f.mu.Unlock()
	<-prior.done // run has made c the running call
	return f.run(key, s, c, fn)
}

// run makes the call, then promotes the pending call, if any, before
// telling the waiters: by then nobody can join c any more.
func (f *flight[T]) run(key string, s *flightSlot[T], c *flightCall[T], fn func() (T, error)) (T, error) {
	c.val, c.err = fn()
	f.mu.Lock()
	s.running, s.pending = s.pending, nil
	if s.running == nil {
		delete(f.slots, key)
	}
	f.mu.Unlock()
	close(c.done)
	return c.val, c.err
}
