package negotiate

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"
)

// A FailureStore keeps negotiate's failure memory: per client address and
// transport, what its recent distinct clients found — that the transport
// failed for them, or that it worked. Negotiate demotes a transport for a
// client that has no verdict of its own only when most of the recent
// clients at its address failed with it, so that one user behind a proxy
// that blocks WebSocket does not demote it for everyone behind the same
// NAT. The default keeps it in the process; a shared one (package llredis)
// lets every instance of the application learn from a report to any of
// them. Set it in [Config.FailureStore].
//
// Both methods must return within a short time whatever state their backend
// is in. Their errors never fail a negotiate: the Handler logs them and
// offers the transports as if nothing had been remembered.
type FailureStore interface {
	// Record remembers r: for each of its verdicts, the client's latest
	// verdict on that transport at r.Addr, replacing the client's earlier
	// one. It keeps, per address and transport, only the verdicts of the
	// window most recent clients, and none older than ttl.
	Record(ctx context.Context, r Report, window int, ttl time.Duration) error

	// Tally counts, for each of transports, the clients at addr whose
	// verdict recorded at or after since says it failed, and those whose
	// verdict says it worked. It returns one Tally per transport, in order.
	Tally(ctx context.Context, addr string, transports []string, since time.Time) ([]Tally, error)
}

// A Report is what one client told negotiate of the transports it tried.
type Report struct {
	// Addr is the client's address, as the negotiate limit keys it.
	Addr string
	// Client names the client across its sessions (negotiate's "device",
	// else its session's clientId): verdicts are counted per client.
	Client string
	// Verdicts are the client's findings, one per transport.
	Verdicts []Verdict
	// At is when the client reported.
	At time.Time
}

// A Verdict is what one client found of one transport.
type Verdict struct {
	Transport string
	// Failed is true when it failed for a lasting reason (no_upgrade,
	// open_timeout, no_first_byte), false when it worked.
	Failed bool
}

// A Tally counts the recent clients at one address by their verdict on one
// transport.
type Tally struct {
	Transport string
	Failed    int
	Worked    int
}

// memoryFailures is the in-process FailureStore: a go-cache, janitor off,
// of "<address>|<transport>" windows, each the latest verdicts of at most
// window clients.
type memoryFailures struct {
	mu    sync.Mutex // over each window's read-modify-write
	seen  *cache.Cache
	calls atomic.Uint64
}

// memoryVerdict is one client's verdict in a window.
type memoryVerdict struct {
	client string
	failed bool
	at     time.Time
}

// sweepEvery makes expiry amortised over writes instead of needing a
// janitor goroutine.
const sweepEvery = 1024

func newMemoryFailures() *memoryFailures {
	return &memoryFailures{seen: cache.New(cache.NoExpiration, 0)}
}

func (m *memoryFailures) Record(_ context.Context, r Report, window int, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range r.Verdicts {
		key := r.Addr + "|" + v.Transport
		var old []memoryVerdict
		if x, ok := m.seen.Get(key); ok {
			old = x.([]memoryVerdict)
		}
		// A new slice each time: readers hold the old one without the lock.
		next := make([]memoryVerdict, 0, min(len(old)+1, window))
		for _, e := range old {
			if e.client != r.Client && r.At.Sub(e.at) < ttl {
				next = append(next, e)
			}
		}
		next = append(next, memoryVerdict{client: r.Client, failed: v.Failed, at: r.At})
		if len(next) > window {
			next = slices.Clone(next[len(next)-window:])
		}
		m.seen.Set(key, next, ttl)
	}
	if m.calls.Add(1)%sweepEvery == 0 {
		m.seen.DeleteExpired()
	}
	return nil
}

func (m *memoryFailures) Tally(_ context.Context, addr string, transports []string, since time.Time) ([]Tally, error) {
	out := make([]Tally, len(transports))
	for i, t := range transports {
		out[i].Transport = t
		x, ok := m.seen.Get(addr + "|" + t)
		if !ok {
			continue
		}
		for _, e := range x.([]memoryVerdict) {
			switch {
			case e.at.Before(since):
			case e.failed:
				out[i].Failed++
			default:
				out[i].Worked++
			}
		}
	}
	return out, nil
}
