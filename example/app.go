package main

import (
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// rtBase is where Lifeline is mounted.
const rtBase = "/rt"

// options are the knobs of the app; zero values take Lifeline's defaults.
type options struct {
	// PollTimeout is the long-poll hold. Tests shorten it.
	PollTimeout time.Duration
	// Logger receives Lifeline's operational messages.
	Logger *slog.Logger
}

// newApp builds the chat: the page at /, its assets at /static/, Lifeline
// at /rt and POST /api/notify. The caller owns the returned Server and
// must Close it, before shutting the HTTP server down so that held polls
// are released at once.
func newApp(opts options) (*gin.Engine, *longpoll.Server) {
	lp := longpoll.New(longpoll.Config{
		PollTimeout: opts.PollTimeout,
		Authorize:   authorize,
		OnMessage:   onMessage,
		Logger:      opts.Logger,
	})

	r := gin.New()
	r.Use(gin.Recovery())
	// The app is reached directly: trust no X-Forwarded-For. Behind a proxy,
	// list its addresses here instead.
	_ = r.SetTrustedProxies(nil) // nil is always accepted

	mountStatic(r)
	negotiate.New(negotiate.Config{LongPoll: lp}).Mount(r.Group(rtBase))
	r.POST("/api/notify", notifyHandler(lp))
	return r, lp
}
