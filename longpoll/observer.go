package longpoll

import "time"

// An Observer is told what happens inside Lifeline, for metrics: package
// llprom is one on Prometheus. Every label-like argument is drawn from a
// small fixed set (the constants below, the failure reasons of PROTOCOL.md
// §3, Redis command names), never a topic, client id or address, so that an
// adapter can use them as metric labels.
//
// Methods are called on the goroutine where the thing happened, often a
// request's or a publisher's: they must be quick and must not block. Embed
// NopObserver to implement only some of them.
type Observer interface {
	// ConnectionOpened and ConnectionClosed bracket each receiver: a held
	// poll, an SSE stream or a WebSocket, from the moment it attaches to its
	// session to the moment it ends.
	ConnectionOpened(transport string)
	ConnectionClosed(transport string)
	// SessionStarted and SessionEnded bracket the sessions this instance
	// creates and ends; why is one of the SessionEnd constants.
	SessionStarted()
	SessionEnded(why string)
	// TransportFailed is a failure a client reported at negotiate:
	// transport and reason as reported, each outside the known set replaced
	// by "other".
	TransportFailed(transport, reason string)
	// TransportSwitched is a session whose new receiver runs on another
	// transport than its previous one: a fallback or a failback.
	TransportSwitched(from, to string)
	// EventPublished is an event this instance appended to the buffer: a
	// client's send, a Publish, a presence change.
	EventPublished()
	// EventsDelivered is events written to one client's connection. Each
	// Event's Time is when the buffer accepted it, so the observer can tell
	// how long delivery took. The slice is the transport's: do not keep it.
	EventsDelivered(transport string, events []*Event)
	// RateLimited is a request refused by a limit: policy is one of the
	// Policy constants.
	RateLimited(policy string)
	// Reset is a client told to reset, and why.
	Reset(cause ResetCause)
	// SendDone is a client message handled, on any transport; outcome is
	// one of the SendOutcome constants.
	SendDone(outcome string)
	// SlowConsumer is a stream dropped because its client stopped reading.
	SlowConsumer(transport string)
	// BackendCommand is one command to a shared backend (llredis reports
	// each Redis command by its name) and how long it took; err is nil on
	// success.
	BackendCommand(command string, took time.Duration, err error)
}

// NopObserver does nothing. It is the default Observer, and a base to
// embed for observers that care about some events only.
type NopObserver struct{}

var _ Observer = NopObserver{}

func (NopObserver) ConnectionOpened(string)                     {}
func (NopObserver) ConnectionClosed(string)                     {}
func (NopObserver) SessionStarted()                             {}
func (NopObserver) SessionEnded(string)                         {}
func (NopObserver) TransportFailed(string, string)              {}
func (NopObserver) TransportSwitched(string, string)            {}
func (NopObserver) EventPublished()                             {}
func (NopObserver) EventsDelivered(string, []*Event)            {}
func (NopObserver) RateLimited(string)                          {}
func (NopObserver) Reset(ResetCause)                            {}
func (NopObserver) SendDone(string)                             {}
func (NopObserver) SlowConsumer(string)                         {}
func (NopObserver) BackendCommand(string, time.Duration, error) {}

// Transport names as observers and logs see them. TransportOther stands
// for any name outside the set (a receiver attached with Attach, which does
// not say).
const (
	TransportWebSocket = "websocket"
	TransportSSE       = "sse"
	TransportLongPoll  = "longpoll"
	TransportOther     = "other"
)

// Transports lists every transport label an Observer may see.
var Transports = []string{TransportWebSocket, TransportSSE, TransportLongPoll, TransportOther}

// knownTransport returns t when it is a transport name, else
// TransportOther: clients report transport names, and labels must stay a
// bounded set.
func knownTransport(t string) string {
	switch t {
	case TransportWebSocket, TransportSSE, TransportLongPoll:
		return t
	}
	return TransportOther
}

// Failure reasons a client may report at negotiate (PROTOCOL.md §3), and
// ReasonOther for anything else it sends.
const (
	ReasonNoUpgrade   = "no_upgrade"
	ReasonOpenTimeout = "open_timeout"
	ReasonNoFirstByte = "no_first_byte"
	ReasonClosedEarly = "closed_early"
	ReasonError       = "error"
	ReasonOther       = "other"
)

// FailureReasons lists every reason label an Observer may see.
var FailureReasons = []string{ReasonNoUpgrade, ReasonOpenTimeout, ReasonNoFirstByte, ReasonClosedEarly, ReasonError, ReasonOther}

func knownReason(r string) string {
	for _, known := range FailureReasons {
		if r == known {
			return r
		}
	}
	return ReasonOther
}

// More policies, besides PolicySends, PolicyIdle and PolicyTopics, that an
// Observer may see in RateLimited.
const (
	// PolicyNegotiate is negotiate's per-address limit.
	PolicyNegotiate = "negotiate"
	// PolicyConnections is the per-address cap on held connections
	// (negotiate.Config.MaxHeldPerAddress).
	PolicyConnections = "connections"
	// PolicyOther is any other policy name reported to RateLimited.
	PolicyOther = "other"
)

// policyNames is every policy label an Observer may see, PolicyOther last;
// an array, so that per-policy counters can be one too.
var policyNames = [...]string{PolicySends, PolicyIdle, PolicyTopics, PolicyNegotiate, PolicyConnections, PolicyOther}

// Policies lists every policy label an Observer may see.
var Policies = policyNames[:]

func policyIndex(p string) int {
	for i, known := range policyNames {
		if p == known {
			return i
		}
	}
	return len(policyNames) - 1 // PolicyOther
}

// Send outcomes, as SendDone reports them.
const (
	// SendPublished: the message was published.
	SendPublished = "published"
	// SendDuplicate: a retry of a message already applied, answered with
	// the first acknowledgement.
	SendDuplicate = "duplicate"
	// SendDropped: OnMessage dropped it (ErrDrop); acknowledged.
	SendDropped = "dropped"
	// SendRateLimited: refused by the send or topic limit.
	SendRateLimited = "rate_limited"
	// SendRefused: refused on its merits (4xx: malformed, forbidden,
	// rejected by OnMessage, too large).
	SendRefused = "refused"
	// SendFailed: the server could not apply it (5xx: unavailable, full).
	SendFailed = "failed"
)

// SendOutcomes lists every outcome label an Observer may see.
var SendOutcomes = []string{SendPublished, SendDuplicate, SendDropped, SendRateLimited, SendRefused, SendFailed}

// Why sessions end, as SessionEnded reports them and the session log
// lines say.
const (
	// SessionEndDeleted: the client ended it (DELETE {base}/session).
	SessionEndDeleted = "deleted"
	// SessionEndExpired: no request for Config.SessionTTL.
	SessionEndExpired = "expired"
	// SessionEndShutdown: the Server closed (without a shared Backend).
	SessionEndShutdown = "shutdown"
	// SessionEndNoRoom: the buffer had no room for its topics' presence.
	SessionEndNoRoom = "no_room"
)

// SessionEnds lists every reason SessionEnded may report.
var SessionEnds = []string{SessionEndDeleted, SessionEndExpired, SessionEndShutdown, SessionEndNoRoom}

// A ResetCause says why a buffer could not honour a cursor (Batch.Cause).
type ResetCause uint8

// Reset causes. A Buffer that does not say reports ResetUnknown.
const (
	ResetUnknown ResetCause = iota
	// ResetEvicted: events the cursor needed were dropped to keep the
	// buffer within its bounds (events per topic, bytes, topics).
	ResetEvicted
	// ResetExpired: events the cursor needed outlived MaxAge.
	ResetExpired
	// ResetEpoch: the cursor is from another epoch of the buffer (a
	// restart that lost the events) or beyond its head.
	ResetEpoch
)

// ResetCauses lists every cause, in the order of their values.
var ResetCauses = []ResetCause{ResetUnknown, ResetEvicted, ResetExpired, ResetEpoch}

func (c ResetCause) String() string {
	switch c {
	case ResetEvicted:
		return "evicted"
	case ResetExpired:
		return "expired"
	case ResetEpoch:
		return "epoch"
	}
	return "unknown"
}
