package longpoll

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/ratelimit"
)

// switchStore is a ratelimit.Store in the process that can be made to
// fail, as Redis does when stopped. It keeps the buckets it is asked about.
type switchStore struct {
	down    atomic.Bool
	mu      sync.Mutex
	buckets map[string]ratelimit.Bucket
	lim     *ratelimit.Limiter // the buckets themselves
}

func newSwitchStore() *switchStore {
	return &switchStore{buckets: map[string]ratelimit.Bucket{}, lim: ratelimit.NewLimiter(ratelimit.Config{Limit: 1000, Period: time.Second})}
}

func (s *switchStore) Take(_ context.Context, b ratelimit.Bucket, key string, now time.Time) (ratelimit.Decision, error) {
	if s.down.Load() {
		return ratelimit.Decision{}, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	}
	s.mu.Lock()
	s.buckets[b.Name] = b
	s.mu.Unlock()
	return s.lim.Allow(b.Name+"|"+key, now), nil
}

// withStore gives the harness's Server limits on store, as a Server built
// with a shared store has.
func withStore(h *harness, store ratelimit.Store) {
	h.lp.limits.close()
	h.lp.limits = newLimits(h.lp.cfg, store)
}

// The per-session limits reach a shared store as two families, named by
// policy, so that sends and idle polls of one session never share a bucket.
func TestLimitsOnStoreAreSeparateFamilies(t *testing.T) {
	store := newSwitchStore()
	t.Cleanup(func() { store.lim.Close() })
	h := newHarness(t, Config{DisablePresence: true, SendLimit: Limit{Limit: 5, Period: time.Second, Burst: 4}, IdleLimit: Limit{Limit: 7, Period: time.Minute, Burst: 2}})
	withStore(h, store)
	o := h.open([]string{"room:a"}, "")
	if status, _, body := h.poll(context.Background(), o.Token, o.Cursor, "0"); status != http.StatusOK {
		t.Fatalf("poll = %d %s", status, body)
	}
	if status, body, _ := h.do(context.Background(), http.MethodPost, "/send", o.Token, msg("room:a", "message", "m_00000002", 1)); status != http.StatusOK {
		t.Fatalf("send = %d %s", status, body)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	want := map[string]ratelimit.Bucket{
		PolicySends: {Name: PolicySends, Limit: 5, Period: time.Second, Burst: 4},
		PolicyIdle:  {Name: PolicyIdle, Limit: 7, Period: time.Minute, Burst: 2},
	}
	for name, b := range want {
		if got := store.buckets[name]; got != b {
			t.Errorf("bucket %s = %+v, want %+v", name, got, b)
		}
	}
}

// A send when the shared store is down is answered 503 with Retry-After
// and code "unavailable", never 500; it passes again once the store is back.
func TestSendWhenStoreDownIs503(t *testing.T) {
	store := newSwitchStore()
	t.Cleanup(func() { store.lim.Close() })
	h := newHarness(t, Config{DisablePresence: true})
	withStore(h, store)
	o := h.open([]string{"room:a"}, "")
	sent := msg("room:a", "message", "m_00000001", 1)
	store.down.Store(true)
	status, body, res := h.do(context.Background(), http.MethodPost, "/send", o.Token, sent)
	if status != http.StatusServiceUnavailable || problemCode(t, body) != "unavailable" {
		t.Fatalf("send with the store down = %d %s, want 503 unavailable", status, body)
	}
	if got := res.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
	if got := res.Header.Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type = %q", got)
	}
	store.down.Store(false)
	if status, body, _ := h.do(context.Background(), http.MethodPost, "/send", o.Token, sent); status != http.StatusOK {
		t.Errorf("send with the store back = %d %s, want 200", status, body)
	}
}

func TestAllowStreamWhenStoreDown(t *testing.T) {
	store := newSwitchStore()
	t.Cleanup(func() { store.lim.Close() })
	h := newHarness(t, Config{DisablePresence: true})
	withStore(h, store)
	o := h.open([]string{"room:a"}, "")
	sess, err := h.lp.Authenticate(o.Token)
	if err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	err = h.lp.AllowStream(sess, nil)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("AllowStream = %v, want ErrUnavailable", err)
	}
	if p := ProblemFor(err); p.Status != http.StatusServiceUnavailable || p.Code != "unavailable" || p.RetryAfter != ratelimit.UnavailableRetryAfter {
		t.Errorf("ProblemFor = %+v", p)
	}
}

func TestProblemForRatelimitUnavailable(t *testing.T) {
	p := ProblemFor(ratelimit.ErrUnavailable)
	if p.Status != http.StatusServiceUnavailable || p.Code != "unavailable" || p.RetryAfter <= 0 {
		t.Errorf("ProblemFor(ratelimit.ErrUnavailable) = %+v, want 503 unavailable with a retry", p)
	}
}
