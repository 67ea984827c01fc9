package longpoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// The ring's reads are checked by the conformance suite
// (WrapsAtTheTopicBound); this checks that it retains no more than its
// bound as it grows and wraps.
func TestMemoryRingGrowsThenWraps(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxEventsPerTopic: 20})
	for i := range 53 {
		mustAppend(t, m, "a", "message", fmt.Sprint(i))
		if st := m.Stats(); st.Events != min(i+1, 20) {
			t.Fatalf("after %d appends, %d events retained, want %d", i+1, st.Events, min(i+1, 20))
		}
	}
}
