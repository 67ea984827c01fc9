// Package syncbuf is a log destination that tests can read while the
// server under test still writes to it from its own goroutines.
package syncbuf

import (
	"bytes"
	"sync"
)

// A Buffer collects writes from any goroutine. The zero Buffer is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
