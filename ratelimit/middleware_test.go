package ratelimit

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// newRouter mounts New(cfg) on GET / in front of a handler that answers
// "ok", and on any other paths given.
func newRouter(cfg Config) *gin.Engine {
	r := gin.New()
	r.GET("/", New(cfg), func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	return r
}

// serve sends GET path from remoteAddr with the given header name/value
// pairs.
func serve(h http.Handler, path, remoteAddr string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = remoteAddr
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

const client = "192.0.2.10:50000"

func TestMiddlewareFieldsAtEachStep(t *testing.T) {
	clk := newClock()
	// One token per second, three at most.
	r := newRouter(Config{Limit: 3, Period: 3 * time.Second, KeyFunc: ClientAddr(), Policy: "api", Now: clk.Now})
	steps := []struct {
		advance    time.Duration
		status     int
		rateLimit  string
		retryAfter string
	}{
		{0, 200, `"api";r=2;t=1`, ""},
		{0, 200, `"api";r=1;t=1`, ""},
		{0, 200, `"api";r=0;t=1`, ""},
		{0, 429, `"api";r=0;t=1`, "1"},
		{200 * time.Millisecond, 429, `"api";r=0;t=1`, "1"}, // 0.8 s to go
		{800 * time.Millisecond, 200, `"api";r=0;t=1`, ""},
		{500 * time.Millisecond, 429, `"api";r=0;t=1`, "1"},
		{2 * time.Second, 200, `"api";r=1;t=1`, ""}, // 2.5 tokens, minus one
		{time.Hour, 200, `"api";r=2;t=1`, ""},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		w := serve(r, "/", client)
		if w.Code != s.status {
			t.Errorf("step %d: status %d, want %d", i, w.Code, s.status)
		}
		if got := w.Header().Get("RateLimit-Policy"); got != `"api";q=3;w=3` {
			t.Errorf("step %d: RateLimit-Policy %q, want %q", i, got, `"api";q=3;w=3`)
		}
		if got := w.Header().Get("RateLimit"); got != s.rateLimit {
			t.Errorf("step %d: RateLimit %q, want %q", i, got, s.rateLimit)
		}
		if got := w.Header().Get("Retry-After"); got != s.retryAfter {
			t.Errorf("step %d: Retry-After %q, want %q", i, got, s.retryAfter)
		}
		if got := w.Header().Get("X-RateLimit-Limit"); got != "" {
			t.Errorf("step %d: X-RateLimit-Limit %q in IETF mode", i, got)
		}
	}
}

func TestEffectiveWindowOfSlowPolicy(t *testing.T) {
	clk := newClock()
	// One token every 20 s, five at most: w = 100.
	r := newRouter(Config{Limit: 3, Period: time.Minute, Burst: 5, KeyFunc: ClientAddr(), Now: clk.Now})
	w := serve(r, "/", client)
	if got, want := w.Header().Get("RateLimit-Policy"), `"default";q=5;w=100`; got != want {
		t.Errorf("RateLimit-Policy %q, want %q", got, want)
	}
	if got, want := w.Header().Get("RateLimit"), `"default";r=4;t=20`; got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	clk.Advance(5 * time.Second)
	w = serve(r, "/", client) // 4.25 tokens, minus one: 3.25
	if got, want := w.Header().Get("RateLimit"), `"default";r=3;t=15`; got != want {
		t.Errorf("RateLimit after 5s %q, want %q", got, want)
	}
}

func TestHeaderModes(t *testing.T) {
	ietf := []string{"RateLimit-Policy", "RateLimit"}
	legacy := []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
	cases := []struct {
		mode    HeaderMode
		present []string
		absent  []string
	}{
		{HeadersIETF, ietf, legacy},
		{HeadersLegacy, legacy, ietf},
		{HeadersBoth, append(append([]string{}, ietf...), legacy...), nil},
		{HeadersNone, nil, append(append([]string{}, ietf...), legacy...)},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			clk := newClock()
			r := newRouter(Config{Limit: 1, Period: 2 * time.Second, KeyFunc: ClientAddr(), Headers: c.mode, Now: clk.Now})
			ok := serve(r, "/", client)
			limited := serve(r, "/", client)
			if ok.Code != 200 || limited.Code != 429 {
				t.Fatalf("statuses %d, %d, want 200, 429", ok.Code, limited.Code)
			}
			for _, w := range []*httptest.ResponseRecorder{ok, limited} {
				for _, name := range c.present {
					if w.Header().Get(name) == "" {
						t.Errorf("%d response lacks %s", w.Code, name)
					}
				}
				for _, name := range c.absent {
					if v := w.Header().Get(name); v != "" {
						t.Errorf("%d response has %s: %q", w.Code, name, v)
					}
				}
			}
			if got := limited.Header().Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After %q, want \"2\"", got)
			}
			exposed := ExposedHeaders(c.mode)
			for _, name := range append([]string{"Retry-After"}, c.present...) {
				if !slices.Contains(exposed, name) {
					t.Errorf("ExposedHeaders(%v) = %v, lacks %s", c.mode, exposed, name)
				}
			}
			if len(exposed) != 1+len(c.present) {
				t.Errorf("ExposedHeaders(%v) = %v, want Retry-After and %v", c.mode, exposed, c.present)
			}
		})
	}
}

func TestLegacyValues(t *testing.T) {
	clk := newClock()
	r := newRouter(Config{Limit: 3, Period: 3 * time.Second, KeyFunc: ClientAddr(), Headers: HeadersLegacy, Now: clk.Now})
	clk.Advance(300 * time.Millisecond)
	w := serve(r, "/", client)
	// Full again 1 s later: at epoch+1.3 s, rounded up to epoch+2 s.
	want := map[string]string{
		"X-RateLimit-Limit":     "3",
		"X-RateLimit-Remaining": "2",
		"X-RateLimit-Reset":     strconv.FormatInt(epoch.Unix()+2, 10),
	}
	for name, v := range want {
		if got := w.Header().Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	cases := []struct {
		delay time.Duration
		want  string
	}{
		{200 * time.Millisecond, "1"},
		{time.Second, "1"},
		{1010 * time.Millisecond, "2"},
		{2500 * time.Millisecond, "3"},
		{time.Minute, "60"},
	}
	for _, c := range cases {
		t.Run(c.delay.String(), func(t *testing.T) {
			clk := newClock()
			// One token per delay, one at most: the second request waits delay.
			r := newRouter(Config{Limit: 1, Period: c.delay, KeyFunc: ClientAddr(), Now: clk.Now})
			serve(r, "/", client)
			w := serve(r, "/", client)
			if w.Code != 429 {
				t.Fatalf("status %d, want 429", w.Code)
			}
			if got := w.Header().Get("Retry-After"); got != c.want {
				t.Errorf("Retry-After %q, want %q", got, c.want)
			}
			if got, want := w.Header().Get("RateLimit"), `"default";r=0;t=`+c.want; got != want {
				t.Errorf("RateLimit %q, want %q", got, want)
			}
		})
	}
}

func TestCeilSeconds(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want int64
	}{
		{-time.Second, 0},
		{0, 0},
		{1, 1},
		{200 * time.Millisecond, 1},
		{time.Second - 1, 1},
		{time.Second, 1},
		{time.Second + 1, 2},
		{1010 * time.Millisecond, 2},
		{1<<63 - 1, 9223372037},
	}
	for _, c := range cases {
		if got := ceilSeconds(c.d); got != c.want {
			t.Errorf("ceilSeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	if got := retryAfterSeconds(Decision{RetryAfter: time.Nanosecond}); got != 1 {
		t.Errorf("retryAfterSeconds(1ns) = %d, want 1", got)
	}
	if got := retryAfterSeconds(Decision{}); got != 1 {
		t.Errorf("retryAfterSeconds(0) = %d, want 1", got)
	}
}

func TestProblemBody(t *testing.T) {
	clk := newClock()
	handled := 0
	r := gin.New()
	r.GET("/", New(Config{Limit: 1, Period: 3 * time.Second, KeyFunc: ClientAddr(), Now: clk.Now}), func(c *gin.Context) {
		handled++
		c.String(200, "ok")
	})
	serve(r, "/", client)
	w := serve(r, "/", client)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
	if handled != 1 {
		t.Errorf("handler ran %d times, want 1: a refused request must not reach it", handled)
	}
	if got := w.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", got)
	}
	want := `{"status":429,"title":"Too Many Requests","code":"rate_limited","detail":"too many requests from this client; retry after 3 seconds"}`
	if got := w.Body.String(); got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
	var fields map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &fields); err != nil || len(fields) != 4 {
		t.Errorf("body has fields %v (err %v), want exactly status, title, code, detail", fields, err)
	}
}

func TestOnLimitedHook(t *testing.T) {
	var got Decision
	clk := newClock()
	r := newRouter(Config{Limit: 1, Period: time.Hour, KeyFunc: ClientAddr(), Now: clk.Now, OnLimited: func(c *gin.Context, d Decision) {
		got = d
		c.String(http.StatusServiceUnavailable, "slow down")
	}})
	serve(r, "/", client)
	w := serve(r, "/", client)
	if w.Code != http.StatusServiceUnavailable || w.Body.String() != "slow down" {
		t.Errorf("got %d %q, want the hook's 503", w.Code, w.Body.String())
	}
	if got.Allowed || got.RetryAfter != time.Hour || w.Header().Get("Retry-After") != "3600" {
		t.Errorf("hook saw %+v with Retry-After %q", got, w.Header().Get("Retry-After"))
	}
}

func TestRoutesHaveSeparateStores(t *testing.T) {
	cfg := Config{Limit: 1, Period: time.Hour, KeyFunc: ClientAddr()}
	r := gin.New()
	ok := func(c *gin.Context) { c.String(200, "ok") }
	r.GET("/a", New(cfg), ok)
	r.GET("/b", New(cfg), ok)
	if w := serve(r, "/a", client); w.Code != 200 {
		t.Fatalf("/a first: %d", w.Code)
	}
	if w := serve(r, "/a", client); w.Code != 429 {
		t.Fatalf("/a second: %d, want 429", w.Code)
	}
	if w := serve(r, "/b", client); w.Code != 200 {
		t.Errorf("/b after /a was exhausted: %d, want 200", w.Code)
	}
}

func TestSharedLimiter(t *testing.T) {
	lim := NewLimiter(Config{Limit: 2, Period: time.Hour})
	defer lim.Close()
	cfg := Config{Limiter: lim, KeyFunc: ClientAddr()}
	r := gin.New()
	ok := func(c *gin.Context) { c.String(200, "ok") }
	r.GET("/a", New(cfg), ok)
	r.GET("/b", New(cfg), ok)
	serve(r, "/a", client)
	serve(r, "/b", client)
	if w := serve(r, "/a", client); w.Code != 429 {
		t.Errorf("third request across routes: %d, want 429", w.Code)
	}
	// A transport draws on the same bucket.
	if d := lim.Allow("192.0.2.10", time.Now()); d.Allowed {
		t.Errorf("Limiter.Allow after the routes used the bucket: %+v, want refused", d)
	}
}

func TestKeyErrorFailsClosedByDefault(t *testing.T) {
	var seen *gin.Error
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		seen = c.Errors.Last()
	})
	r.GET("/", New(Config{KeyFunc: ClientAddr()}), func(c *gin.Context) { c.String(200, "ok") })
	w := serve(r, "/", "@") // a Unix socket peer
	if w.Code != 500 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q, want a 500 problem", w.Code, w.Header().Get("Content-Type"))
	}
	if !strings.Contains(w.Body.String(), `"code":"internal"`) {
		t.Errorf("body %s lacks code internal", w.Body.String())
	}
	if seen == nil || !errors.Is(seen.Err, ErrNoClientAddr) {
		t.Errorf("context error %v, want ErrNoClientAddr recorded for the logger", seen)
	}
}

func TestKeyErrorCanFailOpen(t *testing.T) {
	var got error
	keyErr := errors.New("no session")
	r := newRouter(Config{
		KeyFunc: func(*gin.Context) (string, error) { return "", keyErr },
		OnError: func(c *gin.Context, err error) { got = err },
	})
	w := serve(r, "/", client)
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Errorf("got %d %q, want the handler's 200", w.Code, w.Body.String())
	}
	if !errors.Is(got, keyErr) {
		t.Errorf("OnError got %v, want %v", got, keyErr)
	}
	if w.Header().Get("RateLimit") != "" {
		t.Error("an unlimited request carries RateLimit")
	}
}

func TestEmptyKeyIsAnError(t *testing.T) {
	var got error
	r := newRouter(Config{
		KeyFunc: func(*gin.Context) (string, error) { return "", nil },
		OnError: func(c *gin.Context, err error) { got = err; c.AbortWithStatus(400) },
	})
	if w := serve(r, "/", client); w.Code != 400 || !errors.Is(got, ErrEmptyKey) {
		t.Errorf("got %d and %v, want OnError with ErrEmptyKey", w.Code, got)
	}
}

func TestValidate(t *testing.T) {
	key := ClientAddr()
	lim := NewLimiter(Config{})
	defer lim.Close()
	cases := []struct {
		name string
		cfg  Config
		want error
	}{
		{"minimal", Config{KeyFunc: key}, nil},
		{"defaults", func() Config { c := DefaultConfig(); c.KeyFunc = key; return c }(), nil},
		{"shared limiter", Config{KeyFunc: key, Limiter: lim, Policy: "p", Headers: HeadersBoth}, nil},
		{"no KeyFunc", Config{}, ErrNoKeyFunc},
		{"default config without KeyFunc", DefaultConfig(), ErrNoKeyFunc},
		{"negative Limit", Config{KeyFunc: key, Limit: -1}, ErrInvalidConfig},
		{"negative Period", Config{KeyFunc: key, Period: -time.Second}, ErrInvalidConfig},
		{"negative Burst", Config{KeyFunc: key, Burst: -1}, ErrInvalidConfig},
		{"negative MaxKeys", Config{KeyFunc: key, MaxKeys: -1}, ErrInvalidConfig},
		{"negative SweepInterval", Config{KeyFunc: key, SweepInterval: -1}, ErrInvalidConfig},
		{"policy with newline", Config{KeyFunc: key, Policy: "a\nb"}, ErrInvalidConfig},
		{"policy not ASCII", Config{KeyFunc: key, Policy: "café"}, ErrInvalidConfig},
		{"unknown header mode", Config{KeyFunc: key, Headers: 9}, ErrInvalidConfig},
		{"limiter and Limit", Config{KeyFunc: key, Limiter: lim, Limit: 5}, ErrInvalidConfig},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: Validate() = %v, want %v", c.name, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "ratelimit: ") {
			t.Errorf("%s: error %q lacks the \"ratelimit: \" prefix", c.name, err)
		}
	}
}

func TestNewPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		r := recover()
		if s, _ := r.(string); s != ErrNoKeyFunc.Error() {
			t.Fatalf("recover() = %v, want %q", r, ErrNoKeyFunc.Error())
		}
	}()
	New(Config{})
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Limit != 100 || c.Period != time.Minute || c.Burst != 100 || c.MaxKeys != 100_000 ||
		c.SweepInterval != time.Minute || c.Policy != "default" || c.Headers != HeadersIETF || c.Now == nil || c.KeyFunc != nil {
		t.Errorf("DefaultConfig() = %+v", c)
	}
	// Zero fields mean the same defaults.
	d := Config{}.withDefaults()
	if d.Limit != c.Limit || d.Period != c.Period || d.Burst != c.Burst || d.MaxKeys != c.MaxKeys ||
		d.SweepInterval != c.SweepInterval || d.Policy != c.Policy {
		t.Errorf("Config{}.withDefaults() = %+v, want DefaultConfig()", d)
	}
}

func TestSpoofedForwardedForCreatesNoBucket(t *testing.T) {
	lim := NewLimiter(Config{Limit: 5, Period: time.Hour})
	defer lim.Close()
	r := newRouter(Config{Limiter: lim, KeyFunc: ClientAddr()})
	limited := 0
	for i := range 100 {
		w := serve(r, "/", client, "X-Forwarded-For", "203.0.113."+strconv.Itoa(i), "X-Real-IP", "198.51.100.1")
		if w.Code == 429 {
			limited++
		}
	}
	if lim.Len() != 1 {
		t.Errorf("%d buckets after 100 spoofed X-Forwarded-For values, want 1", lim.Len())
	}
	if limited != 95 {
		t.Errorf("%d of 100 requests limited, want 95", limited)
	}
}

func TestForwardedForHonouredOnlyFromTrustedProxies(t *testing.T) {
	lim := NewLimiter(Config{Limit: 1, Period: time.Hour})
	defer lim.Close()
	r := newRouter(Config{Limiter: lim, KeyFunc: ClientAddr("10.0.0.0/8")})
	const proxy = "10.0.0.1:40000"
	// Two clients behind the proxy get a bucket each.
	if w := serve(r, "/", proxy, "X-Forwarded-For", "203.0.113.5"); w.Code != 200 {
		t.Fatalf("first client: %d", w.Code)
	}
	if w := serve(r, "/", proxy, "X-Forwarded-For", "203.0.113.6"); w.Code != 200 {
		t.Fatalf("second client behind the same proxy: %d, want 200", w.Code)
	}
	if w := serve(r, "/", proxy, "X-Forwarded-For", "203.0.113.5"); w.Code != 429 {
		t.Fatalf("first client again: %d, want 429", w.Code)
	}
	// A client prepending a fake hop is still keyed by what the proxy saw.
	if w := serve(r, "/", proxy, "X-Forwarded-For", "198.51.100.77, 203.0.113.5"); w.Code != 429 {
		t.Errorf("first client with a spoofed hop: %d, want 429", w.Code)
	}
	// A direct client's X-Forwarded-For is ignored.
	if w := serve(r, "/", "198.51.100.9:1234", "X-Forwarded-For", "203.0.113.6"); w.Code != 200 {
		t.Errorf("direct client claiming to be the second: %d, want 200 (its own bucket)", w.Code)
	}
	if w := serve(r, "/", "198.51.100.9:1234", "X-Forwarded-For", "203.0.113.99"); w.Code != 429 {
		t.Errorf("direct client with a new X-Forwarded-For: %d, want 429", w.Code)
	}
	if lim.Len() != 3 {
		t.Errorf("%d buckets, want 3", lim.Len())
	}
}

// A middleware that passes a request sets its headers without allocating,
// once its header values are cached. (The values depend on the tokens
// left, so the bucket refills faster than the test asks.)
func TestMiddlewareAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	for _, mode := range []HeaderMode{HeadersIETF, HeadersBoth} {
		r := newRouterNoBody(Config{Limit: 1e9, Period: time.Second, Burst: 100, KeyFunc: ClientAddr(), Headers: mode})
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = client
		w := newReusableWriter()
		serveReuse(r, w, req)
		n := testing.AllocsPerRun(1000, func() { serveReuse(r, w, req) })
		t.Logf("%v: %v allocs per request", mode, n)
		if n != 0 {
			t.Errorf("%v: %v allocs per allowed request, want 0", mode, n)
		}
	}
}

// newRouterNoBody mounts New(cfg) before a handler that writes only a status.
func newRouterNoBody(cfg Config) *gin.Engine {
	r := gin.New()
	r.GET("/", New(cfg), func(c *gin.Context) { c.Status(http.StatusNoContent) })
	return r
}

// reusableWriter is a ResponseWriter whose header map is cleared and
// reused between requests, so that measurements count the middleware's
// allocations, not the map's.
type reusableWriter struct {
	h      http.Header
	status int
}

func newReusableWriter() *reusableWriter { return &reusableWriter{h: make(http.Header, 8)} }

func (w *reusableWriter) Header() http.Header         { return w.h }
func (w *reusableWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *reusableWriter) WriteHeader(status int)      { w.status = status }

func serveReuse(h http.Handler, w *reusableWriter, req *http.Request) {
	clear(w.h)
	h.ServeHTTP(w, req)
}
