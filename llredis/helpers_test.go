package llredis

import (
	"sync"
	"testing"
	"time"
)

// waitFor waits, up to 10 s, until cond holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition, not waiting for behaviour
	}
}

// sharedClock is a settable clock that several instances share.
type sharedClock struct {
	mu  sync.Mutex
	now time.Time
}

func newSharedClock() *sharedClock { return &sharedClock{now: time.Now()} }

func (c *sharedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *sharedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
