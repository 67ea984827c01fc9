package main

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
)

// floor is the bare-Gin baseline of one transport, the plain handler a Go
// developer would write, with nothing Lifeline adds (sessions, cursors,
// limits, deadlines, heartbeats):
//
//   - long-poll: GET /poll parks on a shared broadcast channel and then
//     writes a small JSON body shaped like a Lifeline poll answer; POST
//     /publish closes the channel (waking every held poll) and installs a
//     new one.
//   - WebSocket: GET /ws upgrades with gorilla/websocket (a zero
//     Upgrader, which reuses net/http's buffers), sends an open frame, and
//     then its handler goroutine waits on the same kind of broadcast channel
//     and writes every new pre-encoded frame with WriteMessage; a second
//     goroutine reads (and discards) client frames, as gorilla requires.
//   - SSE: GET /sse writes the headers and an open event, flushes, and then
//     on each broadcast writes the new `id: ..\ndata: ..\n\n` messages and
//     flushes once.
//
// Each event is encoded once per publish, as Lifeline encodes an event
// once, and its envelope is the same size as Lifeline's, so the floor is as
// cheap as a handler can be. Streams read from a shared log of frames (see
// streamHub) so that no event is missed when publishes come faster than a
// connection writes, as Lifeline's streams read its buffer.
type floor struct {
	transport string

	mu  sync.Mutex // serializes publishes
	cur atomic.Pointer[broadcast]
	seq uint64

	hub      streamHub
	upgrader websocket.Upgrader
}

// broadcast is one generation of waiters. body is set before ch is closed,
// so a waiter woken by the close reads it safely.
type broadcast struct {
	ch   chan struct{}
	body []byte
}

func newFloor(transport string) (http.Handler, func()) {
	f := &floor{transport: transport}
	f.cur.Store(&broadcast{ch: make(chan struct{})})
	f.hub.init()
	r := gin.New()
	switch transport {
	case transportWebSocket:
		r.GET("/ws", f.ws)
	case transportSSE:
		r.GET("/sse", f.sse)
	default:
		r.GET("/poll", f.poll)
	}
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
	k, err := strconv.ParseUint(c.Query("k"), 10, 64)
	if err != nil {
		k = f.seq
	}
	id := floorEpoch + "." + strconv.FormatUint(f.seq, 10)
	now := time.Now()
	var wake chan struct{}
	switch f.transport {
	case transportWebSocket:
		f.hub.publish(wsEventFrame(floorEnvelope(id, k, now)))
	case transportSSE:
		f.hub.publish(sseEventFrame(id, floorEnvelope(id, k, now)))
	default:
		old := f.cur.Load()
		old.body = floorBody(id, k, now)
		f.cur.Store(&broadcast{ch: make(chan struct{})})
		wake = old.ch
	}
	f.mu.Unlock()
	if wake != nil {
		close(wake)
	}
	c.JSON(http.StatusOK, gin.H{"id": id})
}

// floorEpoch stands for a Lifeline cursor's epoch: 16 characters.
const floorEpoch = "floorfloorfloorf"

// benchText pads every event's data, of both servers, so that an envelope
// is about 150 bytes.
const benchText = "the quick brown fox jumps over the lazy dog"

// floorEnvelope is an event envelope the same shape and size as Lifeline's
// (PROTOCOL.md §4) for an event whose data carries round k.
func floorEnvelope(id string, k uint64, now time.Time) []byte {
	b := make([]byte, 0, 192)
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","topic":"`+benchTopic+`","type":"message","data":{"round":`...)
	b = strconv.AppendUint(b, k, 10)
	b = append(b, `,"text":"`+benchText+`"},"ts":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	return append(b, '}')
}

// floorBody is a poll answer with one event, the same shape and about the
// same size as Lifeline's.
func floorBody(id string, k uint64, now time.Time) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"events":[`...)
	b = append(b, floorEnvelope(id, k, now)...)
	b = append(b, `],"cursor":"`...)
	b = append(b, id...)
	return append(b, `"}`...)
}

// wsEventFrame is the payload of Lifeline's WebSocket event frame.
func wsEventFrame(env []byte) []byte {
	b := make([]byte, 0, len(env)+24)
	b = append(b, `{"op":"event","event":`...)
	b = append(b, env...)
	return append(b, '}')
}

// sseEventFrame is Lifeline's SSE event message.
func sseEventFrame(id string, env []byte) []byte {
	b := make([]byte, 0, len(env)+len(id)+16)
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\ndata: "...)
	b = append(b, env...)
	return append(b, "\n\n"...)
}

// Open messages: the floor's streams have no session; they only say that
// they are subscribed.
var (
	floorWSOpen  = []byte(`{"op":"open","clientId":"floor","cursor":""}`)
	floorSSEOpen = []byte("retry: 1000\nevent: open\ndata: {\"clientId\":\"floor\",\"cursor\":\"\"}\n\n")
)

func (f *floor) ws(c *gin.Context) {
	conn, err := f.upgrader.Upgrade(c.Writer, c.Request, nil)
	if err != nil {
		return // the upgrader answered
	}
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	defer func() {
		conn.Close()
		<-gone
	}()
	next := f.hub.head()
	if conn.WriteMessage(websocket.TextMessage, floorWSOpen) != nil {
		return
	}
	for {
		g := f.hub.cur.Load()
		frames, ok := g.since(next)
		if !ok {
			return // fell too far behind
		}
		for _, fr := range frames {
			if conn.WriteMessage(websocket.TextMessage, fr) != nil {
				return
			}
		}
		next += len(frames)
		select {
		case <-g.ch:
		case <-gone:
			return
		}
	}
}

func (f *floor) sse(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	c.Writer.WriteHeader(http.StatusOK)
	next := f.hub.head()
	if _, err := c.Writer.Write(floorSSEOpen); err != nil {
		return
	}
	c.Writer.Flush()
	done := c.Request.Context().Done()
	for {
		g := f.hub.cur.Load()
		frames, ok := g.since(next)
		if !ok {
			return
		}
		if len(frames) > 0 {
			for _, fr := range frames {
				if _, err := c.Writer.Write(fr); err != nil {
					return
				}
			}
			c.Writer.Flush()
			next += len(frames)
		}
		select {
		case <-g.ch:
		case <-done:
			return
		}
	}
}

// hubKeep is how many frames the floor's log keeps at least; a stream more
// than that behind is dropped, as Lifeline resets a cursor its buffer no
// longer covers.
const hubKeep = 1024

// streamHub is the floor's fan-out for streams: an append-only log of
// pre-encoded frames, published as immutable generations, each with a
// broadcast channel closed when the next generation replaces it.
type streamHub struct {
	mu  sync.Mutex
	cur atomic.Pointer[streamGen]
}

// streamGen is one generation of the log: frames[i] is frame number
// base+i. Appends never change what an older generation can see.
type streamGen struct {
	ch     chan struct{}
	frames [][]byte
	base   int
}

func (h *streamHub) init() { h.cur.Store(&streamGen{ch: make(chan struct{})}) }

// head is the number of the next frame to be published.
func (h *streamHub) head() int {
	g := h.cur.Load()
	return g.base + len(g.frames)
}

func (h *streamHub) publish(frame []byte) {
	h.mu.Lock()
	old := h.cur.Load()
	frames, base := old.frames, old.base
	if len(frames) >= 2*hubKeep {
		frames = append([][]byte(nil), frames[len(frames)-hubKeep:]...)
		base += len(old.frames) - hubKeep
	}
	h.cur.Store(&streamGen{ch: make(chan struct{}), frames: append(frames, frame), base: base})
	h.mu.Unlock()
	close(old.ch)
}

// since returns the frames from number next on, or false if the log no
// longer has them.
func (g *streamGen) since(next int) ([][]byte, bool) {
	if next < g.base {
		return nil, false
	}
	return g.frames[next-g.base:], true
}
