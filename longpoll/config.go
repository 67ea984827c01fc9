package longpoll

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/ratelimit"
)

// Defaults for Config (DESIGN.md §5). Each is documented on its field.
const (
	DefaultPollTimeout        = 25 * time.Second
	DefaultSessionTTL         = 60 * time.Second
	DefaultMaxBatch           = 256
	DefaultMaxTopicsPerClient = 32
	DefaultMaxMessageTTL      = time.Minute
	DefaultMaxSessions        = 100_000
	DefaultMaxSessionsPerAddr = 100
	DefaultBodyTimeout        = 10 * time.Second
	maxMetaBytes              = 1 << 10
)

// Action says what a client wants to do with a topic.
type Action int

const (
	// Subscribe is following a topic: receiving its events.
	Subscribe Action = iota + 1
	// Publish is sending a message to a topic through the send endpoint.
	Publish
)

func (a Action) String() string {
	switch a {
	case Subscribe:
		return "subscribe"
	case Publish:
		return "publish"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// A Message is what a client sent through the send endpoint, after
// validation and authorization.
type Message struct {
	// ClientID is the sending session's public id.
	ClientID string
	// Meta is the sending session's metadata from negotiate.
	Meta json.RawMessage
	// Topic, Type and Data are as the client sent them.
	Topic string
	Type  string
	Data  json.RawMessage
	// TTL is the ephemeral lifetime the client asked for, capped at
	// Config.MaxMessageTTL; zero means durable.
	TTL time.Duration
	// MID is the client's message id.
	MID string
}

// Draft returns the event the message publishes when the application does
// not change it.
func (m Message) Draft() Draft {
	return Draft{Topic: m.Topic, Type: m.Type, Data: m.Data, From: m.ClientID, MID: m.MID, TTL: m.TTL}
}

// Config configures a Server. The zero value is usable: every zero field
// takes its default, documented on the field.
type Config struct {
	// Buffer is the event buffer all transports read. Default: a new Memory
	// with its defaults, which the Server owns and closes. A Buffer passed
	// in is not closed by the Server. Ignored when Backend is set.
	Buffer Buffer

	// Backend shares the buffer, sessions and presence with every other
	// instance of the app, so that any request may reach any instance (no
	// sticky sessions): see package llredis. The Server does not close it.
	// Default: nil, everything in this process.
	Backend Backend

	// PollTimeout is the longest a long-poll is held without events. Clients
	// may ask for less. Default: 25 s, under the 60 s idle timeouts of nginx
	// and AWS ALB and Cloudflare's 100 s.
	PollTimeout time.Duration

	// SessionTTL is how long a session lives after its last request; then it
	// expires and presence publishes its leave. Default: 60 s.
	SessionTTL time.Duration

	// MaxSessions caps live sessions; negotiate beyond it is refused with
	// 503. Default: 100 000.
	MaxSessions int

	// MaxSessionsPerAddr caps the live sessions of one client address (as
	// SessionKey groups them), so that one address cannot take every
	// session from everyone; negotiate beyond it is refused with 503 and
	// Retry-After. Every tab of a browser is a session, and users behind
	// one NAT share an address: raise it for such audiences. Default: 100.
	MaxSessionsPerAddr int

	// SessionKey names the client address a session counts against in
	// MaxSessionsPerAddr. Default: ratelimit.ClientAddr(), the TCP peer
	// with IPv6 grouped by /64. Behind your proxies, use
	// ratelimit.ClientAddr("<proxy CIDRs>"); to group IPv6 more widely
	// (one attacker often holds a whole /48 of /64s), wrap it:
	// ratelimit.GroupIPv6(48, ratelimit.ClientAddr()).
	SessionKey ratelimit.KeyFunc

	// MaxBatch caps the events in one long-poll response. Default: 256.
	MaxBatch int

	// MaxHistory caps the events one history request returns (its limit
	// parameter; 50 when absent). Default: 200.
	MaxHistory int

	// MaxTopicsPerClient caps the topics one session follows. Default: 32.
	MaxTopicsPerClient int

	// MaxMessageBytes caps a send request's body. Larger bodies get 413 and
	// change nothing. Default: 64 KiB.
	MaxMessageBytes int

	// BodyTimeout bounds how long a client may take to send a request body
	// the library reads: a send here, a negotiate in the negotiate package.
	// A body that has not arrived by then is answered 408 body_timeout and
	// its connection closed, so a client trickling a body byte by byte
	// cannot hold a connection and a goroutine for long. Held polls and
	// streams have no body and are not affected. Default: 10 s.
	BodyTimeout time.Duration

	// MaxMessageTTL caps the ephemeral TTL a client may ask for in a send.
	// Default: 1 minute.
	MaxMessageTTL time.Duration

	// DedupWindow is how long a send's acknowledgement is remembered by its
	// mid, so that a retry within it is applied once. Default: 2 minutes.
	DedupWindow time.Duration

	// SendLimit limits the messages one session sends, on every transport
	// (the send endpoint and WebSocket frames). A refused send gets 429 with
	// Retry-After (an error frame on WebSocket) and changes nothing.
	// Default: 30 per 10 seconds with bursts of 20.
	SendLimit Limit

	// IdleLimit limits, per session, the requests that bring nothing new:
	// a poll that ends without events, a poll that repeats a cursor already
	// answered with events, and the opening of a stream. A client that
	// re-polls after each held poll spends one every 25 s and is never
	// limited; one that polls in a tight loop gets 429 with Retry-After.
	// Default: 30 per minute with bursts of 10.
	IdleLimit Limit

	// TopicLimit limits, per session, the sends to topics the buffer does
	// not hold yet, each of which creates a topic: a client cannot fill the
	// buffer's topic table (MemoryConfig.MaxTopics) by sending to endless
	// new names. A refused send gets 429 rate_limited with Retry-After and
	// changes nothing. It applies when the Buffer implements TopicCounter,
	// as Memory does. Default: 10 per minute with bursts of 10.
	TopicLimit Limit

	// DisablePresence turns off presence events and the presence endpoint.
	// Default: false (presence on).
	DisablePresence bool

	// PresenceTopics says which topics have presence: join and leave
	// events, and the presence endpoint. A topic without it (a
	// notifications feed, say) carries only what is published to it, so a
	// client following it never receives its own join. TopicsWithPrefix
	// builds the common rule. Default: nil, every topic has presence.
	PresenceTopics func(topic string) bool

	// Authorize decides whether a client may subscribe or publish to a
	// topic. It runs on the request's goroutine with its *gin.Context, so it
	// may read cookies, headers or values set by the app's auth middleware.
	//
	// A send over WebSocket is the exception: the stream outlives its
	// upgrade request, on a goroutine of its own, and Authorize (like
	// OnMessage) runs there with a copy of the upgrade request's
	// *gin.Context, made before its handler returned (gin's Context.Copy:
	// Keys and Params copied). Its Request is a trimmed copy of the
	// upgrade request — method, URL, proto, header (cookies included),
	// host, remote address, request URI and TLS state, no body — whose
	// Context carries the request context's values, is live while the
	// stream runs and is canceled when it ends (or the Server closes); its
	// Writer writes nothing (the connection is the WebSocket's). The header
	// map and URL are the upgrade request's own, as in gin's copy:
	// middleware must not change them once its c.Next() has returned. Each
	// call for one stream comes from the same goroutine, one at a time;
	// the app's middleware (gin.Recovery, gin.Logger) does not wrap it, so
	// the stream recovers a panic itself, closing the connection with 1011
	// and logging it. A hook must not call Server.Close, which waits for
	// the streams.
	//
	// A non-nil error refuses with 403 forbidden_topic and the error's text
	// as the detail. Default: nil, which allows every valid topic — set it
	// in any application whose topics are not all public.
	Authorize func(c *gin.Context, clientID, topic string, action Action) error

	// OnMessage decides what a client message publishes. It runs after
	// Authorize, on the same goroutine with the same *gin.Context: the
	// request's, or for a send over WebSocket the stream's copy of the
	// upgrade request's (see Authorize). Return the draft to publish
	// (usually m.Draft(), possibly changed), ErrDrop to acknowledge without
	// publishing, a *Rejection to refuse with its status and code, or any
	// other error to refuse with 422 rejected. Default: publish m.Draft().
	OnMessage func(c *gin.Context, m Message) (Draft, error)

	// Now is the clock for sessions and presence. Default: time.Now.
	Now func() time.Time

	// Logger receives operational messages, never a token or message data:
	// at Info one line per session start and end, per transport failure a
	// client reports and per reset; at Warn per slow consumer dropped, per
	// burst of rate-limit refusals (one line per policy and janitor tick,
	// at most every 10 s, with the count) and per store failure. Default:
	// slog.Default(), the app's default logger; pass a logger whose
	// handler discards to silence it.
	Logger *slog.Logger

	// Observer is told what happens, for metrics (package llprom exports
	// it to Prometheus). Default: NopObserver, which costs an empty call.
	Observer Observer
}

func (c Config) withDefaults() Config {
	orDefault(&c.PollTimeout, DefaultPollTimeout)
	orDefault(&c.SessionTTL, DefaultSessionTTL)
	orDefault(&c.MaxSessions, DefaultMaxSessions)
	orDefault(&c.MaxSessionsPerAddr, DefaultMaxSessionsPerAddr)
	if c.SessionKey == nil {
		c.SessionKey = ratelimit.ClientAddr()
	}
	orDefault(&c.MaxBatch, DefaultMaxBatch)
	orDefault(&c.MaxHistory, DefaultMaxHistory)
	orDefault(&c.MaxTopicsPerClient, DefaultMaxTopicsPerClient)
	orDefault(&c.MaxMessageBytes, DefaultMaxEventBytes)
	orDefault(&c.MaxMessageTTL, DefaultMaxMessageTTL)
	orDefault(&c.BodyTimeout, DefaultBodyTimeout)
	orDefault(&c.DedupWindow, DefaultDedupWindow)
	c.SendLimit = c.SendLimit.withDefaults(DefaultSendLimit)
	c.IdleLimit = c.IdleLimit.withDefaults(DefaultIdleLimit)
	c.TopicLimit = c.TopicLimit.withDefaults(DefaultTopicLimit)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = NopObserver{}
	}
	return c
}

// A Limit is a token-bucket rate: Burst requests at once, then Limit per
// Period. Zero fields take the default of the limit they configure.
type Limit struct {
	Limit  int
	Period time.Duration
	Burst  int
	// Off disables the limit.
	Off bool
}

func (l Limit) withDefaults(def Limit) Limit {
	orDefault(&l.Limit, def.Limit)
	orDefault(&l.Period, def.Period)
	orDefault(&l.Burst, def.Burst)
	return l
}

// orDefault sets a zero (or negative) setting to its default.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Default limits.
var (
	DefaultSendLimit  = Limit{Limit: 30, Period: 10 * time.Second, Burst: 20}
	DefaultIdleLimit  = Limit{Limit: 30, Period: time.Minute, Burst: 10}
	DefaultTopicLimit = Limit{Limit: 10, Period: time.Minute, Burst: 10}
)

// A Rejection is an error with an HTTP status and a stable code, for
// OnMessage and Authorize to refuse with something more specific than the
// defaults.
type Rejection struct {
	Status int    // HTTP status, 400–499
	Code   string // stable, machine-readable code
	Detail string // for people
}

func (r *Rejection) Error() string { return "longpoll: rejected: " + r.Code + ": " + r.Detail }
