package main

import (
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// rtBase is where Lifeline is mounted.
const rtBase = "/rt"

// options are the knobs of the app; zero values take Lifeline's defaults.
type options struct {
	// PollTimeout is the long-poll hold. Tests shorten it.
	PollTimeout time.Duration
	// Logger receives Lifeline's operational messages.
	Logger *slog.Logger
	// AllowOrigins are the other origins whose pages may use the app (CORS
	// and WebSocket). Default: defaultOrigins.
	AllowOrigins []string
	// NotifyToken is the bearer token POST /api/notify requires. Empty:
	// the route is not mounted, so nobody can broadcast.
	NotifyToken string
	// Backend, when set, shares Lifeline's state with the app's other
	// instances (-redis). Default: everything in this process.
	Backend longpoll.Backend
	// TrustedProxies are the addresses (IPs or CIDRs) of the proxies in
	// front of the app (-trusted-proxy): clients are then told apart by the
	// X-Forwarded-For those proxies write, for gin and for every
	// per-address limit. Default: none; the TCP peer is the client.
	TrustedProxies []string
	// Postgres, when set (-postgres), is the database whose notifications
	// table backs the notifications: run starts a relay of its inserts.
	// Default: none.
	Postgres string
	// Operations, when set (-metrics-addr), exports metrics and readiness
	// on an address of its own. Default: none.
	Operations *operations
}

// newApp builds the chat: the page at /, its assets at /static/, Lifeline
// at /rt and, with a NotifyToken, POST /api/notify. The caller owns the returned Server and
// must Close it, before shutting the HTTP server down so that held polls
// are released at once.
func newApp(opts options) (*gin.Engine, *longpoll.Server) {
	// Per-address limits (negotiates, sessions, held connections) key on
	// the client's address: the TCP peer, or behind trusted proxies the
	// address they forward. Never X-Forwarded-For from anyone else.
	clientAddr := ratelimit.ClientAddr(opts.TrustedProxies...)
	lp := longpoll.New(longpoll.Config{
		PollTimeout: opts.PollTimeout,
		Authorize:   authorize,
		OnMessage:   onMessage,
		Logger:      opts.Logger,
		Backend:     opts.Backend,
		SessionKey:  clientAddr,
		Observer:    opts.Operations.observer(),
	})

	r := gin.New()
	r.Use(gin.Recovery())
	// Trust X-Forwarded-For from the listed proxies only (none by default:
	// the app is reached directly). newApp's caller validated the list.
	_ = r.SetTrustedProxies(opts.TrustedProxies)

	origins := opts.AllowOrigins
	if origins == nil {
		origins = defaultOrigins
	}
	r.Use(corsMiddleware(origins))

	mountStatic(r)
	// Lifeline's limits are on by default: sends and idle polls per
	// session, negotiate per address.
	negotiate.New(negotiate.Config{LongPoll: lp, AllowedOrigins: origins, NegotiateLimit: ratelimit.Config{KeyFunc: clientAddr}}).Mount(r.Group(rtBase))
	if opts.NotifyToken != "" {
		// Only the server publishes to notifications: the route is for
		// the team's own tools, which hold the token.
		notifyLimit := ratelimit.New(ratelimit.Config{Limit: 10, Period: time.Minute, Policy: "notify", KeyFunc: clientAddr})
		r.POST("/api/notify", notifyLimit, requireBearer(opts.NotifyToken), notifyHandler(lp))
	}
	return r, lp
}
