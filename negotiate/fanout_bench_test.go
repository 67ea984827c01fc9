package negotiate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// A countingSink counts down the streams that still have to write the
// current event; the last one to write it says so on done.
type countingSink struct {
	left *atomic.Int64
	done chan<- struct{}
}

func (s countingSink) events(events []*longpoll.Event) error {
	if s.left.Add(-int64(len(events))) == 0 {
		s.done <- struct{}{}
	}
	return nil
}
func (countingSink) reset(longpoll.Cursor) error { return nil }
func (countingSink) heartbeat() error            { return nil }

// BenchmarkStreamFanOut measures the streams' side of a fan-out, sockets
// aside: one op is one event published to a topic that 1 000 parked
// streams follow, every stream woken, reading the event and handing it to
// its sink, and parking again. ns/op over 1 000 is a wake-up's share of
// the fan-out's time, with every core busy. The streams are not paced (the
// handlers' default would hold these back-to-back publishes for a
// window), and their context is a background one, which, like a
// WebSocket stream's, they do not wait on.
func BenchmarkStreamFanOut(b *testing.B) {
	const streams = 1000
	lp := longpoll.New(longpoll.Config{DisablePresence: true, Logger: slog.New(slog.DiscardHandler)})
	defer lp.Close()
	var left atomic.Int64
	done := make(chan struct{}, 1)
	ended := make(chan error, streams)
	tokens := make([]string, streams)
	for i := range streams {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("POST", "/rt/negotiate", nil)
		c.Request.RemoteAddr = fmt.Sprintf("127.0.%d.%d:1", i/250, i%250+1) // below the per-address caps
		opened, err := lp.Open(c, longpoll.OpenRequest{Topics: []string{"bench"}})
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = opened.Token
		receiver := lp.AttachTransport(opened.Session, longpoll.TransportWebSocket)
		s := &stream{lp: lp, sess: opened.Session, cursor: opened.Cursor, heartbeat: time.Hour,
			ctx: context.Background(), out: countingSink{&left, done}, receiver: receiver}
		go func() {
			err := s.run()
			receiver.Detach()
			ended <- err
		}()
	}
	data := json.RawMessage(`{"text":"the quick brown fox jumps over the lazy dog"}`)
	publish := func() {
		left.Store(streams)
		if _, err := lp.PublishDraft(context.Background(), longpoll.Draft{Topic: "bench", Type: longpoll.TypeMessage, Data: data}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case err := <-ended:
			b.Fatalf("a stream ended during the benchmark: %v", err)
		}
	}
	publish() // unmeasured: every stream has started and delivered once
	b.ReportAllocs()
	for b.Loop() {
		publish()
	}
	b.StopTimer()
	for _, token := range tokens {
		if err := lp.EndSession(context.Background(), token); err != nil {
			b.Fatal(err)
		}
	}
	for range streams {
		if err := <-ended; err == nil {
			b.Fatal("a stream ended without an error")
		}
	}
}
