package main

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// Long enough that no held poll times out and no session expires during a
// run; the load generator bounds every phase with its own -timeout.
const (
	lifelinePollTimeout = 10 * time.Minute
	lifelineSessionTTL  = 30 * time.Minute
)

// newLifeline returns the real stack: longpoll + negotiate mounted at /rt,
// and POST /publish, outside /rt, publishing one event through lp.Publish.
// The returned function closes lp, which releases held polls.
func newLifeline(presence bool) (http.Handler, func()) {
	lp := longpoll.New(longpoll.Config{
		PollTimeout:     lifelinePollTimeout,
		SessionTTL:      lifelineSessionTTL,
		DisablePresence: !presence,
	})
	r := gin.New()
	// Every simulated client comes from 127.0.0.1: the per-address negotiate
	// limit would (rightly) refuse them. The per-session limits stay on.
	negotiate.New(negotiate.Config{LongPoll: lp, DisableNegotiateLimit: true}).Mount(r.Group("/rt"))
	var round atomic.Uint64
	r.POST(pathPublish, func(c *gin.Context) {
		e, err := lp.Publish(c, benchTopic, longpoll.TypeMessage, struct {
			Round uint64 `json:"round"`
		}{round.Add(1)})
		if err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"id": e.ID.String()})
	})
	return r, func() { _ = lp.Close() }
}
