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

// failures remembers, per client address, which transports failed there
// recently: clients behind the same proxy fail the same way, so the next
// negotiate from that address offers those transports last.
type failures struct {
	store FailureStore
	ttl   time.Duration
	log   *slog.Logger
}

// lasting says which reported reasons describe the network path rather
// than one bad moment: only those are worth remembering for everyone at the
// address. A transport that closed early or failed otherwise is the
// reporting client's to retry.
func lasting(reason string) bool {
	return reason == ReasonNoUpgrade || reason == ReasonOpenTimeout || reason == ReasonNoFirstByte
}

// record remembers the lasting failures a client at addr reported. A store
// error is logged: the client has its answer already.
func (f *failures) record(ctx context.Context, addr string, reported []Failure) {
	if addr == "" {
		return
	}
	var failed []string
	for _, r := range reported {
		if lasting(r.Reason) && slices.Contains(rememberable, r.Transport) && !slices.Contains(failed, r.Transport) {
			failed = append(failed, r.Transport)
		}
	}
	if len(failed) == 0 {
		return
	}
	if err := f.store.Record(ctx, addr, failed, f.ttl); err != nil {
		f.log.Warn("lifeline: negotiate could not remember transport failures", "err", err)
	}
}

// remembered returns the transports that failed at addr recently. When the
// store fails it logs and returns none: the default order is a safe answer,
// a failed negotiate is not.
func (f *failures) remembered(ctx context.Context, addr string) []string {
	if addr == "" {
		return nil
	}
	failed, err := f.store.Failed(ctx, addr, rememberable)
	if err != nil {
		f.log.Warn("lifeline: negotiate could not read transport failures; offering the default order", "err", err)
		return nil
	}
	return failed
}

// order returns the transports to offer, best first: enabled ones the
// client supports, with the ones that failed for it (remembered for its
// address, or reported by it) moved to the end. Long-poll is always offered.
func order(enabled func(string) bool, supported []string, reported []Failure, remembered []string) []string {
	failed := func(t string) bool {
		return slices.Contains(remembered, t) || slices.ContainsFunc(reported, func(r Failure) bool { return r.Transport == t })
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
