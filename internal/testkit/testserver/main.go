// Command testserver runs Lifeline for the client's and the browser's tests:
// Lifeline mounted at /rt with test-only control endpoints under /test.
// It prints "LISTENING http://ADDR" once ready and exits on SIGINT or
// SIGTERM. Never expose it: the control endpoints need no authentication.
//
// Control endpoints:
//
//	POST /test/publish            {"topic","type","data","ttlMs"} → {"id"}
//	POST /test/expire-sessions    ends every session (as if they expired)
//	GET  /test/sends              {"count"}: messages applied through send
//	GET  /test/sessions           {"count"}: live sessions (Server.Stats)
//	POST /test/ws?enabled=BOOL    refuse (false) or accept (true) WebSocket
//	                              upgrades: refused ones get 400 before the
//	                              upgrade, as behind a proxy that strips it
//
// Rate limits: -send-limit/-send-period/-send-burst set longpoll's
// SendLimit, -idle-limit/-idle-period/-idle-burst its IdleLimit, and
// -negotiate-limit/-negotiate-period/-negotiate-burst the negotiate limit
// (zero: the package's default); -flood-close sets how many refused
// WebSocket sends in a row close the socket with 1008. -no-limits turns
// the idle and negotiate limits off. -forbid-prefix P refuses every topic
// that starts with P (subscribe, publish, history) through the Authorize
// hook, with 403 forbidden_topic, as an application would.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
	"github.com/lifeline-go/lifeline/ratelimit"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	pollTimeout := flag.Duration("poll-timeout", longpoll.DefaultPollTimeout, "long-poll hold")
	sessionTTL := flag.Duration("session-ttl", longpoll.DefaultSessionTTL, "session idle expiry")
	var o options
	flag.DurationVar(&o.heartbeat, "heartbeat", 0, "stream heartbeat (0: the default, 15s)")
	flag.DurationVar(&o.streamMaxAge, "stream-max-age", 0, "SSE stream recycle age (0: the default, 5m)")
	flag.DurationVar(&o.failureMemory, "failure-memory", 0, "how long negotiate remembers failed transports per address (0: the default, 10m)")
	flag.BoolVar(&o.disableWS, "disable-ws", false, "turn WebSocket off (neither offered nor mounted)")
	flag.BoolVar(&o.disableSSE, "disable-sse", false, "turn SSE off (neither offered nor mounted)")
	flag.BoolVar(&o.refuseWS, "refuse-ws", false, "start refusing WebSocket upgrades (offered, but 400 before the upgrade); see POST /test/ws")
	flag.BoolVar(&o.noLimits, "no-limits", false, "turn off the negotiate and idle-request rate limits")
	flag.IntVar(&o.maxSessionsPerAddr, "max-sessions-per-addr", 0, "live sessions one client address may hold (0: the default, 100)")
	limitFlags(&o.send, "send", "messages sent per session")
	limitFlags(&o.idle, "idle", "requests that bring nothing new, per session")
	limitFlags(&o.negotiate, "negotiate", "negotiate requests per client address")
	flag.StringVar(&o.forbidPrefix, "forbid-prefix", "", "refuse every topic starting with this prefix (403 forbidden_topic); empty: allow all")
	flag.IntVar(&o.floodClose, "flood-close", 0, "refused WebSocket sends in a row before close 1008 (0: the default, 20)")
	flag.Parse()
	if err := run(*addr, *pollTimeout, *sessionTTL, o); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	heartbeat, streamMaxAge, failureMemory    time.Duration
	disableWS, disableSSE, refuseWS, noLimits bool
	send, idle, negotiate                     longpoll.Limit
	floodClose, maxSessionsPerAddr            int
	forbidPrefix                              string
}

// authorize refuses the topics that start with prefix; nil (allow all) when prefix is empty.
func authorize(prefix string) func(*gin.Context, string, string, longpoll.Action) error {
	if prefix == "" {
		return nil
	}
	return func(_ *gin.Context, _, topic string, _ longpoll.Action) error {
		if strings.HasPrefix(topic, prefix) {
			return fmt.Errorf("topic %q is not for you", topic)
		}
		return nil
	}
}

// limitFlags registers -NAME-limit, -NAME-period and -NAME-burst for l.
func limitFlags(l *longpoll.Limit, name, what string) {
	flag.IntVar(&l.Limit, name+"-limit", 0, "rate limit of "+what+": this many per -"+name+"-period (0: the default)")
	flag.DurationVar(&l.Period, name+"-period", 0, "period of -"+name+"-limit (0: the default)")
	flag.IntVar(&l.Burst, name+"-burst", 0, "burst of -"+name+"-limit (0: the default)")
}

func run(addr string, pollTimeout, sessionTTL time.Duration, o options) error {
	gin.SetMode(gin.ReleaseMode)
	var applied atomic.Int64
	lp := longpoll.New(longpoll.Config{
		PollTimeout:        pollTimeout,
		SessionTTL:         sessionTTL,
		SendLimit:          o.send,
		MaxSessionsPerAddr: o.maxSessionsPerAddr,
		IdleLimit:          longpoll.Limit{Limit: o.idle.Limit, Period: o.idle.Period, Burst: o.idle.Burst, Off: o.noLimits},
		Authorize:          authorize(o.forbidPrefix),
		OnMessage: func(_ *gin.Context, m longpoll.Message) (longpoll.Draft, error) {
			applied.Add(1)
			return m.Draft(), nil
		},
	})
	defer lp.Close()

	var refuseWS atomic.Bool
	refuseWS.Store(o.refuseWS)
	r := gin.New()
	r.Use(gin.Recovery())
	rt := r.Group("/rt", func(c *gin.Context) {
		if c.Request.URL.Path == "/rt/ws" && refuseWS.Load() {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"status": 400, "code": "bad_upgrade", "detail": "WebSocket upgrades are refused (POST /test/ws?enabled=true)"})
		}
	})
	negotiate.New(negotiate.Config{
		LongPoll:              lp,
		Heartbeat:             o.heartbeat,
		StreamMaxAge:          o.streamMaxAge,
		FailureMemory:         o.failureMemory,
		DisableWebSocket:      o.disableWS,
		DisableSSE:            o.disableSSE,
		DisableNegotiateLimit: o.noLimits,
		NegotiateLimit:        ratelimit.Config{Limit: o.negotiate.Limit, Period: o.negotiate.Period, Burst: o.negotiate.Burst},
		FloodClose:            o.floodClose,
	}).Mount(rt)
	r.POST("/test/ws", func(c *gin.Context) {
		enabled, err := strconv.ParseBool(c.Query("enabled"))
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": "want ?enabled=true|false"})
			return
		}
		refuseWS.Store(!enabled)
		c.Status(http.StatusNoContent)
	})
	r.POST("/test/publish", func(c *gin.Context) {
		var req struct {
			Topic string          `json:"topic"`
			Type  string          `json:"type"`
			Data  json.RawMessage `json:"data"`
			TTLMs int64           `json:"ttlMs"`
		}
		if err := c.ShouldBindJSON(&req); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		e, err := lp.PublishDraft(c, longpoll.Draft{Topic: req.Topic, Type: req.Type, Data: req.Data, TTL: time.Duration(req.TTLMs) * time.Millisecond})
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"id": e.ID.String()})
	})
	r.POST("/test/expire-sessions", func(c *gin.Context) {
		lp.EndSessions()
		c.Status(http.StatusNoContent)
	})
	r.GET("/test/sends", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"count": applied.Load()})
	})
	r.GET("/test/sessions", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"count": lp.Stats().Sessions})
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("LISTENING http://%s\n", ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-stop:
	}
	lp.Close() // release held polls first so Shutdown does not wait for them
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
