package buffertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

func historian(t *testing.T, b longpoll.Buffer) longpoll.Historian {
	t.Helper()
	h, ok := b.(longpoll.Historian)
	if !ok {
		t.Skip("the buffer keeps no history (not a longpoll.Historian)")
	}
	return h
}

func mustHistory(t *testing.T, h longpoll.Historian, topic string, limit int) longpoll.History {
	t.Helper()
	got, err := h.History(context.Background(), topic, limit)
	if err != nil {
		t.Fatalf("History(%q, %d): %v", topic, limit, err)
	}
	return got
}

func testHistoryOldestFirstAndBounded(t *testing.T, f Factory) {
	clock := NewClock()
	b := f(t, Options{Now: clock.Now}).Buffer
	h := historian(t, b)
	if got := mustHistory(t, h, "a", 10); len(got.Events) != 0 || !got.Complete {
		t.Fatalf("history of an empty topic = %+v, want nothing and complete", got)
	}
	var want []uint64
	for i := range 12 {
		e := mustAppend(t, b, "a", "message", fmt.Sprint(i))
		mustAppend(t, b, "b", "message", fmt.Sprint(i)) // another topic, interleaved
		want = append(want, e.ID.Seq)
	}
	if _, err := b.Append(context.Background(), longpoll.Draft{Topic: "a", Type: longpoll.TypeTyping, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second) // the typing event is gone from history too
	got := mustHistory(t, h, "a", 5)
	if fmt.Sprint(ids(got.Events)) != fmt.Sprint(want[7:]) || !got.Complete {
		t.Fatalf("history of 5 = %v complete=%v, want the last five %v, oldest first, complete", ids(got.Events), got.Complete, want[7:])
	}
	if head := mustHead(t, b); got.Cursor != head {
		t.Fatalf("history cursor = %v, want the head %v", got.Cursor, head)
	}
	if all := mustHistory(t, h, "a", 100); len(all.Events) != 12 || !all.Complete {
		t.Fatalf("history of 100 = %d events complete=%v, want all 12, complete", len(all.Events), all.Complete)
	}
}

func testHistoryIncompleteWhenTrimmed(t *testing.T, f Factory) {
	b := f(t, Options{MaxEventsPerTopic: 4}).Buffer
	h := historian(t, b)
	for i := range 6 {
		mustAppend(t, b, "a", "message", fmt.Sprint(i))
	}
	if got := mustHistory(t, h, "a", 4); len(got.Events) != 4 || !got.Complete {
		t.Fatalf("history of 4 = %d events complete=%v, want 4, complete: all asked for came back", len(got.Events), got.Complete)
	}
	if got := mustHistory(t, h, "a", 10); len(got.Events) != 4 || got.Complete {
		t.Fatalf("history of 10 = %d events complete=%v, want the 4 retained and incomplete", len(got.Events), got.Complete)
	}
}

// testHistoryThenFollow is the property a late joiner relies on: a history
// taken at any moment, then a follow from its cursor, yields every event
// of the topic exactly once, in order, while publishers keep publishing.
func testHistoryThenFollow(t *testing.T, f Factory) {
	b := f(t, Options{MaxEventsPerTopic: 10_000}).Buffer
	h := historian(t, b)
	const perWriter = 300
	var writers sync.WaitGroup
	var mu sync.Mutex
	var published []uint64
	for w, topic := range []string{"room", "room", "other"} {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range perWriter {
				e, err := b.Append(context.Background(), longpoll.Draft{Topic: topic, Type: "x", Data: []byte(fmt.Sprint(w*perWriter + i))})
				if err != nil {
					t.Error(err)
					return
				}
				if topic == "room" {
					mu.Lock()
					published = append(published, e.ID.Seq)
					mu.Unlock()
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()

	var joiners sync.WaitGroup
	for j := range 4 {
		joiners.Add(1)
		go func() {
			defer joiners.Done()
			time.Sleep(time.Duration(j) * 3 * time.Millisecond) // join at different moments of the run
			hist := mustHistory(t, h, "room", 2*perWriter)
			got := ids(hist.Events)
			cur := hist.Cursor
			for finished := false; ; {
				select {
				case <-done:
					finished = true
				default:
				}
				batch, err := b.Read(context.Background(), []string{"room"}, cur, 64)
				if err != nil || batch.Reset {
					t.Errorf("joiner %d: err=%v reset=%v", j, err, batch.Reset)
					return
				}
				got = append(got, ids(batch.Events)...)
				cur = batch.Cursor
				if finished && len(batch.Events) == 0 {
					break
				}
			}
			mu.Lock()
			want := slices.Clone(published)
			mu.Unlock()
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("joiner %d: history then follow gave %d events, want %d, each once in order", j, len(got), len(want))
			}
		}()
	}
	joiners.Wait()
}
