package llredis

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
	"github.com/lifeline-go/lifeline/internal/testkit/syncbuf"
	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

func newFailureStore(t *testing.T, rdb redis.UniversalClient) *FailureStore {
	t.Helper()
	s, err := NewFailureStore(rdb, StoreConfig{Prefix: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Verdicts recorded through one client are counted through another, under
// the prefix, per distinct client, for the memory's duration, and at most
// window clients per address and transport.
func TestFailureStoreSharedExpiringAndBounded(t *testing.T) {
	redisSrv := redistest.Start(t)
	a, b := newFailureStore(t, redisSrv.Client()), newFailureStore(t, redisSrv.Client())
	ctx := context.Background()
	const addr = "2001:db8::/64"
	t0 := time.Now().Truncate(time.Millisecond)
	rec := func(client string, at time.Time, vs ...negotiate.Verdict) {
		t.Helper()
		if err := a.Record(ctx, negotiate.Report{Addr: addr, Client: client, Verdicts: vs, At: at}, 3, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	failed := negotiate.Verdict{Transport: negotiate.WebSocket, Failed: true}
	worked := negotiate.Verdict{Transport: negotiate.WebSocket}
	rec("stale", t0.Add(-11*time.Minute), failed)
	rec("blocked", t0, failed, negotiate.Verdict{Transport: negotiate.SSE})
	rec("blocked", t0.Add(time.Second), failed) // again: one client
	rec("fine", t0.Add(2*time.Second), worked)
	rec("flaky", t0.Add(3*time.Second), failed)
	rec("flaky", t0.Add(4*time.Second), worked) // its latest verdict replaces the earlier
	got, err := b.Tally(ctx, addr, []string{negotiate.WebSocket, negotiate.SSE}, t0.Add(-10*time.Minute))
	want := []negotiate.Tally{{Transport: negotiate.WebSocket, Failed: 1, Worked: 2}, {Transport: negotiate.SSE, Worked: 1}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Tally through the other client = %+v, %v; want %+v", got, err, want)
	}
	if got, err := b.Tally(ctx, "192.0.2.1", []string{negotiate.WebSocket}, t0.Add(-time.Hour)); err != nil || got[0] != (negotiate.Tally{Transport: negotiate.WebSocket}) {
		t.Errorf("another address: %+v, %v; want nothing", got, err)
	}
	for i, c := range []string{"c1", "c2", "c3"} {
		rec(c, t0.Add(time.Duration(5+i)*time.Second), failed)
	}
	rdb := redisSrv.Client()
	key := "{test}:nfv:websocket:" + addr
	if n, err := rdb.ZCard(ctx, key).Result(); err != nil || n != 3 {
		t.Errorf("ZCARD of the window = %d, %v; want the window's 3", n, err)
	}
	ttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil || ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("PTTL of the window = %v, %v; want the 10 minute memory", ttl, err)
	}
}

// handlerOn is one app instance: negotiate and long-poll behind a Gin
// server over real TCP, its failure memory in Redis.
func handlerOn(t *testing.T, store negotiate.FailureStore, logs io.Writer) *httptest.Server {
	t.Helper()
	lp := longpoll.New(longpoll.Config{DisablePresence: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	r := gin.New()
	negotiate.New(negotiate.Config{LongPoll: lp, FailureStore: store, DisableNegotiateLimit: true}).Mount(r.Group("/rt"))
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.Close()
		lp.Close()
	})
	return srv
}

func negotiateOrder(t *testing.T, srv *httptest.Server, body string) []string {
	t.Helper()
	res, err := srv.Client().Post(srv.URL+"/rt/negotiate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("negotiate = %d %s", res.StatusCode, b)
	}
	var out negotiate.Response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(out.Transports))
	for i, tr := range out.Transports {
		names[i] = tr.Name
	}
	return names
}

// A client that failed WebSocket through instance A is not offered it
// first by instance B; with Redis down, negotiate still answers, in the
// default order; with Redis back, the memory works again.
func TestNegotiateFailureMemoryAcrossInstances(t *testing.T) {
	redisSrv := redistest.Start(t)
	var logs syncbuf.Buffer
	a := handlerOn(t, newFailureStore(t, redisSrv.Client()), io.Discard)
	b := handlerOn(t, newFailureStore(t, redisSrv.Client()), &logs)
	negotiateOrder(t, a, `{"failed":[{"transport":"websocket","reason":"no_upgrade"}]}`)
	if got, want := negotiateOrder(t, b, `{}`), []string{negotiate.SSE, negotiate.LongPoll, negotiate.WebSocket}; !slices.Equal(got, want) {
		t.Fatalf("instance B offered %v, want %v", got, want)
	}
	redisSrv.Stop()
	start := time.Now()
	if got, want := negotiateOrder(t, b, `{}`), []string{negotiate.WebSocket, negotiate.SSE, negotiate.LongPoll}; !slices.Equal(got, want) {
		t.Errorf("Redis down: instance B offered %v, want the default %v", got, want)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Redis down: negotiate took %v", took)
	}
	if !strings.Contains(logs.String(), "could not read transport failures") {
		t.Errorf("the store error was not logged; log:\n%s", logs.String())
	}
	redisSrv.Restart()
	negotiateOrder(t, a, `{"failed":[{"transport":"sse","reason":"no_first_byte"}]}`)
	if got, want := negotiateOrder(t, b, `{}`), []string{negotiate.WebSocket, negotiate.LongPoll, negotiate.SSE}; !slices.Equal(got, want) {
		t.Errorf("Redis back: instance B offered %v, want %v", got, want)
	}
}
