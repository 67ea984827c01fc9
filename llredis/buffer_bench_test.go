package llredis

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
	"github.com/lifeline-go/lifeline/longpoll"
)

// BenchmarkBufferAppend is the steady state of a busy topic on a
// redis-server of its own: the topic holds its 1 000 events, so every
// append also trims one, and checks the oldest event's age. 16 appenders
// per GOMAXPROCS run at once, as publishers of a busy app would.
func BenchmarkBufferAppend(b *testing.B) {
	redisSrv := redistest.Start(b)
	backend, err := New(redisSrv.Client(), Config{Prefix: "bench-" + longpoll.NewEpoch()})
	if err != nil {
		b.Fatal(err)
	}
	defer backend.Close()
	buf := backend.Buffer()
	data := json.RawMessage(`{"round":1,"text":"the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog"}`)
	d := longpoll.Draft{Topic: "bench", Type: longpoll.TypeMessage, Data: data}
	ctx := context.Background()
	for range longpoll.DefaultMaxEventsPerTopic {
		if _, err := buf.Append(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := buf.Append(ctx, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
