package negotiate

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/longpoll"
)

// benchBatches are the numbers of events in each batch the write
// benchmarks hand to a stream's sink: 1, a stream woken for every event
// (a publisher slower than the stream), and 64, a burst's typical batch on
// a loaded server.
var benchBatches = []int{1, 64}

// benchEvents publishes n events of about the load tool's size (a 150-byte
// envelope) and returns them as a stream reads them from the buffer.
func benchEvents(b *testing.B, lp *longpoll.Server, n int) []*longpoll.Event {
	b.Helper()
	head, err := lp.Buffer().Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		data := json.RawMessage(`{"round":` + strconv.Itoa(i) + `,"text":"the quick brown fox jumps over the lazy dog"}`)
		if _, err := lp.PublishDraft(context.Background(), longpoll.Draft{Topic: "bench", Type: longpoll.TypeMessage, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	batch, err := lp.Buffer().Read(context.Background(), []string{"bench"}, head, n)
	if err != nil || len(batch.Events) != n {
		b.Fatalf("read %d events, %v; want %d", len(batch.Events), err, n)
	}
	return batch.Events
}

// writeBatches times out.events(batch) once per op, for each batch size
// of benchBatches, taken from events.
func writeBatches(b *testing.B, out sink, events []*longpoll.Event) {
	for _, n := range benchBatches {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) {
			batch := events[:n]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := out.events(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkWebSocketEvents measures the WebSocket write loop: one op is
// one batch of 1 or 64 events written to a real loopback TCP
// connection whose client reads and discards everything.
func BenchmarkWebSocketEvents(b *testing.B) {
	lp := longpoll.New(longpoll.Config{})
	defer lp.Close()
	h := New(Config{LongPoll: lp})
	events := benchEvents(b, lp, slices.Max(benchBatches))

	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := gin.CreateTestContext(w)
		c.Request = r
		conn, err := h.upgrade(c)
		if err != nil {
			return
		}
		conns <- conn
	}))
	defer srv.Close()
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, client.NetConn())
	}()
	conn := <-conns
	ws := &wsConn{conn: conn, timeout: 10 * time.Second, pingEvery: time.Hour, lastPing: time.Now()}

	// frame=event: an "event" frame per event, a batch's frames gathered
	// into one write; frame=events: a client that asked for batches gets
	// a batch's events in one "events" frame (PROTOCOL.md §5b).
	for _, batched := range []bool{false, true} {
		name := "frame=event"
		if batched {
			name = "frame=events"
		}
		ws.batch = batched
		b.Run(name, func(b *testing.B) { writeBatches(b, ws, events) })
	}
	conn.Close()
	client.Close()
	<-drained
}

// BenchmarkSSEEvents measures the SSE write path likewise: one op is one
// batch of 1 or 64 events written and flushed through net/http to a
// loopback client that discards the body.
func BenchmarkSSEEvents(b *testing.B) {
	lp := longpoll.New(longpoll.Config{})
	defer lp.Close()
	events := benchEvents(b, lp, slices.Max(benchBatches))

	writers := make(chan *sseWriter, 1)
	finished := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := gin.CreateTestContext(w)
		c.Request = r
		sseHeaders(c.Writer.Header())
		c.Writer.WriteHeader(http.StatusOK)
		c.Writer.Flush() // the client's round trip waits for the headers
		writers <- &sseWriter{out: newResponseOut(c.Writer), timeout: 10 * time.Second, maxBytes: 1 << 62}
		<-finished
	}))
	defer srv.Close()
	tr := &http.Transport{DialContext: (&net.Dialer{}).DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, res.Body)
	}()
	w := <-writers

	writeBatches(b, w, events)
	close(finished)
	res.Body.Close()
	<-drained
}
