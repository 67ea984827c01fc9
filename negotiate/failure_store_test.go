package negotiate

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// brokenFailures is a FailureStore whose backend is down.
type brokenFailures struct{ calls int }

var errStoreDown = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")

func (b *brokenFailures) Record(context.Context, string, []string, time.Duration) error {
	b.calls++
	return errStoreDown
}

func (b *brokenFailures) Failed(context.Context, string, []string) ([]string, error) {
	b.calls++
	return nil, errStoreDown
}

// A failing failure store costs the client nothing but the memory: the
// negotiate succeeds, honours what the client itself reported, and the
// error is logged.
func TestFailingFailureStoreOffersDefaultOrder(t *testing.T) {
	var logs lockedBuffer
	store := &brokenFailures{}
	_, srv := newServerWith(t, longpoll.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, Config{FailureStore: store})
	first := negotiateOK(t, srv, `{"failed":[{"transport":"websocket","reason":"no_upgrade"}]}`)
	if got, want := names(first), []string{SSE, LongPoll, WebSocket}; !slices.Equal(got, want) {
		t.Errorf("reporting client's order = %v, want %v", got, want)
	}
	next := negotiateOK(t, srv, `{}`)
	if got, want := names(next), []string{WebSocket, SSE, LongPoll}; !slices.Equal(got, want) {
		t.Errorf("next client's order = %v, want the default %v", got, want)
	}
	if store.calls != 3 { // read, record; read
		t.Errorf("store called %d times, want 3", store.calls)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("store errors not logged; log:\n%s", logs.String())
	}
}

// A failure reported through one Handler reaches another that shares its
// FailureStore, as two instances sharing Redis do.
func TestFailureStoreSharedByHandlers(t *testing.T) {
	shared := newMemoryFailures()
	_, a := newServerWith(t, longpoll.Config{}, Config{FailureStore: shared})
	_, b := newServerWith(t, longpoll.Config{}, Config{FailureStore: shared})
	negotiateOK(t, a, `{"failed":[{"transport":"websocket","reason":"no_upgrade"}]}`)
	if got, want := names(negotiateOK(t, b, `{}`)), []string{SSE, LongPoll, WebSocket}; !slices.Equal(got, want) {
		t.Errorf("other instance's order = %v, want %v", got, want)
	}
}

func TestMemoryFailuresExpire(t *testing.T) {
	m := newMemoryFailures()
	ctx := context.Background()
	if err := m.Record(ctx, "192.0.2.1", []string{WebSocket}, time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(ctx, "192.0.2.1", []string{SSE}, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, _ := m.Failed(ctx, "192.0.2.1", rememberable)
	if !slices.Equal(got, []string{SSE}) {
		t.Errorf("Failed = %v, want [sse]: the websocket entry has expired", got)
	}
	if got, _ := m.Failed(ctx, "192.0.2.2", rememberable); len(got) != 0 {
		t.Errorf("another address: Failed = %v, want none", got)
	}
}
