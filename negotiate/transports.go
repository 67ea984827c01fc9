package negotiate

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// Failure reasons a client may report (PROTOCOL.md §3).
const (
	ReasonNoUpgrade   = longpoll.ReasonNoUpgrade
	ReasonOpenTimeout = longpoll.ReasonOpenTimeout
	ReasonNoFirstByte = longpoll.ReasonNoFirstByte
	ReasonClosedEarly = longpoll.ReasonClosedEarly
	ReasonError       = longpoll.ReasonError
)

// preference is every transport, best first.
var preference = []string{WebSocket, SSE, LongPoll}

// rememberable is every transport a failure may be remembered for:
// long-poll is always offered, since it works through every proxy.
var rememberable = []string{WebSocket, SSE}

// failures remembers, per client address, what its recent distinct
// clients found of each transport. Clients behind one proxy often fail the
// same way, so a transport most of them failed with is offered last to the
// next client from there that has no verdict of its own; but one client's
// failure (a user behind a forward proxy, on a corporate NAT shared with
// users who are not) must not demote a transport that works for the
// others.
type failures struct {
	store  FailureStore
	ttl    time.Duration
	window int
	now    func() time.Time
	log    *slog.Logger
}

// lasting says which reported reasons describe the network path rather
// than one bad moment: only those are worth remembering for the address.
// A transport that closed early or failed otherwise is the reporting
// client's to retry.
func lasting(reason string) bool {
	return reason == ReasonNoUpgrade || reason == ReasonOpenTimeout || reason == ReasonNoFirstByte
}

// verdicts is what a client's report says of each transport worth
// remembering: failed for a lasting reason, or worked. A failure wins over
// a claim that the same transport worked.
func verdicts(failed []Failure, worked []string) []Verdict {
	var out []Verdict
	for _, t := range rememberable {
		switch {
		case slices.ContainsFunc(failed, func(f Failure) bool { return f.Transport == t && lasting(f.Reason) }):
			out = append(out, Verdict{Transport: t, Failed: true})
		case slices.Contains(worked, t):
			out = append(out, Verdict{Transport: t})
		}
	}
	return out
}

// record remembers a client's verdicts. A store error is logged: the
// client has its answer already.
func (f *failures) record(ctx context.Context, addr, client string, vs []Verdict) {
	if addr == "" || len(vs) == 0 {
		return
	}
	r := Report{Addr: addr, Client: client, Verdicts: vs, At: f.now()}
	if err := f.store.Record(ctx, r, f.window, f.ttl); err != nil {
		f.log.Warn("lifeline: negotiate could not remember transport failures", "err", err)
	}
}

// demoted returns the transports that most of the recent clients at addr
// failed with. When the store fails it logs and returns none: the default
// order is a safe answer, a failed negotiate is not.
func (f *failures) demoted(ctx context.Context, addr string) []string {
	if addr == "" {
		return nil
	}
	tallies, err := f.store.Tally(ctx, addr, rememberable, f.now().Add(-f.ttl))
	if err != nil {
		f.log.Warn("lifeline: negotiate could not read transport failures; offering the default order", "err", err)
		return nil
	}
	var out []string
	for _, t := range tallies {
		if t.Failed > t.Worked {
			out = append(out, t.Transport)
		}
	}
	return out
}

// order returns the transports to offer, best first: enabled ones the
// client supports, with the ones that failed for it moved to the end — as
// it reported, or, for a transport it has no verdict on, as most clients
// at its address found. Long-poll is always offered.
func order(enabled func(string) bool, supported []string, reported []Failure, worked, demoted []string) []string {
	failed := func(t string) bool {
		if slices.ContainsFunc(reported, func(r Failure) bool { return r.Transport == t }) {
			return true
		}
		return slices.Contains(demoted, t) && !slices.Contains(worked, t)
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

// validDevice says whether a reported device id may name a client in the
// failure memory: 8 to 64 characters from A-Z a-z 0-9 _ -.
func validDevice(d string) bool {
	if len(d) < 8 || len(d) > 64 {
		return false
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// reportFailures tells the Server (its Observer and log) of the failures a
// client reported, one per transport: a body can repeat an entry hundreds
// of times, and the log must not repeat it with it.
func reportFailures(lp *longpoll.Server, sess *longpoll.Session, reported []Failure) {
	var seen []string
	for _, f := range reported {
		if slices.Contains(seen, f.Transport) || len(seen) == len(preference)+1 {
			continue
		}
		seen = append(seen, f.Transport)
		lp.TransportFailed(sess, f.Transport, f.Reason)
	}
}
