package negotiate

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"
)

// A FailureStore keeps negotiate's failure memory: per client address, the
// transports that failed there recently. The default keeps it in the
// process; a shared one (package llredis) lets every instance of the
// application learn from a failure reported to any of them. Set it in
// [Config.FailureStore].
//
// Both methods must return within a short time whatever state their backend
// is in. Their errors never fail a negotiate: the Handler logs them and
// offers the transports as if nothing had been remembered.
type FailureStore interface {
	// Record remembers, for ttl, that each of transports failed for a
	// client at addr.
	Record(ctx context.Context, addr string, transports []string, ttl time.Duration) error

	// Failed returns those of transports recorded as failed at addr within
	// their ttl.
	Failed(ctx context.Context, addr string, transports []string) ([]string, error)
}

// memoryFailures is the in-process FailureStore: a go-cache of
// "<address>|<transport>" entries with its janitor off.
type memoryFailures struct {
	seen  *cache.Cache
	calls atomic.Uint64
}

// sweepEvery makes expiry amortised over writes instead of needing a
// janitor goroutine.
const sweepEvery = 1024

func newMemoryFailures() *memoryFailures {
	return &memoryFailures{seen: cache.New(cache.NoExpiration, 0)}
}

func (m *memoryFailures) Record(_ context.Context, addr string, transports []string, ttl time.Duration) error {
	for _, t := range transports {
		m.seen.Set(addr+"|"+t, struct{}{}, ttl)
	}
	if m.calls.Add(1)%sweepEvery == 0 {
		m.seen.DeleteExpired()
	}
	return nil
}

func (m *memoryFailures) Failed(_ context.Context, addr string, transports []string) ([]string, error) {
	var failed []string
	for _, t := range transports {
		if _, ok := m.seen.Get(addr + "|" + t); ok {
			failed = append(failed, t)
		}
	}
	return failed, nil
}
