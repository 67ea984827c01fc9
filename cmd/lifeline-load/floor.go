package main

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// floor is the bare-Gin baseline: GET /poll parks on a shared broadcast
// channel and then writes a small JSON body shaped like a Lifeline poll
// answer; POST /publish closes the channel (waking every held poll) and
// installs a new one. The body is encoded once per publish, as Lifeline
// encodes an event once, so the floor is as cheap as a handler can be.
type floor struct {
	mu  sync.Mutex // serializes publishes
	cur atomic.Pointer[broadcast]
	seq uint64
}

// broadcast is one generation of waiters. body is set before ch is closed,
// so a waiter woken by the close reads it safely.
type broadcast struct {
	ch   chan struct{}
	body []byte
}

func newFloor() (http.Handler, func()) {
	f := &floor{}
	f.cur.Store(&broadcast{ch: make(chan struct{})})
	r := gin.New()
	r.GET("/poll", f.poll)
	r.POST(pathPublish, f.publish)
	return r, func() {}
}

func (f *floor) poll(c *gin.Context) {
	b := f.cur.Load()
	select {
	case <-b.ch:
		c.Header("Cache-Control", "no-store")
		c.Data(http.StatusOK, "application/json; charset=utf-8", b.body)
	case <-c.Request.Context().Done():
		c.Abort()
	}
}

func (f *floor) publish(c *gin.Context) {
	f.mu.Lock()
	f.seq++
	id := "floorfloorfloor0." + strconv.FormatUint(f.seq, 10)
	old := f.cur.Load()
	old.body = floorBody(id, f.seq, time.Now())
	f.cur.Store(&broadcast{ch: make(chan struct{})})
	f.mu.Unlock()
	close(old.ch)
	c.JSON(http.StatusOK, gin.H{"id": id})
}

// floorBody is a poll answer with one event, the same shape and about the
// same size as Lifeline's.
func floorBody(id string, seq uint64, now time.Time) []byte {
	b := make([]byte, 0, 192)
	b = append(b, `{"events":[{"id":"`...)
	b = append(b, id...)
	b = append(b, `","topic":"`+benchTopic+`","type":"message","data":{"round":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `},"ts":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `}],"cursor":"`...)
	b = append(b, id...)
	return append(b, `"}`...)
}
