package llprom

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-go/lifeline/longpoll"
)

// The observer's cost on the hot paths, with the no-op default and with
// Metrics attached:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./llprom/
//
// Publish is Server.Publish into Memory. FanOut is what every receiver does
// per event after one publish to a topic 100 sessions follow: read from
// its cursor, then report the delivery (the write itself is the
// transport's, and the same either way).

func observers(b *testing.B) map[string]longpoll.Observer {
	m, err := New(Config{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	return map[string]longpoll.Observer{"observer=none": nil, "observer=prometheus": m}
}

func BenchmarkPublish(b *testing.B) {
	data := json.RawMessage(`{"text":"hello, world"}`)
	for _, name := range []string{"observer=none", "observer=prometheus"} {
		b.Run(name, func(b *testing.B) {
			lp := longpoll.New(longpoll.Config{Observer: observers(b)[name], DisablePresence: true, Logger: discardLogger()})
			defer lp.Close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := lp.PublishDraft(ctx, longpoll.Draft{Topic: "room:a", Type: "message", Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFanOut(b *testing.B) {
	const readers = 100
	data := json.RawMessage(`{"text":"hello, world"}`)
	for _, name := range []string{"observer=none", "observer=prometheus"} {
		b.Run(name, func(b *testing.B) {
			lp := longpoll.New(longpoll.Config{Observer: observers(b)[name], DisablePresence: true, Logger: discardLogger()})
			defer lp.Close()
			ctx := context.Background()
			buf := lp.Buffer()
			receivers := make([]longpoll.Receiver, readers)
			for i := range receivers {
				opened, err := lp.Open(newContext(i), longpoll.OpenRequest{Topics: []string{"room:a"}})
				if err != nil {
					b.Fatal(err)
				}
				receivers[i] = lp.AttachTransport(opened.Session, longpoll.TransportWebSocket)
			}
			defer func() {
				for _, r := range receivers {
					r.Detach()
				}
			}()
			topics := []string{"room:a"}
			b.ReportAllocs()
			for b.Loop() {
				e, err := lp.PublishDraft(ctx, longpoll.Draft{Topic: "room:a", Type: "message", Data: data})
				if err != nil {
					b.Fatal(err)
				}
				from := longpoll.Cursor{Epoch: e.ID.Epoch, Seq: e.ID.Seq - 1}
				for _, r := range receivers {
					batch, err := buf.Read(ctx, topics, from, 256)
					if err != nil || len(batch.Events) != 1 {
						b.Fatalf("read: %v, %d events", err, len(batch.Events))
					}
					r.Delivered(batch.Events)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*readers), "ns/delivery")
		})
	}
}

// newContext is a request context for Open, from its own address.
func newContext(i int) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/rt/negotiate", nil)
	c.Request.RemoteAddr = "10.0.0." + strconv.Itoa(i%250+1) + ":1234"
	return c
}
