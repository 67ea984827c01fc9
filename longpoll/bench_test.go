package longpoll

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

var benchTopicCounts = []int{1, 100, 10_000}

func benchTopics(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("room:%d", i)
	}
	return out
}

// BenchmarkAppend measures one publish, spread over 1, 100 and 10 000 topics:
// the cost must stay flat as topics grow.
func BenchmarkAppend(b *testing.B) {
	data := json.RawMessage(`{"text":"hello, world"}`)
	for _, n := range benchTopicCounts {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			m := NewMemory(MemoryConfig{})
			defer m.Close()
			topics := benchTopics(n)
			ctx := context.Background()
			for i := range 2 * n * initialRing { // create and grow every topic first
				m.Append(ctx, Draft{Topic: topics[i%n], Type: "message", Data: data})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := m.Append(ctx, Draft{Topic: topics[i%n], Type: "message", Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendParallel publishes from every P to distinct topics: they
// share no topic lock, only the byte budget's short critical section (one
// entry appended to its age queue).
func BenchmarkAppendParallel(b *testing.B) {
	data := json.RawMessage(`{"text":"hello, world"}`)
	m := NewMemory(MemoryConfig{})
	defer m.Close()
	topics := benchTopics(100)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Append(context.Background(), Draft{Topic: topics[i%len(topics)], Type: "message", Data: data}); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkReadAfterCursor measures a client's read of the 10 newest events
// of its topic from a full buffer (1 000 events per topic), with 1, 100 and
// 10 000 topics in the buffer: a seek, not a scan.
func BenchmarkReadAfterCursor(b *testing.B) {
	data := json.RawMessage(`{"text":"hello, world"}`)
	for _, n := range benchTopicCounts {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			m := NewMemory(MemoryConfig{MaxTopics: n})
			defer m.Close()
			topics := benchTopics(n)
			ctx := context.Background()
			perTopic := 1000
			if n == 10_000 {
				perTopic = 100 // 1 M events would only slow the set-up
			}
			for i := range n * perTopic {
				if _, err := m.Append(ctx, Draft{Topic: topics[i%n], Type: "message", Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			head, _ := m.Head(ctx)
			// 10 events of the read topic lie after this cursor.
			after := Cursor{Epoch: head.Epoch, Seq: head.Seq - uint64(10*n)}
			follow := topics[:1]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				batch, err := m.Read(ctx, follow, after, 256)
				if err != nil || len(batch.Events) != 10 {
					b.Fatalf("Read = %d events, %v", len(batch.Events), err)
				}
			}
		})
	}
}

// BenchmarkPollResponse measures encoding a batch of 10 events for a
// long-poll response, the per-client cost of a fan-out.
func BenchmarkPollResponse(b *testing.B) {
	m := NewMemory(MemoryConfig{})
	defer m.Close()
	ctx := context.Background()
	start, _ := m.Head(ctx)
	for range 10 {
		m.Append(ctx, Draft{Topic: "room:a", Type: "message", Data: json.RawMessage(`{"text":"hello, world"}`)})
	}
	batch, _ := m.Read(ctx, []string{"room:a"}, start, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf := make([]byte, 0, 2048)
		for _, e := range batch.Events {
			buf = e.AppendJSON(buf)
		}
	}
}
