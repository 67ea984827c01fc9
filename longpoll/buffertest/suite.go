package buffertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// Options are the bounds and clock a test needs its buffer to have. Zero
// fields mean the implementation's defaults.
type Options struct {
	MaxEventsPerTopic int
	MaxAge            time.Duration
	MaxEventBytes     int
	MaxTopics         int
	DedupWindow       time.Duration
	Now               func() time.Time
}

// A Subject is a buffer under test and what the suite must do to it.
type Subject struct {
	Buffer longpoll.Buffer
	// Sweep drops expired events and empty topics now.
	Sweep func()
	// Restart returns the buffer as it is after losing everything: a new
	// process for an in-memory buffer, a Redis restarted empty for a shared
	// one. Cursors from before must be answered with a reset.
	Restart func() longpoll.Buffer
	// Causes says the buffer reports why it resets (Batch.Cause): the
	// suite then checks each cause. Buffers that leave it ResetUnknown
	// pass without it.
	Causes bool
}

// checkCause fails t when s reports causes and b's is not want.
func checkCause(t *testing.T, s Subject, b longpoll.Batch, want longpoll.ResetCause) {
	t.Helper()
	if s.Causes && b.Cause != want {
		t.Fatalf("reset cause = %v, want %v", b.Cause, want)
	}
}

// A Factory makes a fresh, empty Subject with the given options, and
// cleans it up when t ends.
type Factory func(t *testing.T, o Options) Subject

// Run runs every conformance test against the buffers f makes.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"ReadAcrossTopicsInOrder", testReadAcrossTopicsInOrder},
		{"ResumeFromAnyEventID", testResumeFromAnyEventID},
		{"BatchLimit", testBatchLimit},
		{"ResetWhenEvicted", testResetWhenEvicted},
		{"ResetWhenExpired", testResetWhenExpired},
		{"ResetSurvivesDroppedTopic", testResetSurvivesDroppedTopic},
		{"ResetOnOtherEpoch", testResetOnOtherEpoch},
		{"EphemeralNotReplayedAfterTTL", testEphemeralNotReplayedAfterTTL},
		{"Envelope", testEnvelope},
		{"AppendRefusals", testAppendRefusals},
		{"AppendKeyOnce", testAppendKeyOnce},
		{"AppendAtOnce", testAppendAtOnce},
		{"SubscribeSignalsOnlyItsTopics", testSubscribeSignalsOnlyItsTopics},
		{"ConcurrentAppendsNeverSkip", testConcurrentAppendsNeverSkip},
		{"WrapsAtTheTopicBound", testWrapsAtTheTopicBound},
		{"HistoryOldestFirstAndBounded", testHistoryOldestFirstAndBounded},
		{"HistoryIncompleteWhenTrimmed", testHistoryIncompleteWhenTrimmed},
		{"HistoryThenFollow", testHistoryThenFollow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, f) })
	}
}

func mustAppend(t testing.TB, b longpoll.Buffer, topic, typ, data string) *longpoll.Event {
	t.Helper()
	e, err := b.Append(context.Background(), longpoll.Draft{Topic: topic, Type: typ, Data: json.RawMessage(data)})
	if err != nil {
		t.Fatalf("Append(%q): %v", topic, err)
	}
	return e
}

func mustRead(t testing.TB, b longpoll.Buffer, topics []string, after longpoll.Cursor, max int) longpoll.Batch {
	t.Helper()
	batch, err := b.Read(context.Background(), topics, after, max)
	if err != nil {
		t.Fatalf("Read(%v, %v): %v", topics, after, err)
	}
	return batch
}

func mustHead(t testing.TB, b longpoll.Buffer) longpoll.Cursor {
	t.Helper()
	c, err := b.Head(context.Background())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return c
}

func ids(events []*longpoll.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.ID.Seq
	}
	return out
}

func testReadAcrossTopicsInOrder(t *testing.T, f Factory) {
	b := f(t, Options{}).Buffer
	start := mustHead(t, b)
	var want []uint64
	for i := range 30 {
		topic := []string{"a", "b", "c"}[i%3]
		e := mustAppend(t, b, topic, "message", fmt.Sprint(i))
		if topic != "c" {
			want = append(want, e.ID.Seq)
		}
	}
	batch := mustRead(t, b, []string{"a", "b"}, start, 0)
	if got := ids(batch.Events); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Read = %v, want %v", got, want)
	}
	if batch.Reset || batch.More {
		t.Fatalf("Read: reset=%v more=%v, want neither", batch.Reset, batch.More)
	}
	if head := mustHead(t, b); batch.Cursor != head {
		t.Fatalf("Read cursor = %v, want head %v", batch.Cursor, head)
	}
	if again := mustRead(t, b, []string{"a", "b"}, batch.Cursor, 0); len(again.Events) != 0 {
		t.Fatalf("Read after the batch cursor = %v, want nothing", ids(again.Events))
	}
}

func testResumeFromAnyEventID(t *testing.T, f Factory) {
	b := f(t, Options{}).Buffer
	start := mustHead(t, b)
	for i := range 10 {
		mustAppend(t, b, []string{"a", "b"}[i%2], "message", "1")
	}
	all := mustRead(t, b, []string{"a", "b"}, start, 0).Events
	for i, e := range all {
		rest := mustRead(t, b, []string{"a", "b"}, e.ID, 0).Events
		if fmt.Sprint(ids(rest)) != fmt.Sprint(ids(all[i+1:])) {
			t.Errorf("resume from %v = %v, want %v", e.ID, ids(rest), ids(all[i+1:]))
		}
	}
}

func testBatchLimit(t *testing.T, f Factory) {
	b := f(t, Options{}).Buffer
	cur := mustHead(t, b)
	for i := range 10 {
		mustAppend(t, b, []string{"a", "b"}[i%2], "message", "1")
	}
	var got []uint64
	for range 4 {
		batch := mustRead(t, b, []string{"a", "b"}, cur, 3)
		got = append(got, ids(batch.Events)...)
		cur = batch.Cursor
		if len(batch.Events) == 3 != batch.More && len(got) != 9 {
			t.Fatalf("batch of %d has More=%v", len(batch.Events), batch.More)
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

func testResetWhenEvicted(t *testing.T, f Factory) {
	s := f(t, Options{MaxEventsPerTopic: 4})
	b := s.Buffer
	start := mustHead(t, b)
	first := mustAppend(t, b, "a", "message", "1")
	for range 4 {
		mustAppend(t, b, "a", "message", "1")
	}
	// The first event was evicted: a cursor before it must reset, a cursor
	// at it is still whole.
	batch := mustRead(t, b, []string{"a"}, start, 0)
	if !batch.Reset || len(batch.Events) != 0 {
		t.Fatalf("Read from before an evicted event: reset=%v events=%d, want a reset and no events", batch.Reset, len(batch.Events))
	}
	checkCause(t, s, batch, longpoll.ResetEvicted)
	if batch := mustRead(t, b, []string{"a"}, first.ID, 0); batch.Reset || len(batch.Events) != 4 {
		t.Fatalf("Read from the evicted event's id: reset=%v events=%d, want 4 events", batch.Reset, len(batch.Events))
	}
	// Another topic's evictions do not concern a reader of "b".
	if batch := mustRead(t, b, []string{"b"}, start, 0); batch.Reset {
		t.Fatal("Read of an untouched topic reset")
	}
}

func testResetWhenExpired(t *testing.T, f Factory) {
	clock := NewClock()
	s := f(t, Options{MaxAge: time.Minute, Now: clock.Now})
	b := s.Buffer
	start := mustHead(t, b)
	mustAppend(t, b, "a", "message", "1")
	clock.Advance(30 * time.Second)
	second := mustAppend(t, b, "a", "message", "2")
	clock.Advance(31 * time.Second) // the first event is now older than MaxAge
	batch := mustRead(t, b, []string{"a"}, start, 0)
	if !batch.Reset {
		t.Fatal("Read from before an expired event did not reset")
	}
	checkCause(t, s, batch, longpoll.ResetExpired)
	if batch := mustRead(t, b, []string{"a"}, second.ID, 0); batch.Reset {
		t.Fatal("Read from after the expired event reset")
	}
	// The sweep drops what expired without changing the answer.
	s.Sweep()
	batch = mustRead(t, b, []string{"a"}, start, 0)
	if !batch.Reset {
		t.Fatal("Read from before an expired event did not reset after Sweep")
	}
	checkCause(t, s, batch, longpoll.ResetExpired)
	if batch := mustRead(t, b, []string{"a"}, second.ID, 0); batch.Reset || len(batch.Events) != 0 {
		t.Fatalf("Read from the newest event after Sweep: reset=%v events=%d", batch.Reset, len(batch.Events))
	}
}

func testResetSurvivesDroppedTopic(t *testing.T, f Factory) {
	clock := NewClock()
	s := f(t, Options{MaxAge: time.Minute, Now: clock.Now})
	b := s.Buffer
	start := mustHead(t, b)
	mustAppend(t, b, "a", "message", "1")
	clock.Advance(2 * time.Minute)
	s.Sweep() // "a" is empty: dropped
	batch := mustRead(t, b, []string{"a"}, start, 0)
	if !batch.Reset {
		t.Fatal("Read of a dropped topic from before its lost events did not reset")
	}
	checkCause(t, s, batch, longpoll.ResetExpired)
	mustAppend(t, b, "a", "message", "2") // recreated
	batch = mustRead(t, b, []string{"a"}, start, 0)
	if !batch.Reset {
		t.Fatal("Read of a recreated topic from before its lost events did not reset")
	}
	checkCause(t, s, batch, longpoll.ResetExpired)
}

func testResetOnOtherEpoch(t *testing.T, f Factory) {
	s := f(t, Options{})
	mustAppend(t, s.Buffer, "a", "message", "1")
	stale := mustHead(t, s.Buffer)
	b := s.Restart()
	mustAppend(t, b, "a", "message", "1")
	batch := mustRead(t, b, []string{"a"}, stale, 0)
	head := mustHead(t, b)
	if !batch.Reset || len(batch.Events) != 0 || batch.Cursor != head || head.Epoch == stale.Epoch {
		t.Fatalf("Read with another epoch's cursor = %+v, want a reset to head %v of a new epoch", batch, head)
	}
	checkCause(t, s, batch, longpoll.ResetEpoch)
	future := longpoll.Cursor{Epoch: head.Epoch, Seq: head.Seq + 5}
	batch = mustRead(t, b, []string{"a"}, future, 0)
	if !batch.Reset {
		t.Fatal("Read with a cursor beyond the head did not reset")
	}
	checkCause(t, s, batch, longpoll.ResetEpoch)
}

func testEphemeralNotReplayedAfterTTL(t *testing.T, f Factory) {
	clock := NewClock()
	b := f(t, Options{Now: clock.Now}).Buffer
	start := mustHead(t, b)
	typing, err := b.Append(context.Background(), longpoll.Draft{Topic: "a", Type: longpoll.TypeTyping, Data: json.RawMessage(`{}`), TTL: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mustJSON(t, typing)), `"ttlMs":4000`) {
		t.Fatalf("ephemeral envelope = %s, want ttlMs 4000", mustJSON(t, typing))
	}
	msg := mustAppend(t, b, "a", "message", `"after"`)
	if batch := mustRead(t, b, []string{"a"}, start, 0); len(batch.Events) != 2 {
		t.Fatalf("within the TTL, Read = %v, want both events", ids(batch.Events))
	}
	clock.Advance(4 * time.Second)
	batch := mustRead(t, b, []string{"a"}, start, 0)
	if batch.Reset || fmt.Sprint(ids(batch.Events)) != fmt.Sprint([]uint64{msg.ID.Seq}) {
		t.Fatalf("after the TTL, Read = %v reset=%v; want only the durable event, no reset", ids(batch.Events), batch.Reset)
	}
	// Evicting an ephemeral event by count is not a reset either.
	small := f(t, Options{MaxEventsPerTopic: 1, Now: clock.Now}).Buffer
	from := mustHead(t, small)
	if _, err := small.Append(context.Background(), longpoll.Draft{Topic: "a", Type: longpoll.TypeTyping, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, small, "a", "message", "1")
	if batch := mustRead(t, small, []string{"a"}, from, 0); batch.Reset || len(batch.Events) != 1 {
		t.Fatalf("after evicting an ephemeral event: %d events reset=%v; want 1 and no reset", len(batch.Events), batch.Reset)
	}
}

func testEnvelope(t *testing.T, f Factory) {
	clock := NewClock()
	b := f(t, Options{Now: clock.Now}).Buffer
	start := mustHead(t, b)
	e, err := b.Append(context.Background(), longpoll.Draft{Topic: "room:a", Type: "message", Data: json.RawMessage("{\n \"text\": \"line\\nbreak <b>\"\n}"), From: "c_1"})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"id":"%s","topic":"room:a","type":"message","data":{"text":"line\nbreak <b>"},"ts":%d,"from":"c_1"}`, e.ID, clock.Now().UnixMilli())
	if got := string(mustJSON(t, e)); got != want {
		t.Fatalf("appended envelope =\n%s\nwant\n%s", got, want)
	}
	read := mustRead(t, b, []string{"room:a"}, start, 0).Events
	if len(read) != 1 || string(mustJSON(t, read[0])) != want {
		t.Fatalf("read envelope = %v, want\n%s", read, want)
	}
}

// mustJSON returns the envelope exactly as transports write it.
func mustJSON(t testing.TB, e *longpoll.Event) []byte {
	t.Helper()
	b, err := e.MarshalJSON()
	if err != nil || !json.Valid(b) {
		t.Fatalf("MarshalJSON = %s, %v; want valid JSON", b, err)
	}
	return b
}

func testAppendRefusals(t *testing.T, f Factory) {
	b := f(t, Options{MaxEventBytes: 100, MaxTopics: 2}).Buffer
	ctx := context.Background()
	start := mustHead(t, b)
	tests := []struct {
		name string
		d    longpoll.Draft
		want error
	}{
		{"bad topic", longpoll.Draft{Topic: "no spaces", Type: "x"}, longpoll.ErrBadTopic},
		{"empty topic", longpoll.Draft{Topic: "", Type: "x"}, longpoll.ErrBadTopic},
		{"empty type", longpoll.Draft{Topic: "a", Type: ""}, longpoll.ErrBadEvent},
		{"bad data", longpoll.Draft{Topic: "a", Type: "x", Data: json.RawMessage(`{`)}, longpoll.ErrBadEvent},
	}
	for _, tt := range tests {
		if _, err := b.Append(ctx, tt.d); !errors.Is(err, tt.want) {
			t.Errorf("%s: Append error = %v, want %v", tt.name, err, tt.want)
		}
	}
	big := json.RawMessage(`"` + strings.Repeat("x", 98) + `"`)
	if _, err := b.Append(ctx, longpoll.Draft{Topic: "a", Type: "x", Data: big}); !errors.Is(err, longpoll.ErrEventTooLarge) {
		t.Errorf("oversized Append error = %v, want ErrEventTooLarge", err)
	}
	mustAppend(t, b, "a", "x", "1")
	mustAppend(t, b, "b", "x", "1")
	if _, err := b.Append(ctx, longpoll.Draft{Topic: "c", Type: "x"}); !errors.Is(err, longpoll.ErrTooManyTopics) {
		t.Errorf("Append beyond MaxTopics error = %v, want ErrTooManyTopics", err)
	}
	if batch := mustRead(t, b, []string{"a", "b", "c"}, start, 0); len(batch.Events) != 2 {
		t.Errorf("refused appends stored events: read %d, want 2", len(batch.Events))
	}
}

func testAppendKeyOnce(t *testing.T, f Factory) {
	clock := NewClock()
	b := f(t, Options{DedupWindow: time.Minute, Now: clock.Now}).Buffer
	ctx := context.Background()
	start := mustHead(t, b)
	first, err := b.Append(ctx, longpoll.Draft{Topic: "a", Type: "t", Key: "c_1/m_1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Append(ctx, longpoll.Draft{Topic: "a", Type: "t", Key: "c_1/m_1"})
	var dup *longpoll.Duplicate
	if !errors.As(err, &dup) || dup.ID != first.ID || !errors.Is(err, longpoll.ErrDuplicate) {
		t.Fatalf("repeat = %v, want a Duplicate of %v", err, first.ID)
	}
	if _, err := b.Append(ctx, longpoll.Draft{Topic: "a", Type: "t", Key: "c_2/m_1"}); err != nil {
		t.Fatalf("another key: %v", err)
	}
	if batch := mustRead(t, b, []string{"a"}, start, 0); len(batch.Events) != 2 {
		t.Fatalf("read %d events, want 2: a keyed append repeated was stored", len(batch.Events))
	}
	// Concurrent appends of one key: exactly one is applied.
	applied := concurrently(t, 8, longpoll.ErrDuplicate, func() error {
		_, err := b.Append(ctx, longpoll.Draft{Topic: "a", Type: "t", Key: "c_3/m_1"})
		return err
	})
	if applied != 1 {
		t.Fatalf("%d concurrent appends of one key applied, want 1", applied)
	}
}

// concurrently runs op from n goroutines at once and returns how many
// succeeded; errors other than refused fail t.
func concurrently(t *testing.T, n int, refused error, op func() error) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	for range n {
		wg.Go(func() {
			err := op()
			if err == nil {
				mu.Lock()
				applied++
				mu.Unlock()
			} else if !errors.Is(err, refused) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return applied
}

// waitSignal waits for a signal on sub, which some implementations deliver
// asynchronously.
func waitSignal(t *testing.T, sub longpoll.Subscription, what string) {
	t.Helper()
	select {
	case <-sub.C():
	case <-time.After(5 * time.Second):
		t.Fatalf("not signalled: %s", what)
	}
}

func testSubscribeSignalsOnlyItsTopics(t *testing.T, f Factory) {
	b := f(t, Options{}).Buffer
	sub, err := b.Subscribe([]string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// A marker on "c" is signalled no earlier than sub would be for the
	// same append: once it is, a wrong signal on sub would be there too.
	marker, err := b.Subscribe([]string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	mustAppend(t, b, "c", "x", "1")
	waitSignal(t, marker, "the marker, by an append to c")
	select {
	case <-sub.C():
		t.Fatal("signalled by an append to another topic")
	default:
	}
	mustAppend(t, b, "b", "x", "1")
	mustAppend(t, b, "a", "x", "1") // coalesces with the pending signal, never blocks
	waitSignal(t, sub, "by an append to a followed topic")
	sub.Close()
	sub.Close()
	// A signal sent before Close returned may still be pending (the second
	// append's, where signals arrive asynchronously): take it. None may
	// come after.
	select {
	case <-sub.C():
	default:
	}
	after, err := b.Subscribe([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	mustAppend(t, b, "a", "x", "1")
	waitSignal(t, after, "a new subscription")
	select {
	case <-sub.C():
		t.Fatal("signalled after Close")
	default:
	}
}

// testConcurrentAppendsNeverSkip has readers chase concurrent appenders on
// several topics: every reader must see every event of its topics exactly
// once, in order, which fails if a read could adopt a cursor past an event
// still being inserted.
func testConcurrentAppendsNeverSkip(t *testing.T, f Factory) {
	const perWriter = 500
	b := f(t, Options{MaxEventsPerTopic: 100_000}).Buffer
	topics := []string{"a", "b", "c", "d"}
	start := mustHead(t, b)
	var writers sync.WaitGroup
	for _, topic := range topics {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range perWriter {
				if _, err := b.Append(context.Background(), longpoll.Draft{Topic: topic, Type: "x"}); err != nil {
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
				batch, err := b.Read(context.Background(), follow, cur, 64)
				if err != nil || batch.Reset {
					t.Errorf("reader %d: err=%v reset=%v", r, err, batch.Reset)
					return
				}
				for _, e := range batch.Events {
					if e.ID.Seq <= perTopic[e.Topic] || e.ID.Seq <= cur.Seq {
						t.Errorf("reader %d: event %v out of order", r, e.ID)
						return
					}
					perTopic[e.Topic] = e.ID.Seq
				}
				seen += len(batch.Events)
				cur = batch.Cursor
				if finished && len(batch.Events) == 0 {
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

func testWrapsAtTheTopicBound(t *testing.T, f Factory) {
	b := f(t, Options{MaxEventsPerTopic: 20}).Buffer
	start := mustHead(t, b)
	var all []*longpoll.Event
	for i := range 53 {
		all = append(all, mustAppend(t, b, "a", "message", fmt.Sprint(i)))
	}
	for i, e := range all[:len(all)-1] {
		batch := mustRead(t, b, []string{"a"}, e.ID, 0)
		after := all[i+1:]
		if len(after) > 20 {
			if !batch.Reset {
				t.Fatalf("read from %v (needs %d evicted events) did not reset", e.ID, len(after)-20)
			}
			continue
		}
		if batch.Reset || fmt.Sprint(ids(batch.Events)) != fmt.Sprint(ids(after)) {
			t.Fatalf("read from %v = %v reset=%v, want %v", e.ID, ids(batch.Events), batch.Reset, ids(after))
		}
	}
	if batch := mustRead(t, b, []string{"a"}, start, 0); !batch.Reset {
		t.Fatal("read from the start did not reset")
	}
}
