package llredis

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/longpoll/buffertest"
)

// The buffer's counts follow appends, trims by count and by age, and the
// sweep, exactly.
func TestBufferStats(t *testing.T) {
	rdb := sharedRedis(t)
	clock := buffertest.NewClock()
	b := newTestBackend(t, rdb, Config{Prefix: testPrefix(t, rdb), MaxEventsPerTopic: 3, MaxAge: time.Minute, Now: clock.Now})
	ctx := context.Background()
	stats := func() longpoll.Stats {
		t.Helper()
		st, err := b.buf.StatsContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stats(); st != (longpoll.Stats{}) {
		t.Fatalf("empty buffer: %+v", st)
	}
	for i := range 5 {
		if _, err := b.Buffer().Append(ctx, longpoll.Draft{Topic: "a", Type: "x", Data: json.RawMessage(`"12345"`)}); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if _, err := b.Buffer().Append(ctx, longpoll.Draft{Topic: "b", Type: "x"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := stats()
	if st.Events != 5 || st.Topics != 2 || st.Bytes <= 0 { // a keeps its 3 newest, b its 2
		t.Fatalf("after 7 appends, 2 trimmed: %+v, want 5 events in 2 topics", st)
	}
	clock.Advance(2 * time.Minute)
	if err := b.buf.sweepTopics(ctx); err != nil {
		t.Fatal(err)
	}
	if st := stats(); st != (longpoll.Stats{}) {
		t.Fatalf("after everything expired and the sweep: %+v, want nothing", st)
	}
}
