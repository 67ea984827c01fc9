package negotiate

import (
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// Defaults for Config (DESIGN.md §5). Each is documented on its field.
const (
	DefaultHeartbeat      = 15 * time.Second
	DefaultPongTimeout    = 45 * time.Second
	DefaultAuthTimeout    = 5 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultStreamMaxAge   = 5 * time.Minute
	DefaultStreamMaxBytes = 8 << 20
	DefaultFailureMemory  = 10 * time.Minute
	DefaultMaxBodyBytes   = 16 << 10
	DefaultSSERetry       = time.Second
	DefaultFloodClose     = 20
	// DefaultCoalesceWindow is the default of Config.CoalesceWindow: about
	// 50 writes a second to one stream under a burst.
	DefaultCoalesceWindow = 20 * time.Millisecond
	// DefaultFailureWindow is the default of Config.FailureWindow.
	DefaultFailureWindow = 32
	// DefaultMaxSessionCookies is the default of Config.MaxSessionCookies.
	DefaultMaxSessionCookies = 16
	// DefaultMaxHeldPerAddress is the default of Config.MaxHeldPerAddress.
	DefaultMaxHeldPerAddress = 128
	// DefaultNegotiateLimit and DefaultNegotiateBurst: per minute, per
	// client address.
	DefaultNegotiateLimit = 60
	DefaultNegotiateBurst = 30
)

// Config configures a Handler. LongPoll is required; every other zero field
// takes its default.
type Config struct {
	// LongPoll is the server whose sessions, buffer and hooks back every
	// transport. Required.
	LongPoll *longpoll.Server

	// BasePath is the public path the handlers are mounted under, used to
	// build the URLs negotiate returns and the cookie's Path (for example
	// "/rt"). Default: the base path of the gin.RouterGroup passed to Mount.
	// Set it when a proxy rewrites paths.
	BasePath string

	// DisableWebSocket and DisableSSE turn a transport off: it is neither
	// offered nor mounted. Long-poll is always on. Default: both enabled.
	DisableWebSocket bool
	DisableSSE       bool

	// AllowedOrigins lists the origins ("https://app.example.com") besides
	// the server's own that may open a WebSocket. Requests from any other
	// Origin are refused with 403 before the upgrade: cross-site WebSocket
	// hijacking. Default: same origin only.
	AllowedOrigins []string

	// Heartbeat is the longest a stream stays silent: SSE sends a comment,
	// WebSocket a ping and an {"op":"hb"} frame. It is advertised to clients
	// as heartbeatMs; a stream may ask for a shorter one, down to
	// MinHeartbeat (a client behind a proxy that cuts idle responses
	// sooner). Default: 15 s, the HTML standard's advice for proxies.
	Heartbeat time.Duration

	// PongTimeout is how long a WebSocket peer may stay silent (no frame,
	// no pong) before it is dropped. Default: 45 s.
	PongTimeout time.Duration

	// AuthTimeout is how long a new WebSocket may take to send its auth
	// frame. Default: 5 s.
	AuthTimeout time.Duration

	// WriteTimeout bounds each write to a stream, where the events a
	// stream reads together (up to longpoll's MaxBatch) are one write. A
	// client that does not read for this long is a slow consumer: its
	// connection is closed and it resumes from its cursor; publishers
	// never wait for it. The deadline moves on only once an eighth of it
	// is used up, so a write gets between 7/8 of WriteTimeout and all of
	// it. Default: 10 s.
	WriteTimeout time.Duration

	// CoalesceWindow paces each stream (WebSocket and SSE) while events
	// reach it faster than it should write them one by one: a stream that
	// wrote events less than CoalesceWindow ago holds the next ones until
	// the Handler's next shared tick, at most one window later, and then
	// writes all that arrived meanwhile together, up to longpoll's
	// MaxBatch at a time: one "events" frame for a WebSocket client that
	// asked for batches (else their frames in one write), one write on
	// SSE. An event that follows no other within a window (heartbeats and
	// the SSE probe do not count) is written at once. Under a burst each
	// stream then makes about one write, one system call, per window (at
	// most two: the tick is shared, not timed from each stream's own last
	// write) instead of one per event: in this project's load test
	// (README, Load) the server's CPU per delivered event fell, and its
	// deliveries per second rose, about tenfold, for up to one window of
	// added latency on an event that follows another closely.
	// Long-polls are not paced: their clients' re-polls already gather
	// what arrives meanwhile. Default: 20 ms (about 50 writes a second per
	// stream under a burst). Negative: every wake-up writes at once.
	CoalesceWindow time.Duration

	// StreamMaxAge and StreamMaxBytes bound one SSE response; the stream
	// then ends with a "recycle" event and the client reconnects from its
	// cursor, so that no proxy sees an endless response.
	// Defaults: 5 minutes and 8 MiB.
	StreamMaxAge   time.Duration
	StreamMaxBytes int

	// SecureCookie marks the SSE session cookie Secure on every response.
	// Set it when browsers reach the app over HTTPS through a proxy that
	// terminates TLS: the request Go sees is then plain HTTP, and
	// X-Forwarded-Proto, which any client can send, is not trusted.
	// Default: Secure only when the request itself came over TLS.
	SecureCookie bool

	// MaxSessionCookies caps the ll_<clientId> cookies one browser holds
	// for this base path. Each negotiate sets one; a page closed without
	// DELETE {base}/session leaves its cookie until it expires, and every
	// request to {base} carries them all, so without a cap enough page
	// loads make a proxy refuse the Cookie header as too large. A
	// negotiate that finds this many already clears the oldest (browsers
	// send cookies of one path oldest first): their tabs, if still open,
	// keep working through the Lifeline-Token header, or negotiate again
	// when they need the cookie. Default: 16 (about 1.3 KB of Cookie).
	MaxSessionCookies int

	// SSERetry is the reconnection delay an SSE stream advises with its
	// "retry:" field. Default: 1 s.
	SSERetry time.Duration

	// FailureMemory is how long negotiate remembers, per client address,
	// what its clients found of each transport (PROTOCOL.md §3). A
	// transport most of the address's recent clients failed with is
	// offered last to its clients that report no verdict of their own.
	// Default: 10 minutes.
	FailureMemory time.Duration

	// FailureWindow is how many distinct recent clients per address and
	// transport that memory counts: the newest ones. Default: 32.
	FailureWindow int

	// FailureStore keeps that memory. Set it to a shared store (for example
	// llredis.NewFailureStore) when several instances serve the same
	// clients, so that a transport that failed through one instance is
	// offered last by all. Its errors never fail a negotiate: they are
	// logged (longpoll.Config.Logger) and the transports offered in the
	// default order. Default: the Backend's store when the Server has one
	// that provides it (llredis does), else a memory in the process.
	FailureStore FailureStore

	// MaxBodyBytes bounds the negotiate request body; larger bodies get 413.
	// Default: 16 KiB.
	MaxBodyBytes int

	// NegotiateLimit limits negotiate requests per client. Zero fields take
	// the defaults: 60 per minute with bursts of 30, keyed by
	// ratelimit.ClientAddr() — the TCP peer's address, IPv6 by /64,
	// ignoring X-Forwarded-For. Behind your own proxies, set KeyFunc to
	// ratelimit.ClientAddr("<proxy CIDRs>"). Many users behind one NAT share
	// an address: raise the limit for such audiences.
	NegotiateLimit ratelimit.Config

	// DisableNegotiateLimit turns NegotiateLimit off.
	DisableNegotiateLimit bool

	// MaxHeldPerAddress caps the connections one client address may hold
	// open in this process at once: long-polls, SSE streams and WebSockets
	// (from before authentication to the end); and, counted apart, the
	// negotiate and send requests still receiving their bodies. One over
	// the cap is refused at once — a poll or a request with a body with
	// 429 too_many_connections and Retry-After, an SSE stream with that
	// problem inside a 200 and a retry: delay, a WebSocket with an error
	// frame and close 1008 — so that one address cannot take every file
	// descriptor and goroutine. Addresses are keyed as NegotiateLimit keys
	// them (by default the TCP peer, IPv6 by /64). The cap is per process
	// on purpose: connections are a per-process resource, so each instance
	// behind a load balancer applies its own. A receiving client holds one
	// connection; users behind one NAT share an address, so raise it for
	// such audiences. Default: 128.
	MaxHeldPerAddress int

	// DisableHeldLimit turns MaxHeldPerAddress off.
	DisableHeldLimit bool

	// DisableClientBundle stops Mount from serving the TypeScript client's
	// browser bundle at GET {base}/lifeline.js, for applications that
	// bundle the npm package themselves. The bundle is the one this module
	// version embeds, so the client always matches the server; it is
	// revalidated with its ETag (a 304 when unchanged), or cached for good
	// at Handler.ClientBundleURL, which names its version. Default: served.
	DisableClientBundle bool

	// FloodClose is how many sends in a row a WebSocket client may have
	// refused by the send limit before it is closed with 1008: a client that
	// ignores the retry delay in each error frame is flooding. Default: 20.
	FloodClose int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Heartbeat, DefaultHeartbeat)
	def(&c.PongTimeout, DefaultPongTimeout)
	def(&c.AuthTimeout, DefaultAuthTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.StreamMaxAge, DefaultStreamMaxAge)
	def(&c.SSERetry, DefaultSSERetry)
	def(&c.FailureMemory, DefaultFailureMemory)
	if c.CoalesceWindow == 0 {
		c.CoalesceWindow = DefaultCoalesceWindow
	}
	if c.StreamMaxBytes <= 0 {
		c.StreamMaxBytes = DefaultStreamMaxBytes
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxHeldPerAddress <= 0 {
		c.MaxHeldPerAddress = DefaultMaxHeldPerAddress
	}
	if c.FloodClose <= 0 {
		c.FloodClose = DefaultFloodClose
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = DefaultFailureWindow
	}
	if c.MaxSessionCookies <= 0 {
		c.MaxSessionCookies = DefaultMaxSessionCookies
	}
	nl := &c.NegotiateLimit
	if nl.Limiter == nil {
		if nl.Limit <= 0 {
			nl.Limit = DefaultNegotiateLimit
		}
		if nl.Burst <= 0 {
			nl.Burst = DefaultNegotiateBurst
		}
	}
	if nl.Policy == "" {
		nl.Policy = "negotiate"
	}
	if nl.KeyFunc == nil {
		nl.KeyFunc = ratelimit.ClientAddr()
	}
	return c
}

// SharedFailures is what a longpoll.Backend provides when negotiate's
// failure memory should be shared too (llredis.Backend does).
type SharedFailures interface {
	Failures() FailureStore
}

// shared fills, from the Server's Backend, the stores that several
// instances must share and the app left unset: the failure memory and the
// per-address negotiate limit.
func (c Config) shared() Config {
	b := c.LongPoll.Config().Backend
	if b == nil {
		return c
	}
	if f, ok := b.(SharedFailures); ok && c.FailureStore == nil {
		c.FailureStore = f.Failures()
	}
	if c.NegotiateLimit.Store == nil && c.NegotiateLimit.Limiter == nil {
		c.NegotiateLimit.Store = b.RateLimits()
	}
	return c
}
