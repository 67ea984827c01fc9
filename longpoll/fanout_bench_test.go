package longpoll

import (
	"context"
	"encoding/json"
	"testing"
)

// fanOutSubscribers is how many receivers follow the one topic of the
// fan-out benchmark and test.
const fanOutSubscribers = 10_000

// fanOut is one topic that fanOutSubscribers receivers follow, each as a
// stream does: its own Subscription and cursor, and (reuse) one batch
// slice for all of its reads.
type fanOut struct {
	m       *Memory
	topics  []string
	subs    []Subscription
	cursors []Cursor
	batches [][]*Event
	reuse   bool
	data    json.RawMessage
}

func newFanOut(tb testing.TB, reuse bool) *fanOut {
	f := &fanOut{m: NewMemory(MemoryConfig{}), topics: []string{"room:a"}, reuse: reuse,
		data: json.RawMessage(`{"text":"hello, world"}`)}
	ctx := context.Background()
	for range 2 * initialRing { // create the topic and grow its ring first
		if _, err := f.m.Append(ctx, Draft{Topic: "room:a", Type: "message", Data: f.data}); err != nil {
			tb.Fatal(err)
		}
	}
	head, _ := f.m.Head(ctx)
	for range fanOutSubscribers {
		sub, err := f.m.Subscribe(f.topics)
		if err != nil {
			tb.Fatal(err)
		}
		f.subs = append(f.subs, sub)
		f.cursors = append(f.cursors, head)
		f.batches = append(f.batches, nil)
	}
	return f
}

func (f *fanOut) close() {
	for _, s := range f.subs {
		s.Close()
	}
	f.m.Close()
}

// publish appends one event, which signals every subscription, then runs
// each receiver's wake-up: take the signal, read from its cursor, move
// the cursor on. It fails if a receiver was not signalled or did not read
// exactly the one event.
func (f *fanOut) publish(tb testing.TB) {
	ctx := context.Background()
	e, err := f.m.Append(ctx, Draft{Topic: "room:a", Type: "message", Data: f.data})
	if err != nil {
		tb.Fatal(err)
	}
	for i, sub := range f.subs {
		select {
		case <-sub.C():
		default:
			tb.Fatalf("subscriber %d was not signalled", i)
		}
		var b Batch
		if f.reuse {
			b, err = ReadInto(ctx, f.m, f.batches[i], f.topics, f.cursors[i], 100)
		} else {
			b, err = f.m.Read(ctx, f.topics, f.cursors[i], 100)
		}
		if err != nil || len(b.Events) != 1 || b.Events[0] != e {
			tb.Fatalf("subscriber %d read %d events, err %v", i, len(b.Events), err)
		}
		f.cursors[i] = b.Cursor
		clear(b.Events)
		f.batches[i] = b.Events[:0]
	}
}

// BenchmarkPublishFanOut is the publish path to 10 000 receivers of one
// topic: one append, its wake-up of every subscription, and every
// receiver's read of the new event (writing to a connection is
// BenchmarkWebSocketEvents's and BenchmarkSSEEvents's in negotiate).
// read=reuse reads as the streams do, through ReadInto with a slice per
// receiver; read=fresh through Read, a slice per read. allocs/op is per
// publish: allocs/subscriber is it divided by 10 000.
//
//	go test -run '^$' -bench PublishFanOut -benchmem ./longpoll/
func BenchmarkPublishFanOut(b *testing.B) {
	for _, reuse := range []bool{true, false} {
		name := "read=fresh"
		if reuse {
			name = "read=reuse"
		}
		b.Run(name, func(b *testing.B) {
			f := newFanOut(b, reuse)
			defer f.close()
			f.publish(b) // every receiver's slice exists
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				f.publish(b)
			}
			b.StopTimer()
			// MemStats-free: divide the allocs the framework counted.
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/fanOutSubscribers, "ns/subscriber")
		})
	}
}

// TestPublishFanOutAllocs pins the publish path's allocations: an append
// and its fan-out to 10 000 receivers reading as the streams do allocate
// a handful of objects for the event itself and none per receiver.
func TestPublishFanOutAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("10 000 subscriptions")
	}
	f := newFanOut(t, true)
	defer f.close()
	f.publish(t)
	allocs := testing.AllocsPerRun(20, func() { f.publish(t) })
	if perSub := allocs / fanOutSubscribers; allocs > 16 {
		t.Fatalf("a publish to %d receivers allocates %.0f objects (%.4f per receiver), want at most 16 in all", fanOutSubscribers, allocs, perSub)
	}
	t.Logf("a publish to %d receivers: %.0f allocations", fanOutSubscribers, allocs)
}
