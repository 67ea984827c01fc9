package longpoll

import (
	"context"
	"sync"
)

// goroutines are the goroutines the Server owns for its transports (Go):
// Close waits for them.
type goroutines struct {
	// mu orders Go's check that the Server is not closing before Close's
	// wait: a goroutine is either started before the wait begins or not
	// at all.
	mu sync.Mutex
	wg sync.WaitGroup
}

// Go runs f on a goroutine of its own that the Server owns, for work that
// serves a client after the handler that accepted it has returned: the
// negotiate package runs each WebSocket stream so, once the connection is
// upgraded, and returns from the upgrade request's handler.
//
// f gets the Server's context, canceled when Close begins (its Done
// channel is Closing), for the calls it makes: it must return promptly
// once that context ends, or once Close ends the receiver it serves
// (a stream that waits on its receiver's Done channel need not also wait
// on the context). Close waits for every f to return, after it has
// told receivers to end and before it closes the Buffer; f must not call
// Close. Once the Server is closing, Go runs nothing and returns
// ErrClosed.
func (s *Server) Go(f func(ctx context.Context)) error {
	s.owned.mu.Lock()
	defer s.owned.mu.Unlock()
	if s.isClosing() {
		return ErrClosed
	}
	s.owned.wg.Go(func() { f(s.life) })
	return nil
}

// stopOwned cancels the Server's context, closing Closing, so that Go
// starts nothing more; waitOwned then waits for the goroutines already
// started.
func (s *Server) stopOwned() {
	s.owned.mu.Lock()
	s.endLife()
	s.owned.mu.Unlock()
}

func (s *Server) waitOwned() { s.owned.wg.Wait() }
