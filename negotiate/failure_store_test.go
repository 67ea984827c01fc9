package negotiate

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/syncbuf"
	"github.com/lifeline-go/lifeline/longpoll"
)

// brokenFailures is a FailureStore whose backend is down.
type brokenFailures struct{ calls int }

var errStoreDown = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")

func (b *brokenFailures) Record(context.Context, Report, int, time.Duration) error {
	b.calls++
	return errStoreDown
}

func (b *brokenFailures) Tally(context.Context, string, []string, time.Time) ([]Tally, error) {
	b.calls++
	return nil, errStoreDown
}

// A failing failure store costs the client nothing but the memory: the
// negotiate succeeds, honours what the client itself reported, and the
// error is logged.
func TestFailingFailureStoreOffersDefaultOrder(t *testing.T) {
	var logs syncbuf.Buffer
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

func TestMemoryFailuresExpireAndStayBounded(t *testing.T) {
	m := newMemoryFailures()
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	rec := func(client string, at time.Time, vs ...Verdict) {
		t.Helper()
		if err := m.Record(ctx, Report{Addr: "192.0.2.1", Client: client, Verdicts: vs, At: at}, 3, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	tally := func(since time.Time) []Tally {
		t.Helper()
		got, err := m.Tally(ctx, "192.0.2.1", rememberable, since)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	rec("old", t0, Verdict{Transport: WebSocket, Failed: true})
	rec("a", t0.Add(50*time.Second), Verdict{Transport: WebSocket, Failed: true}, Verdict{Transport: SSE})
	rec("a", t0.Add(55*time.Second), Verdict{Transport: WebSocket, Failed: true}) // a again: still one client
	rec("b", t0.Add(61*time.Second), Verdict{Transport: WebSocket})
	want := []Tally{{Transport: WebSocket, Failed: 1, Worked: 1}, {Transport: SSE, Worked: 1}}
	if got := tally(t0.Add(time.Second)); !slices.Equal(got, want) {
		t.Errorf("Tally = %+v, want %+v: old has expired, a counts once", got, want)
	}
	for i, c := range []string{"c", "d", "e", "f"} {
		rec(c, t0.Add(time.Duration(62+i)*time.Second), Verdict{Transport: WebSocket, Failed: true})
	}
	if got := tally(t0); got[0] != (Tally{Transport: WebSocket, Failed: 3}) {
		t.Errorf("after 4 more clients Tally = %+v, want the window's 3 newest, all failed", got)
	}
	if got, _ := m.Tally(ctx, "192.0.2.2", rememberable, t0); got[0].Failed+got[0].Worked+got[1].Failed+got[1].Worked != 0 {
		t.Errorf("another address: Tally = %+v, want nothing", got)
	}
}

// One client's failure does not demote a transport for the others at its
// address; most of them failing does. A client's own verdict decides for
// it whatever the address says.
func TestFailureMemoryCountsClients(t *testing.T) {
	_, srv := newServerWith(t, longpoll.Config{}, Config{DisableNegotiateLimit: true})
	order := func(body string) []string { t.Helper(); return names(negotiateOK(t, srv, body)) }
	def := []string{WebSocket, SSE, LongPoll}
	demoted := []string{SSE, LongPoll, WebSocket}
	failedWS := `"failed":[{"transport":"websocket","reason":"no_upgrade"}]`

	if got := order(`{"device":"dev_worker1","worked":["websocket"]}`); !slices.Equal(got, def) {
		t.Fatalf("a client for whom WebSocket works: %v, want %v", got, def)
	}
	for range 3 { // one client behind a proxy that blocks WebSocket, reloading
		if got := order(`{"device":"dev_blocked",` + failedWS + `}`); !slices.Equal(got, demoted) {
			t.Fatalf("the blocked client: %v, want %v", got, demoted)
		}
	}
	if got := order(`{}`); !slices.Equal(got, def) {
		t.Errorf("a new client after one of two clients failed: %v, want %v", got, def)
	}
	if got := order(`{"device":"dev_worker1","worked":["websocket"]}`); !slices.Equal(got, def) {
		t.Errorf("the working client again: %v, want %v", got, def)
	}
	order(`{"device":"dev_blocked2",` + failedWS + `}`)
	if got := order(`{"device":"dev_newcomer"}`); !slices.Equal(got, demoted) {
		t.Errorf("a new client after two of three clients failed: %v, want %v", got, demoted)
	}
	if got := order(`{"device":"dev_worker1","worked":["websocket"]}`); !slices.Equal(got, def) {
		t.Errorf("the working client, now a minority: %v, want its own verdict %v", got, def)
	}
	// A device id that is not one counts as the session: still one client per negotiate.
	if got := order(`{"device":"x y",` + failedWS + `}`); !slices.Equal(got, demoted) {
		t.Errorf("bad device id: %v, want %v", got, demoted)
	}
}
