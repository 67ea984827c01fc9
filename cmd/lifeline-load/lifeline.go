package main

import (
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// Long enough that no held poll times out, no session expires, and no
// stream sends a heartbeat or ping, or recycles, during a run; the load
// generator bounds every phase with its own -timeout. Heartbeats would
// otherwise fire on every idle stream at once while the floor's round runs
// on the same two cores.
const (
	lifelinePollTimeout = 10 * time.Minute
	lifelineSessionTTL  = 30 * time.Minute
	lifelineHeartbeat   = 10 * time.Minute
	lifelinePongTimeout = 30 * time.Minute // must exceed the ping interval (the heartbeat)
	lifelineStreamAge   = time.Hour
)

// benchData is every published event's data, on both servers.
type benchData struct {
	Round uint64 `json:"round"`
	Text  string `json:"text"`
}

// newLifeline returns the real stack: longpoll + negotiate mounted at /rt,
// POST /publish, outside /rt, publishing one event through lp.Publish, and
// POST /publish-many (see publishMany). backend nil keeps everything in
// this process. It also returns the function that counts the polls and
// streams lp holds (a WebSocket's handler returns once the connection is
// upgraded, so counting requests in the handler would not do), and the one
// that closes lp, which releases held polls and streams; it does not close
// backend.
func newLifeline(settings serverSettings, backend longpoll.Backend) (http.Handler, func() int64, func()) {
	lp := longpoll.New(longpoll.Config{
		Backend:         backend,
		PollTimeout:     lifelinePollTimeout,
		SessionTTL:      lifelineSessionTTL,
		DisablePresence: !settings.Presence,
		// Per-session limits off: a session re-polls as soon as each
		// answer arrives, and the throughput phase's publishers send
		// back to back; measure delivery, not the limiters. The
		// per-address limits (MaxSessionsPerAddr, the negotiate limiter,
		// MaxHeldPerAddress) stay at their defaults: the clients are
		// spread over loopback source addresses (sourceAddr).
		IdleLimit: longpoll.Limit{Off: true},
		SendLimit: longpoll.Limit{Off: true},
		// Warnings and errors only: one "session started" line per client
		// would cost the server CPU while the targets' rounds run
		// (centrifuge runs with its logging off).
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	r := gin.New()
	negotiate.New(negotiate.Config{
		LongPoll:       lp,
		Heartbeat:      lifelineHeartbeat,
		PongTimeout:    lifelinePongTimeout,
		StreamMaxAge:   lifelineStreamAge,
		CoalesceWindow: settings.Coalesce,
	}).Mount(r.Group("/rt"))
	var round atomic.Uint64
	r.POST(pathPublish, func(c *gin.Context) {
		k, err := strconv.ParseUint(c.Query("k"), 10, 64)
		if err != nil {
			k = round.Add(1)
		}
		e, err := lp.Publish(c, benchTopic, longpoll.TypeMessage, benchData{Round: k, Text: benchText})
		if err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"id": e.ID.String()})
	})
	r.POST(pathPublishMany, func(c *gin.Context) { publishMany(c, lp) })
	receivers := func() int64 { return int64(lp.Stats().Receivers) }
	return r, receivers, func() { _ = lp.Close() }
}
