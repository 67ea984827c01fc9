package longpoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestMemory(t testing.TB, cfg MemoryConfig) *Memory {
	t.Helper()
	m := NewMemory(cfg)
	t.Cleanup(func() { m.Close() })
	return m
}

func mustAppend(t testing.TB, m Buffer, topic, typ string, data string) *Event {
	t.Helper()
	e, err := m.Append(context.Background(), Draft{Topic: topic, Type: typ, Data: json.RawMessage(data)})
	if err != nil {
		t.Fatalf("Append(%q): %v", topic, err)
	}
	return e
}

func mustRead(t testing.TB, m Buffer, topics []string, after Cursor, max int) Batch {
	t.Helper()
	b, err := m.Read(context.Background(), topics, after, max)
	if err != nil {
		t.Fatalf("Read(%v, %v): %v", topics, after, err)
	}
	return b
}

func ids(events []*Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.ID.Seq
	}
	return out
}

func TestMemoryReadAcrossTopicsInOrder(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{})
	start, _ := m.Head(context.Background())
	var want []uint64
	for i := range 30 {
		topic := []string{"a", "b", "c"}[i%3]
		e := mustAppend(t, m, topic, "message", fmt.Sprint(i))
		if topic != "c" {
			want = append(want, e.ID.Seq)
		}
	}
	b := mustRead(t, m, []string{"a", "b"}, start, 0)
	if got := ids(b.Events); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Read = %v, want %v", got, want)
	}
	if b.Reset || b.More {
		t.Fatalf("Read: reset=%v more=%v, want neither", b.Reset, b.More)
	}
	head, _ := m.Head(context.Background())
	if b.Cursor != head {
		t.Fatalf("Read cursor = %v, want head %v", b.Cursor, head)
	}
	if again := mustRead(t, m, []string{"a", "b"}, b.Cursor, 0); len(again.Events) != 0 {
		t.Fatalf("Read after the batch cursor = %v, want nothing", ids(again.Events))
	}
}

func TestMemoryResumeFromAnyEventID(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{})
	start, _ := m.Head(context.Background())
	for i := range 10 {
		mustAppend(t, m, []string{"a", "b"}[i%2], "message", "1")
	}
	all := mustRead(t, m, []string{"a", "b"}, start, 0).Events
	for i, e := range all {
		rest := mustRead(t, m, []string{"a", "b"}, e.ID, 0).Events
		if fmt.Sprint(ids(rest)) != fmt.Sprint(ids(all[i+1:])) {
			t.Errorf("resume from %v = %v, want %v", e.ID, ids(rest), ids(all[i+1:]))
		}
	}
}

func TestMemoryBatchLimit(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{})
	cur, _ := m.Head(context.Background())
	for i := range 10 {
		mustAppend(t, m, []string{"a", "b"}[i%2], "message", "1")
	}
	var got []uint64
	for range 4 {
		b := mustRead(t, m, []string{"a", "b"}, cur, 3)
		got = append(got, ids(b.Events)...)
		cur = b.Cursor
		if len(b.Events) == 3 != b.More && len(got) != 9 {
			t.Fatalf("batch of %d has More=%v", len(b.Events), b.More)
		}
	}
	if len(got) != 10 {
		t.Fatalf("batched reads returned %d events, want 10: %v", len(got), got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("batched reads skipped or repeated: %v", got)
		}
	}
}

func TestMemoryResetWhenEvicted(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxEventsPerTopic: 4})
	start, _ := m.Head(context.Background())
	first := mustAppend(t, m, "a", "message", "1")
	for range 4 {
		mustAppend(t, m, "a", "message", "1")
	}
	// The first event was evicted: a cursor before it must reset, a cursor
	// at it is still whole.
	if b := mustRead(t, m, []string{"a"}, start, 0); !b.Reset || len(b.Events) != 0 {
		t.Fatalf("Read from before an evicted event: reset=%v events=%d, want a reset and no events", b.Reset, len(b.Events))
	}
	if b := mustRead(t, m, []string{"a"}, first.ID, 0); b.Reset || len(b.Events) != 4 {
		t.Fatalf("Read from the evicted event's id: reset=%v events=%d, want 4 events", b.Reset, len(b.Events))
	}
	// Another topic's evictions do not concern a reader of "b".
	if b := mustRead(t, m, []string{"b"}, start, 0); b.Reset {
		t.Fatal("Read of an untouched topic reset")
	}
}

func TestMemoryResetWhenExpired(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{MaxAge: time.Minute, Now: clock.Now})
	start, _ := m.Head(context.Background())
	mustAppend(t, m, "a", "message", "1")
	clock.Advance(30 * time.Second)
	second := mustAppend(t, m, "a", "message", "2")
	clock.Advance(31 * time.Second) // the first event is now older than MaxAge
	if b := mustRead(t, m, []string{"a"}, start, 0); !b.Reset {
		t.Fatal("Read from before an expired event did not reset")
	}
	if b := mustRead(t, m, []string{"a"}, second.ID, 0); b.Reset {
		t.Fatal("Read from after the expired event reset")
	}
	// The sweep drops what expired without changing the answer.
	m.Sweep()
	if st := m.Stats(); st.Events != 1 {
		t.Fatalf("after Sweep, %d events retained, want 1", st.Events)
	}
	if b := mustRead(t, m, []string{"a"}, start, 0); !b.Reset {
		t.Fatal("Read from before an expired event did not reset after Sweep")
	}
}

func TestMemoryResetSurvivesDroppedTopic(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{MaxAge: time.Minute, Now: clock.Now})
	start, _ := m.Head(context.Background())
	mustAppend(t, m, "a", "message", "1")
	clock.Advance(2 * time.Minute)
	m.Sweep() // "a" is idle and empty: dropped
	if st := m.Stats(); st.Topics != 0 {
		t.Fatalf("after Sweep, %d topics, want 0", st.Topics)
	}
	if b := mustRead(t, m, []string{"a"}, start, 0); !b.Reset {
		t.Fatal("Read of a dropped topic from before its lost events did not reset")
	}
	mustAppend(t, m, "a", "message", "2") // recreated
	if b := mustRead(t, m, []string{"a"}, start, 0); !b.Reset {
		t.Fatal("Read of a recreated topic from before its lost events did not reset")
	}
}

func TestMemoryResetOnOtherEpoch(t *testing.T) {
	old := newTestMemory(t, MemoryConfig{})
	mustAppend(t, old, "a", "message", "1")
	stale, _ := old.Head(context.Background())
	m := newTestMemory(t, MemoryConfig{}) // a restart: a new epoch
	mustAppend(t, m, "a", "message", "1")
	b := mustRead(t, m, []string{"a"}, stale, 0)
	head, _ := m.Head(context.Background())
	if !b.Reset || len(b.Events) != 0 || b.Cursor != head {
		t.Fatalf("Read with another epoch's cursor = %+v, want a reset to head %v", b, head)
	}
	future := Cursor{Epoch: m.Epoch(), Seq: head.Seq + 5}
	if b := mustRead(t, m, []string{"a"}, future, 0); !b.Reset {
		t.Fatal("Read with a cursor beyond the head did not reset")
	}
}

func TestMemoryEphemeralNotReplayedAfterTTL(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{Now: clock.Now})
	start, _ := m.Head(context.Background())
	typing, err := m.Append(context.Background(), Draft{Topic: "a", Type: TypeTyping, Data: json.RawMessage(`{}`), TTL: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mustJSON(t, typing)), `"ttlMs":4000`) {
		t.Fatalf("ephemeral envelope = %s, want ttlMs 4000", mustJSON(t, typing))
	}
	msg := mustAppend(t, m, "a", "message", `"after"`)
	if b := mustRead(t, m, []string{"a"}, start, 0); len(b.Events) != 2 {
		t.Fatalf("within the TTL, Read = %v, want both events", ids(b.Events))
	}
	clock.Advance(4 * time.Second)
	b := mustRead(t, m, []string{"a"}, start, 0)
	if b.Reset || fmt.Sprint(ids(b.Events)) != fmt.Sprint([]uint64{msg.ID.Seq}) {
		t.Fatalf("after the TTL, Read = %v reset=%v; want only the durable event, no reset", ids(b.Events), b.Reset)
	}
	// Evicting an ephemeral event by count is not a reset either.
	small := newTestMemory(t, MemoryConfig{MaxEventsPerTopic: 1, Now: clock.Now})
	from, _ := small.Head(context.Background())
	if _, err := small.Append(context.Background(), Draft{Topic: "a", Type: TypeTyping, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, small, "a", "message", "1")
	if b := mustRead(t, small, []string{"a"}, from, 0); b.Reset || len(b.Events) != 1 {
		t.Fatalf("after evicting an ephemeral event: %d events reset=%v; want 1 and no reset", len(b.Events), b.Reset)
	}
}

func TestMemoryEnvelope(t *testing.T) {
	clock := newFakeClock()
	m := newTestMemory(t, MemoryConfig{Now: clock.Now})
	e, err := m.Append(context.Background(), Draft{Topic: "room:a", Type: "message", Data: json.RawMessage("{\n \"text\": \"line\\nbreak <b>\"\n}"), From: "c_1"})
	if err != nil {
		t.Fatal(err)
	}
	got := string(mustJSON(t, e))
	want := fmt.Sprintf(`{"id":"%s","topic":"room:a","type":"message","data":{"text":"line\nbreak <b>"},"ts":%d,"from":"c_1"}`, e.ID, clock.Now().UnixMilli())
	if got != want {
		t.Fatalf("envelope =\n%s\nwant\n%s", got, want)
	}
}

// mustJSON returns the envelope exactly as transports write it (json.Marshal
// would re-escape it).
func mustJSON(t testing.TB, e *Event) []byte {
	t.Helper()
	b, err := e.MarshalJSON()
	if err != nil || !json.Valid(b) {
		t.Fatalf("MarshalJSON = %s, %v; want valid JSON", b, err)
	}
	return b
}

func TestMemoryAppendRefusals(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxEventBytes: 100, MaxTopics: 2})
	ctx := context.Background()
	tests := []struct {
		name string
		d    Draft
		want error
	}{
		{"bad topic", Draft{Topic: "no spaces", Type: "x"}, ErrBadTopic},
		{"empty topic", Draft{Topic: "", Type: "x"}, ErrBadTopic},
		{"too large", Draft{Topic: "a", Type: "x", Data: json.RawMessage(`"` + string(make([]byte, 100)) + `"`)}, nil},
	}
	for _, tt := range tests {
		if _, err := m.Append(ctx, tt.d); err == nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Append error = %v, want %v", tt.name, err, tt.want)
		}
	}
	big := json.RawMessage(`"` + string(make([]byte, 98)) + `"`)
	for i := range len(big) - 2 {
		big[i+1] = 'x'
	}
	if _, err := m.Append(ctx, Draft{Topic: "a", Type: "x", Data: big}); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("oversized Append error = %v, want ErrEventTooLarge", err)
	}
	mustAppend(t, m, "a", "x", "1")
	mustAppend(t, m, "b", "x", "1")
	if _, err := m.Append(ctx, Draft{Topic: "c", Type: "x"}); !errors.Is(err, ErrTooManyTopics) {
		t.Errorf("Append beyond MaxTopics error = %v, want ErrTooManyTopics", err)
	}
	if st := m.Stats(); st.Events != 2 {
		t.Errorf("refused appends stored events: %d retained, want 2", st.Events)
	}
}

func TestMemorySubscribeSignalsOnlyItsTopics(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{})
	sub, err := m.Subscribe([]string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	mustAppend(t, m, "c", "x", "1")
	select {
	case <-sub.C():
		t.Fatal("signalled by an append to another topic")
	default:
	}
	mustAppend(t, m, "b", "x", "1")
	mustAppend(t, m, "a", "x", "1") // coalesces with the pending signal, never blocks
	select {
	case <-sub.C():
	default:
		t.Fatal("not signalled by an append to a followed topic")
	}
	sub.Close()
	sub.Close()
	mustAppend(t, m, "a", "x", "1")
	select {
	case <-sub.C():
		t.Fatal("signalled after Close")
	default:
	}
}

func TestMemoryClosed(t *testing.T) {
	m := NewMemory(MemoryConfig{})
	m.Close()
	if _, err := m.Append(context.Background(), Draft{Topic: "a", Type: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := m.Read(context.Background(), []string{"a"}, Cursor{}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestMemoryConcurrentAppendsNeverSkip has readers chase concurrent
// appenders on several topics: every reader must see every event of its
// topics exactly once, in order, which fails if a read could adopt a cursor
// past an event still being inserted.
func TestMemoryConcurrentAppendsNeverSkip(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxEventsPerTopic: 100_000})
	topics := []string{"a", "b", "c", "d"}
	start, _ := m.Head(context.Background())
	const perWriter = 2000
	var writers sync.WaitGroup
	for _, topic := range topics {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range perWriter {
				if _, err := m.Append(context.Background(), Draft{Topic: topic, Type: "x"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()

	var readers sync.WaitGroup
	for r := range 4 {
		follow := topics[:r+1]
		readers.Add(1)
		go func() {
			defer readers.Done()
			cur, seen := start, 0
			perTopic := map[string]uint64{}
			for finished := false; ; {
				select {
				case <-done:
					finished = true
				default:
				}
				b, err := m.Read(context.Background(), follow, cur, 64)
				if err != nil || b.Reset {
					t.Errorf("reader %d: err=%v reset=%v", r, err, b.Reset)
					return
				}
				for _, e := range b.Events {
					if e.ID.Seq <= perTopic[e.Topic] || e.ID.Seq <= cur.Seq {
						t.Errorf("reader %d: event %v out of order", r, e.ID)
						return
					}
					perTopic[e.Topic] = e.ID.Seq
				}
				seen += len(b.Events)
				cur = b.Cursor
				if finished && len(b.Events) == 0 {
					break
				}
			}
			if want := perWriter * len(follow); seen != want {
				t.Errorf("reader of %v saw %d events, want %d", follow, seen, want)
			}
		}()
	}
	readers.Wait()
}

func TestMemoryRingGrowsThenWraps(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxEventsPerTopic: 20})
	start, _ := m.Head(context.Background())
	var all []*Event
	for i := range 53 {
		all = append(all, mustAppend(t, m, "a", "message", fmt.Sprint(i)))
	}
	kept := all[len(all)-20:]
	for i, e := range all[:len(all)-1] {
		b := mustRead(t, m, []string{"a"}, e.ID, 0)
		after := all[i+1:]
		if len(after) > 20 {
			if !b.Reset {
				t.Fatalf("read from %v (needs %d evicted events) did not reset", e.ID, len(after)-20)
			}
			continue
		}
		if b.Reset || fmt.Sprint(ids(b.Events)) != fmt.Sprint(ids(after)) {
			t.Fatalf("read from %v = %v reset=%v, want %v", e.ID, ids(b.Events), b.Reset, ids(after))
		}
	}
	if b := mustRead(t, m, []string{"a"}, start, 0); !b.Reset {
		t.Fatal("read from the start did not reset")
	}
	if st := m.Stats(); st.Events != len(kept) {
		t.Fatalf("%d events retained, want %d", st.Events, len(kept))
	}
}

// A keyed append is applied once within the window; the repeat names the
// first event, and a key is free again once the window has passed.
func TestMemoryAppendKey(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMemory(MemoryConfig{DedupWindow: time.Minute, Now: func() time.Time { return now }})
	defer m.Close()
	first, err := m.Append(t.Context(), Draft{Topic: "a", Type: "t", Key: "c_1/m_1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Append(t.Context(), Draft{Topic: "a", Type: "t", Key: "c_1/m_1"})
	var dup *Duplicate
	if !errors.As(err, &dup) || dup.ID != first.ID || !errors.Is(err, ErrDuplicate) {
		t.Fatalf("repeat = %v, want a Duplicate of %v", err, first.ID)
	}
	now = now.Add(time.Minute)
	m.Sweep()
	if _, err := m.Append(t.Context(), Draft{Topic: "a", Type: "t", Key: "c_1/m_1"}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}
