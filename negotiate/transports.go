package negotiate

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"
)

// Failure reasons a client may report (PROTOCOL.md §3).
const (
	ReasonNoUpgrade   = "no_upgrade"
	ReasonOpenTimeout = "open_timeout"
	ReasonNoFirstByte = "no_first_byte"
	ReasonClosedEarly = "closed_early"
	ReasonError       = "error"
)

// preference is every transport, best first.
var preference = []string{WebSocket, SSE, LongPoll}

// failures remembers, per client address, which transports failed there
// recently: clients behind the same proxy fail the same way, so the next
// negotiate from that address offers those transports last.
type failures struct {
	seen  *cache.Cache // "<address>|<transport>" → reason
	ttl   time.Duration
	calls atomic.Uint64
}

// sweepEvery makes expiry amortised over writes instead of needing a
// janitor goroutine.
const sweepEvery = 1024

func newFailures(ttl time.Duration) *failures {
	return &failures{seen: cache.New(ttl, 0), ttl: ttl}
}

// lasting says which reported reasons describe the network path rather
// than one bad moment: only those are worth remembering for everyone at the
// address. A transport that closed early or failed otherwise is the
// reporting client's to retry.
func lasting(reason string) bool {
	return reason == ReasonNoUpgrade || reason == ReasonOpenTimeout || reason == ReasonNoFirstByte
}

func (f *failures) record(addr string, reported []Failure) {
	if addr == "" {
		return
	}
	for _, r := range reported {
		if lasting(r.Reason) && slices.Contains(preference, r.Transport) && r.Transport != LongPoll {
			f.seen.SetDefault(addr+"|"+r.Transport, r.Reason)
		}
	}
	if f.calls.Add(1)%sweepEvery == 0 {
		f.seen.DeleteExpired()
	}
}

func (f *failures) failed(addr, transport string) bool {
	if addr == "" {
		return false
	}
	_, ok := f.seen.Get(addr + "|" + transport)
	return ok
}

// order returns the transports to offer, best first: enabled ones the
// client supports, with the ones that failed for it moved to the end.
// Long-poll is always offered, since it works through every proxy.
func (f *failures) order(enabled func(string) bool, supported []string, reported []Failure, addr string) []string {
	failed := func(t string) bool {
		return f.failed(addr, t) || slices.ContainsFunc(reported, func(r Failure) bool { return r.Transport == t })
	}
	var good, bad []string
	for _, t := range preference {
		if !enabled(t) || (len(supported) > 0 && !slices.Contains(supported, t) && t != LongPoll) {
			continue
		}
		if failed(t) {
			bad = append(bad, t)
		} else {
			good = append(good, t)
		}
	}
	return append(good, bad...)
}
