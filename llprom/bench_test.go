package llprom

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
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
// its cursor, write the event's frame to its TCP connection, report the
// delivery; write=false leaves the write out, to show the observer's cost
// against the in-memory part alone.

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
	for _, write := range []bool{true, false} {
		for _, name := range []string{"observer=none", "observer=prometheus"} {
			b.Run("write="+strconv.FormatBool(write)+"/"+name, func(b *testing.B) { benchFanOut(b, observers(b)[name], write) })
		}
	}
}

// benchFanOut publishes one event per op to a topic 100 receivers follow;
// each reads it from its cursor, writes it (when write is set) to a TCP
// connection of its own on loopback, drained by a reader, and reports the
// delivery.
func benchFanOut(b *testing.B, obs longpoll.Observer, write bool) {
	const readers = 100
	data := json.RawMessage(`{"text":"hello, world"}`)
	lp := longpoll.New(longpoll.Config{Observer: obs, DisablePresence: true, Logger: discardLogger()})
	defer lp.Close()
	ctx := context.Background()
	buf := lp.Buffer()
	receivers := make([]longpoll.Receiver, readers)
	for i := range receivers {
		opened, err := lp.Open(newContext(i), longpoll.OpenRequest{Topics: []string{"room:a"}})
		if err != nil {
			b.Fatal(err)
		}
		receivers[i] = lp.AttachTransport(opened.Session, longpoll.TransportSSE)
	}
	defer func() {
		for _, r := range receivers {
			r.Detach()
		}
	}()
	var conns []net.Conn
	if write {
		conns = loopbackConns(b, readers)
	}
	frames := make([][]byte, readers)
	topics := []string{"room:a"}
	b.ReportAllocs()
	for b.Loop() {
		e, err := lp.PublishDraft(ctx, longpoll.Draft{Topic: "room:a", Type: "message", Data: data})
		if err != nil {
			b.Fatal(err)
		}
		from := longpoll.Cursor{Epoch: e.ID.Epoch, Seq: e.ID.Seq - 1}
		for i, r := range receivers {
			batch, err := buf.Read(ctx, topics, from, 256)
			if err != nil || len(batch.Events) != 1 {
				b.Fatalf("read: %v, %d events", err, len(batch.Events))
			}
			if write {
				frames[i] = append(batch.Events[0].AppendJSON(append(frames[i][:0], "data: "...)), "\n\n"...)
				if _, err := conns[i].Write(frames[i]); err != nil {
					b.Fatal(err)
				}
			}
			r.Delivered(batch.Events)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*readers), "ns/delivery")
}

// loopbackConns returns n connected TCP connections on 127.0.0.1 whose
// peers are drained by goroutines that end, with the connections, when b
// does.
func loopbackConns(b *testing.B, n int) []net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var drained sync.WaitGroup
	conns := make([]net.Conn, n)
	for i := range conns {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		server, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = server
		drained.Add(1)
		go func() {
			defer drained.Done()
			_, _ = io.Copy(io.Discard, client)
			client.Close()
		}()
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		drained.Wait()
	})
	return conns
}

// newContext is a request context for Open, from its own address.
func newContext(i int) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/rt/negotiate", nil)
	c.Request.RemoteAddr = "10.0.0." + strconv.Itoa(i%250+1) + ":1234"
	return c
}
