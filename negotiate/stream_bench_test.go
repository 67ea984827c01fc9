package negotiate

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// A signalSink tells the benchmark how many events each write carried.
type signalSink struct{ wrote chan int }

func (s *signalSink) events(events []*longpoll.Event) error { s.wrote <- len(events); return nil }
func (s *signalSink) reset(longpoll.Cursor) error           { return nil }
func (s *signalSink) heartbeat() error                      { return nil }

// BenchmarkStreamWake measures a stream's loop around the sink: one op is
// one event published to the stream's topic, the parked stream woken,
// the event read and handed to the sink, and the stream parked again.
func BenchmarkStreamWake(b *testing.B) {
	lp := longpoll.New(longpoll.Config{DisablePresence: true, Logger: slog.New(slog.DiscardHandler)})
	defer lp.Close()
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("POST", "/rt/negotiate", nil)
	opened, err := lp.Open(c, longpoll.OpenRequest{Topics: []string{"bench"}})
	if err != nil {
		b.Fatal(err)
	}
	receiver := lp.AttachTransport(opened.Session, longpoll.TransportWebSocket)
	defer receiver.Detach()
	out := &signalSink{wrote: make(chan int)}
	s := &stream{lp: lp, sess: opened.Session, cursor: opened.Cursor, heartbeat: time.Hour,
		ctx: context.Background(), out: out, receiver: receiver}
	done := make(chan error, 1)
	go func() { done <- s.run() }()

	data := json.RawMessage(`{"text":"the quick brown fox jumps over the lazy dog"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lp.PublishDraft(context.Background(), longpoll.Draft{Topic: "bench", Type: longpoll.TypeMessage, Data: data}); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < 1; {
			got += <-out.wrote
		}
	}
	b.StopTimer()
	if err := lp.EndSession(context.Background(), opened.Token); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err == nil {
		b.Fatal("the stream ended without an error")
	}
}
