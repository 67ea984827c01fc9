package llredis

import (
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

func mirrorEvent(seq uint64, topic string, at time.Time, ttl time.Duration) *longpoll.Event {
	return longpoll.NewEvent(longpoll.Cursor{Epoch: "e1", Seq: seq}, longpoll.Draft{Topic: topic, Type: "x", TTL: ttl}, at)
}

func TestMirror(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	at := func(seq uint64) longpoll.Cursor { return longpoll.Cursor{Epoch: "e1", Seq: seq} }
	m := newMirror(3, 100)
	if _, v, _ := m.read([]string{"a"}, at(0), 0, now, time.Minute); v != unsure {
		t.Fatal("an empty mirror answered")
	}
	for seq := uint64(10); seq <= 15; seq++ { // starts at 10: base 9
		m.apply("e1", mirrorEvent(seq, []string{"a", "b"}[seq%2], now, 0))
	}
	b, v, _ := m.read([]string{"a"}, at(9), 0, now, time.Minute)
	if v != answered || len(b.Events) != 3 || b.Cursor != at(15) {
		t.Fatalf("read of a from the base = %+v %d, want 10, 12, 14 up to 15", b, v)
	}
	if _, v, _ := m.read([]string{"a"}, at(8), 0, now, time.Minute); v != unsure {
		t.Fatal("answered a cursor before the base")
	}
	if _, v, _ := m.read([]string{"a"}, at(16), 0, now, time.Minute); v != behind {
		t.Fatal("a cursor ahead of the mirror is not behind")
	}
	if b, v, _ := m.read([]string{"a", "b"}, at(11), 2, now, time.Minute); v != answered || len(b.Events) != 2 || !b.More || b.Cursor != at(13) {
		t.Fatalf("cut read = %+v %d, want 12, 13 and more", b, v)
	}
	// The topic bound lets 10 go from a: a reader that needs it asks Redis.
	m.apply("e1", mirrorEvent(16, "a", now, 0))
	if _, v, _ := m.read([]string{"a"}, at(9), 0, now, time.Minute); v != unsure {
		t.Fatal("answered a cursor whose event the mirror let go")
	}
	if b, v, _ := m.read([]string{"a"}, at(10), 0, now, time.Minute); v != answered || len(b.Events) != 3 {
		t.Fatalf("read after the let-go event = %+v %d", b, v)
	}
	// An event older than MaxAge in range: Redis decides (a reset).
	if _, v, _ := m.read([]string{"a"}, at(10), 0, now.Add(2*time.Minute), time.Minute); v != unsure {
		t.Fatal("answered over an event expired by age")
	}
	// Instance knowledge ahead of the mirror: ask Redis.
	m.saw(at(20))
	if _, v, _ := m.read([]string{"a"}, at(15), 0, now, time.Minute); v != behind {
		t.Fatal("not behind what this instance knows exists")
	}
	// A gap starts it again from the event out of turn.
	m.apply("e1", mirrorEvent(20, "a", now, 0))
	if _, v, _ := m.read([]string{"a"}, at(15), 0, now, time.Minute); v != unsure {
		t.Fatal("answered across a gap")
	}
	if b, v, _ := m.read([]string{"a"}, at(19), 0, now, time.Minute); v != answered || len(b.Events) != 1 {
		t.Fatalf("read after the gap = %+v %d", b, v)
	}
	m.invalidate()
	if _, v, _ := m.read([]string{"a"}, at(19), 0, now, time.Minute); v != unsure {
		t.Fatal("answered after invalidate")
	}
}
