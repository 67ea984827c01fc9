package llredis

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
	"github.com/lifeline-go/lifeline/ratelimit"
)

func newRateLimitStore(t *testing.T, rdb redis.UniversalClient, cfg StoreConfig) *RateLimitStore {
	t.Helper()
	s, err := NewRateLimitStore(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A client that ignores context deadlines would let a silent Redis hold
// requests for its ReadTimeout per retry: the stores refuse it.
func TestStoresRefuseClientIgnoringDeadlines(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	if _, err := NewRateLimitStore(rdb, StoreConfig{}); !errors.Is(err, ErrContextTimeoutDisabled) {
		t.Errorf("NewRateLimitStore: %v, want ErrContextTimeoutDisabled", err)
	}
	if _, err := NewFailureStore(rdb, StoreConfig{}); !errors.Is(err, ErrContextTimeoutDisabled) {
		t.Errorf("NewFailureStore: %v, want ErrContextTimeoutDisabled", err)
	}
}

// instance is one app instance: a Gin server over real TCP whose route is
// limited through a RateLimitStore on its own Redis client.
func instance(t *testing.T, rdb redis.UniversalClient, cfg ratelimit.Config) *httptest.Server {
	t.Helper()
	cfg.Store = newRateLimitStore(t, rdb, StoreConfig{Prefix: "test"})
	cfg.KeyFunc = ratelimit.ClientAddr()
	r := gin.New()
	r.GET("/", ratelimit.New(cfg), func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, srv *httptest.Server) answer {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", srv.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, string(body)}
}

// Three instances, each with its own Redis client, share one budget per
// client: adding instances does not multiply it. The fields and the 429
// problem are those of the in-memory limiter.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	redisSrv := redistest.Start(t)
	cfg := ratelimit.Config{Limit: 3, Period: time.Hour, Policy: "api"}
	instances := []*httptest.Server{
		instance(t, redisSrv.Client(), cfg),
		instance(t, redisSrv.Client(), cfg),
		instance(t, redisSrv.Client(), cfg),
	}
	// One token per 1200 s; the bucket holds 3.
	want := []struct {
		status     int
		rateLimit  string
		retryAfter string
	}{
		{200, `"api";r=2;t=1200`, ""},
		{200, `"api";r=1;t=1200`, ""},
		{200, `"api";r=0;t=1200`, ""},
		{429, `"api";r=0;t=1200`, "1200"},
		{429, `"api";r=0;t=1200`, "1200"},
		{429, `"api";r=0;t=1200`, "1200"},
	}
	for i, w := range want {
		a := get(t, instances[i%len(instances)])
		if a.status != w.status {
			t.Errorf("request %d: status %d, want %d", i, a.status, w.status)
		}
		if got := a.header.Get("RateLimit-Policy"); got != `"api";q=3;w=3600` {
			t.Errorf("request %d: RateLimit-Policy %q", i, got)
		}
		if got := a.header.Get("RateLimit"); got != w.rateLimit {
			t.Errorf("request %d: RateLimit %q, want %q", i, got, w.rateLimit)
		}
		if got := a.header.Get("Retry-After"); got != w.retryAfter {
			t.Errorf("request %d: Retry-After %q, want %q", i, got, w.retryAfter)
		}
		if w.status == 429 {
			const body = `{"status":429,"title":"Too Many Requests","code":"rate_limited","detail":"too many requests from this client; retry after 1200 seconds"}`
			if a.body != body || a.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("request %d: %s %s, want the in-memory limiter's problem", i, a.header.Get("Content-Type"), a.body)
			}
		}
	}
}

// Concurrent requests through many Limiters on one Redis never take more
// than the bucket holds: the script's read-and-update is atomic.
func TestRateLimitConcurrentInstancesShareOneBudget(t *testing.T) {
	redisSrv := redistest.Start(t)
	const instances, perInstance, burst = 4, 25, 10
	var wg sync.WaitGroup
	allowed := make(chan bool, instances*perInstance)
	for range instances {
		lim := ratelimit.NewLimiter(ratelimit.Config{Limit: burst, Period: time.Hour, Policy: "p",
			Store: newRateLimitStore(t, redisSrv.Client(), StoreConfig{Prefix: "test"})})
		t.Cleanup(func() { lim.Close() })
		wg.Go(func() {
			for range perInstance {
				d, err := lim.AllowContext(context.Background(), "192.0.2.7", time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				allowed <- d.Allowed
			}
		})
	}
	wg.Wait()
	close(allowed)
	n := 0
	for a := range allowed {
		if a {
			n++
		}
	}
	if n != burst {
		t.Errorf("%d of %d requests allowed over %d instances, want the one budget of %d", n, instances*perInstance, instances, burst)
	}
}

// Buckets live under the prefix, named by policy, and expire as they
// refill.
func TestRateLimitKeysUnderPrefixExpire(t *testing.T) {
	redisSrv := redistest.Start(t)
	rdb := redisSrv.Client()
	store := newRateLimitStore(t, rdb, StoreConfig{Prefix: "app1"})
	ctx := context.Background()
	b := ratelimit.Bucket{Name: "sends", Limit: 10, Period: time.Minute, Burst: 10}
	for range 3 {
		if _, err := store.Take(ctx, b, "client-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "{app1}:rl:sends:client-1" {
		t.Fatalf("keys %q, want one bucket under the prefix", keys)
	}
	ttl, err := rdb.PTTL(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 17*time.Second || ttl > 18*time.Second { // three tokens of 6 s owed
		t.Errorf("PTTL %v, want the 18 s the bucket takes to refill", ttl)
	}
}

func TestRateLimitKeyEscapesPolicyName(t *testing.T) {
	s := &RateLimitStore{keys: newKeyspace("")}
	if a, b := s.bucketKey("a", "b:c"), s.bucketKey("a:b", "c"); a == b {
		t.Errorf("policies a and a:b share key %q", a)
	}
	if got := s.bucketKey("sends", "x"); got != "{lifeline}:rl:sends:x" {
		t.Errorf("key %q", got)
	}
}

// Redis stopped mid-test: requests get 503, Retry-After and a problem
// within a few seconds; when Redis is back, they pass again.
func TestRateLimitRedisOutage(t *testing.T) {
	redisSrv := redistest.Start(t)
	srv := instance(t, redisSrv.Client(), ratelimit.Config{Limit: 100, Period: time.Minute})
	if a := get(t, srv); a.status != 200 {
		t.Fatalf("Redis up: status %d", a.status)
	}
	redisSrv.Stop()
	for i := range 3 {
		start := time.Now()
		a := get(t, srv)
		took := time.Since(start)
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "2" || a.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("Redis down, request %d: %d Retry-After %q %s", i, a.status, a.header.Get("Retry-After"), a.body)
		}
		var p struct{ Code string }
		if err := json.Unmarshal([]byte(a.body), &p); err != nil || p.Code != "unavailable" {
			t.Errorf("body %s, want code unavailable", a.body)
		}
		t.Logf("Redis down, request %d: 503 after %v", i, took)
		if took > 3*time.Second {
			t.Errorf("Redis down, request %d took %v, want under 3 s", i, took)
		}
	}
	redisSrv.Restart()
	if a := get(t, srv); a.status != 200 || a.header.Get("RateLimit") == "" {
		t.Errorf("Redis back: %d %q, want 200 with the RateLimit fields", a.status, a.header.Get("RateLimit"))
	}
}

// A Redis that accepts connections and never answers costs a request the
// store's Timeout, not a hang.
func TestRateLimitUnresponsiveRedisTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	conns := make(chan net.Conn, 16)
	held.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c // read nothing, answer nothing
		}
	})
	t.Cleanup(func() {
		l.Close()
		held.Wait()
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	rdb := redis.NewClient(&redis.Options{Addr: l.Addr().String(), Protocol: 2, DisableIdentity: true, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	store := newRateLimitStore(t, rdb, StoreConfig{Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err = store.Take(context.Background(), ratelimit.Bucket{Name: "p", Limit: 1, Period: time.Second, Burst: 1}, "k", start)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Take took %v against a silent Redis, want about the 200 ms timeout", took)
	}
	if !errors.Is(err, ratelimit.ErrUnavailable) || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Take: %v, want ErrUnavailable from the deadline", err)
	}
}
