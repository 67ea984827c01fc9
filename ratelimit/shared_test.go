package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// gcraStore is a Store that keeps, per bucket, its theoretical arrival
// time (GCRA), as the Redis store does, and can be made to fail.
type gcraStore struct {
	mu    sync.Mutex
	tat   map[string]time.Time
	fail  atomic.Bool
	calls atomic.Int64
}

var errConnRefused = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")

func newGCRAStore() *gcraStore { return &gcraStore{tat: map[string]time.Time{}} }

func (s *gcraStore) Take(_ context.Context, b Bucket, key string, now time.Time) (Decision, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return Decision{}, errConnRefused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := b.Name + "|" + key
	tat := s.tat[k]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(b.Interval())
	if next.Sub(now) > time.Duration(b.Burst)*b.Interval() {
		return b.Decision(false, tat.Sub(now)), nil
	}
	s.tat[k] = next
	return b.Decision(true, next.Sub(now)), nil
}

func near(a, b time.Duration) bool {
	d := a - b
	return d > -time.Microsecond && d < time.Microsecond
}

// A GCRA store reporting through Bucket.Decision decides exactly as the
// in-memory token buckets do, whatever the rate and the request pattern.
func TestGCRAStoreDecidesAsMemory(t *testing.T) {
	rates := []Config{
		{Limit: 3, Period: 3 * time.Second},
		{Limit: 100, Period: time.Minute, Burst: 30},
		{Limit: 7, Period: time.Second, Burst: 2},
		{Limit: 1, Period: time.Hour},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, cfg := range rates {
		cfg.Policy = "p"
		mem := testLimiter(cfg)
		cfg.Store = newGCRAStore()
		shared := NewLimiter(cfg)
		step := cfg.Period / time.Duration(cfg.Limit) / 4
		now := epoch
		for i := range 2000 {
			now = now.Add(time.Duration(rng.Int64N(int64(step) * 2)))
			key := []string{"a", "b", "c"}[rng.IntN(3)]
			want := mem.Allow(key, now)
			got, err := shared.AllowContext(context.Background(), key, now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != want.Allowed || got.Remaining != want.Remaining || got.Limit != want.Limit ||
				!near(got.RetryAfter, want.RetryAfter) || !near(got.ResetAfter, want.ResetAfter) || !near(got.Window, want.Window) {
				t.Fatalf("%d/%v step %d: store decided %+v, memory %+v", cfg.Limit, cfg.Period, i, got, want)
			}
		}
	}
}

// Two middlewares (two instances) on one Store answer a client exactly as
// one in-memory middleware does: the same fields, statuses and bodies, and
// one budget between them.
func TestStoreSharedByInstancesKeepsFieldsAndBudget(t *testing.T) {
	clk := newClock()
	store := newGCRAStore()
	cfg := Config{Limit: 3, Period: 3 * time.Second, KeyFunc: ClientAddr(), Policy: "api", Now: clk.Now}
	memory := newRouter(cfg)
	cfg.Store = store
	instances := []*gin.Engine{newRouter(cfg), newRouter(cfg)}
	advances := []time.Duration{0, 0, 0, 0, 200 * time.Millisecond, 800 * time.Millisecond, 0, 500 * time.Millisecond, 2 * time.Second, time.Hour}
	allowed := 0
	for i, adv := range advances {
		clk.Advance(adv)
		want := serve(memory, "/", client)
		got := serve(instances[i%2], "/", client)
		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("step %d: instance answered %d %s, memory %d %s", i, got.Code, got.Body, want.Code, want.Body)
		}
		for _, f := range []string{"RateLimit-Policy", "RateLimit", "Retry-After", "Content-Type"} {
			if g, w := got.Header().Get(f), want.Header().Get(f); g != w {
				t.Errorf("step %d: %s %q, memory %q", i, f, g, w)
			}
		}
		if got.Code == http.StatusOK {
			allowed++
		}
	}
	if allowed != 6 { // 3 at once, one after 1 s, then 2 of 2.5 refilled, then a full bucket
		t.Errorf("%d requests allowed over both instances, want 6", allowed)
	}
}

func TestStoreFailureIs503ProblemWithRetryAfter(t *testing.T) {
	store := newGCRAStore()
	r := newRouter(Config{Limit: 10, KeyFunc: ClientAddr(), Store: store})
	if w := serve(r, "/", client); w.Code != http.StatusOK {
		t.Fatalf("store up: status %d", w.Code)
	}
	store.fail.Store(true)
	w := serve(r, "/", client)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("store down: status %d, want 503", w.Code)
	}
	if got := w.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2", got)
	}
	if got := w.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := w.Header().Get("RateLimit"); got != "" {
		t.Errorf("RateLimit %q on a request nobody counted", got)
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 503 || p.Code != "unavailable" {
		t.Errorf("body %s (%v), want a 503 problem with code unavailable", w.Body, err)
	}
	store.fail.Store(false)
	if w := serve(r, "/", client); w.Code != http.StatusOK {
		t.Errorf("store back: status %d, want 200", w.Code)
	}
}

func TestStoreFailureCanFailOpen(t *testing.T) {
	store := newGCRAStore()
	store.fail.Store(true)
	var seen error
	r := newRouter(Config{Limit: 10, KeyFunc: ClientAddr(), Store: store, OnError: func(_ *gin.Context, err error) { seen = err }})
	if w := serve(r, "/", client); w.Code != http.StatusOK {
		t.Errorf("status %d, want 200 from an OnError that does not abort", w.Code)
	}
	if !errors.Is(seen, ErrUnavailable) || !errors.Is(seen, errConnRefused) {
		t.Errorf("OnError got %v, want the store's error wrapped in ErrUnavailable", seen)
	}
}

func TestAllowRefusesWhenStoreFails(t *testing.T) {
	store := newGCRAStore()
	store.fail.Store(true)
	l := NewLimiter(Config{Limit: 10, Store: store})
	defer l.Close()
	if d := l.Allow("k", epoch); d.Allowed || d.RetryAfter != UnavailableRetryAfter {
		t.Errorf("Allow with the store down: %+v, want a refusal for %v", d, UnavailableRetryAfter)
	}
	if _, err := l.AllowContext(context.Background(), "k", epoch); !errors.Is(err, ErrUnavailable) {
		t.Errorf("AllowContext with the store down: %v, want ErrUnavailable", err)
	}
	if l.Len() != 0 || l.Sweep(epoch) != 0 {
		t.Error("a Limiter with a Store holds buckets in the process")
	}
}

// Long keys reach the store as their digest, as they enter the memory store.
func TestStoreSeesDigestOfLongKeys(t *testing.T) {
	var got string
	l := NewLimiter(Config{Limit: 10, Store: storeFunc(func(_ context.Context, b Bucket, key string, _ time.Time) (Decision, error) {
		got = key
		return b.Decision(true, b.Interval()), nil
	})})
	defer l.Close()
	long := string(make([]byte, MaxKeyLen+1))
	if _, err := l.AllowContext(context.Background(), long, epoch); err != nil {
		t.Fatal(err)
	}
	if got != digestKey(long) {
		t.Errorf("store saw a %d-byte key, want the 33-byte digest", len(got))
	}
}

func TestValidateRejectsStoreWithSharedLimiter(t *testing.T) {
	l := NewLimiter(Config{})
	defer l.Close()
	err := Config{KeyFunc: ClientAddr(), Limiter: l, Store: newGCRAStore()}.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Validate: %v, want ErrInvalidConfig", err)
	}
}

func TestAllowContextWithoutStoreDoesNotAllocate(t *testing.T) {
	l := testLimiter(Config{Limit: 1_000_000, Period: time.Second})
	ctx := context.Background()
	now := epoch
	_, _ = l.AllowContext(ctx, "192.0.2.1", now)
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Microsecond)
		_, _ = l.AllowContext(ctx, "192.0.2.1", now)
	}); n != 0 {
		t.Errorf("AllowContext on an existing key: %v allocs, want 0", n)
	}
}

type storeFunc func(ctx context.Context, b Bucket, key string, now time.Time) (Decision, error)

func (f storeFunc) Take(ctx context.Context, b Bucket, key string, now time.Time) (Decision, error) {
	return f(ctx, b, key, now)
}
