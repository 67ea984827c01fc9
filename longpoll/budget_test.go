package longpoll

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// payload returns a JSON string of n bytes in all.
func payload(n int) string { return `"` + strings.Repeat("x", n-2) + `"` }

// The oldest events of any topic go first when the retained bytes pass
// MaxBytes, and a reader that needed one is told with a reset.
func TestMemoryByteBudgetEvictsOldestFirst(t *testing.T) {
	const eventBytes = 2 << 10
	m := newTestMemory(t, MemoryConfig{MaxBytes: 32 << 10})
	start, _ := m.Head(context.Background())
	var events []*Event
	for i := range 64 { // 64 events of about 2 KiB on 8 topics: about 4 times the budget
		events = append(events, mustAppend(t, m, "t"+strconv.Itoa(i%8), "message", payload(eventBytes)))
	}
	st := m.Stats()
	if st.Bytes > 32<<10 {
		t.Fatalf("retained %d bytes, over the 32 KiB budget", st.Bytes)
	}
	if st.Events == 0 || st.Events > 16 {
		t.Fatalf("retained %d events, want the newest that fit in 32 KiB", st.Events)
	}
	// What is retained is the newest events, whatever their topic.
	all := []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"}
	kept := events[len(events)-st.Events:]
	b := mustRead(t, m, all, kept[0].ID, 0)
	if b.Reset || !slices.Equal(ids(b.Events), ids(kept[1:])) {
		t.Fatalf("read after the oldest retained event: reset=%v %v, want %v", b.Reset, ids(b.Events), ids(kept[1:]))
	}
	// A reader from the start lost events: a reset, not a gap.
	for _, topic := range all {
		if b := mustRead(t, m, []string{topic}, start, 0); !b.Reset {
			t.Fatalf("read of %s from the start = %v, want a reset", topic, ids(b.Events))
		}
	}
}

// The budget's age queue stays within a small multiple of the retained
// events, although most of its entries go stale through eviction by count.
func TestByteBudgetQueueStaysBounded(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxEventsPerTopic: 10})
	for i := range 20_000 {
		mustAppend(t, m, "t"+strconv.Itoa(i%4), "message", "1")
	}
	if n, live := m.budget.len(), m.Stats().Events; n > 2*live+1025 {
		t.Fatalf("age queue holds %d entries for %d retained events", n, live)
	}
}

// Each payload is held once: Event.Data is a view into the envelope, not a
// second copy (issue 8, item 2).
func TestMemoryStoresPayloadOnce(t *testing.T) {
	const (
		n    = 200
		size = 12 << 10
	)
	m := newTestMemory(t, MemoryConfig{MaxEventsPerTopic: n})
	retained := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := retained()
	for i := range n {
		data := json.RawMessage(`{"n":` + strconv.Itoa(i) + `,"text":` + payload(size) + `}`)
		if _, err := m.Append(context.Background(), Draft{Topic: "room", Type: "message", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	perEvent := float64(retained()-before) / n
	t.Logf("%.0f bytes retained per event of a %d-byte payload", perEvent, size)
	if perEvent > 1.5*size {
		t.Fatalf("%.0f bytes retained per %d-byte payload: the payload is stored more than once", perEvent, size)
	}
	runtime.KeepAlive(m)
}

// The delivery guarantee under a byte budget that evicts all the time:
// every read returns exactly the events of its topics between its cursor
// and the cursor it returns, or a reset. Never a silent gap.
func TestPropertyByteBudgetNeverSilentGap(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	m := newTestMemory(t, MemoryConfig{MaxBytes: 24 << 10})
	topics := []string{"a", "b", "c", "d", "e"}
	start, _ := m.Head(context.Background())

	var (
		mu        sync.Mutex
		published = map[uint64]string{} // seq -> topic
	)
	const writers, perWriter = 3, 1500
	var pubs sync.WaitGroup
	for w := range writers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for range perWriter {
				topic := topics[r.IntN(len(topics))]
				e, err := m.Append(context.Background(), Draft{Topic: topic, Type: "m", Data: json.RawMessage(payload(64 + r.IntN(1024)))})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				published[e.ID.Seq] = topic
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { pubs.Wait(); close(done) }()

	type read struct {
		follow   []string
		from, to uint64
		got      []uint64
	}
	var (
		rmu   sync.Mutex
		reads []read
	)
	var readers sync.WaitGroup
	for i := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			r := rand.New(rand.NewPCG(seed, 100+uint64(i)))
			follow := topics[:1+r.IntN(len(topics))]
			cur := start
			for finished := false; !finished; {
				select {
				case <-done:
					finished = true
				default:
				}
				b, err := m.Read(context.Background(), follow, cur, 1+r.IntN(32))
				if err != nil {
					t.Error(err)
					return
				}
				if !b.Reset {
					rmu.Lock()
					reads = append(reads, read{follow: follow, from: cur.Seq, to: b.Cursor.Seq, got: ids(b.Events)})
					rmu.Unlock()
				}
				cur = b.Cursor
			}
		}()
	}
	readers.Wait()
	if t.Failed() {
		return
	}
	if st := m.Stats(); st.Bytes > 24<<10 {
		t.Fatalf("retained %d bytes over a 24 KiB budget", st.Bytes)
	}
	checked := 0
	for _, rd := range reads {
		var want []uint64
		for seq := rd.from + 1; seq <= rd.to; seq++ {
			if slices.Contains(rd.follow, published[seq]) {
				want = append(want, seq)
			}
		}
		if !slices.Equal(rd.got, want) {
			t.Fatalf("read of %v after %d up to %d returned %v, want %v: a silent gap", rd.follow, rd.from, rd.to, rd.got, want)
		}
		checked += len(want)
	}
	t.Logf("%d reads, %d events checked", len(reads), checked)
}
