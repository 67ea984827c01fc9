package main

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// pathPublishMany is the throughput endpoint: POST
// ?workers=<w>&ms=<duration> publishes from w goroutines, each calling
// lp.Publish back to back, for the duration, and answers with a
// publishManyReply. Publishing inside the server, as an app does, measures
// Lifeline's publish path (and, on Redis, its round trips) rather than the
// load generator's HTTP requests.
const pathPublishMany = "/publish-many"

// publishManyReply is the answer of pathPublishMany.
type publishManyReply struct {
	Published int64  `json:"published"`
	Errors    int64  `json:"errors"`
	Elapsed   int64  `json:"elapsedns"` // first publish to the last one's return
	FirstErr  string `json:"firstError,omitempty"`
}

func publishMany(c *gin.Context, lp *longpoll.Server) {
	workers, err1 := strconv.Atoi(c.Query("workers"))
	ms, err2 := strconv.Atoi(c.Query("ms"))
	if err1 != nil || err2 != nil || workers < 1 || workers > 1024 || ms < 1 {
		c.JSON(http.StatusBadRequest, gin.H{"error": "want workers in 1..1024 and ms > 0"})
		return
	}
	ctx := c.Request.Context()
	var (
		published, failed atomic.Int64
		firstErr          sync.Once
		rep               publishManyReply
		wg                sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(time.Duration(ms) * time.Millisecond)
	for w := range workers {
		wg.Go(func() {
			// Every event carries its worker and number, so no two are
			// alike; the text is the same as the fan-out's.
			data := benchData{Round: uint64(w) << 32, Text: benchText}
			for time.Now().Before(end) && ctx.Err() == nil {
				data.Round++
				if _, err := lp.Publish(ctx, benchTopic, longpoll.TypeMessage, data); err != nil {
					failed.Add(1)
					firstErr.Do(func() { rep.FirstErr = err.Error() })
					continue
				}
				published.Add(1)
			}
		})
	}
	wg.Wait()
	rep.Elapsed = int64(time.Since(start))
	rep.Published, rep.Errors = published.Load(), failed.Load()
	c.JSON(http.StatusOK, rep)
}
