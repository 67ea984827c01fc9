package buffertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// testAppendAtOnce checks a PositionedBuffer: an append at a position its
// stream has reached appends nothing, streams are independent, a position
// outlives any de-duplication window, and concurrent appends at one
// position apply once. Buffers that are not PositionedBuffers skip it.
func testAppendAtOnce(t *testing.T, f Factory) {
	clock := NewClock()
	b := f(t, Options{DedupWindow: time.Second, MaxAge: 24 * time.Hour, Now: clock.Now}).Buffer
	pb, ok := b.(longpoll.PositionedBuffer)
	if !ok {
		t.Skipf("%T is not a PositionedBuffer", b)
	}
	ctx := context.Background()
	start := mustHead(t, b)
	at := func(stream, pos string) error {
		_, err := pb.AppendAt(ctx, stream, pos, longpoll.Draft{Topic: "a", Type: "t", Data: []byte(`"` + stream + pos + `"`)})
		return err
	}
	for _, pos := range []string{"0001", "0002", "000A"} {
		if err := at("s", pos); err != nil {
			t.Fatalf("AppendAt(%s): %v", pos, err)
		}
	}
	clock.Advance(time.Hour) // far beyond the de-duplication window
	for _, pos := range []string{"0001", "000A", "0009"} {
		if err := at("s", pos); !errors.Is(err, longpoll.ErrStalePosition) {
			t.Fatalf("AppendAt(%s) again = %v, want ErrStalePosition", pos, err)
		}
	}
	if err := at("other", "0001"); err != nil {
		t.Fatalf("another stream: %v", err)
	}
	if err := at("s", "000B"); err != nil {
		t.Fatalf("next position: %v", err)
	}
	batch := mustRead(t, b, []string{"a"}, start, 0)
	var got []string
	for _, e := range batch.Events {
		got = append(got, string(e.Data))
	}
	want := []string{`"s0001"`, `"s0002"`, `"s000A"`, `"other0001"`, `"s000B"`}
	if len(got) != len(want) {
		t.Fatalf("read %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
	applied := concurrently(t, 8, longpoll.ErrStalePosition, func() error { return at("s", "000C") })
	if applied != 1 {
		t.Fatalf("%d concurrent appends at one position applied, want 1", applied)
	}
	if _, err := pb.AppendAt(ctx, "", "1", longpoll.Draft{Topic: "a", Type: "t"}); err == nil {
		t.Fatal("AppendAt without a stream succeeded")
	}
}
