package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// Two requests a minute per client address, at most two at once.
func ExampleNew() {
	gin.SetMode(gin.TestMode)
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	r := gin.New()
	r.GET("/hello", ratelimit.New(ratelimit.Config{
		Limit:   2,
		Period:  time.Minute,
		KeyFunc: ratelimit.ClientAddr(), // the TCP peer; no proxy trusted
		Now:     func() time.Time { return start },
	}), func(c *gin.Context) {
		c.String(http.StatusOK, "hello")
	})

	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		req.RemoteAddr = "203.0.113.7:51000"
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"))
		if w.Code == http.StatusTooManyRequests {
			fmt.Println("Retry-After:", w.Header().Get("Retry-After"))
			fmt.Println(w.Header().Get("Content-Type"))
			fmt.Println(w.Body.String())
		}
	}
	// Output:
	// 200 "default";q=2;w=60 "default";r=1;t=30
	// 200 "default";q=2;w=60 "default";r=0;t=30
	// 429 "default";q=2;w=60 "default";r=0;t=30
	// Retry-After: 30
	// application/problem+json
	// {"status":429,"title":"Too Many Requests","code":"rate_limited","detail":"too many requests from this client; retry after 30 seconds"}
}

// A transport limits the frames of one session: five a second, two at once.
func ExampleLimiter_Allow() {
	lim := ratelimit.NewLimiter(ratelimit.Config{Limit: 5, Period: time.Second, Burst: 2})
	defer lim.Close()

	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for range 3 {
		d := lim.Allow("session-42", now)
		fmt.Println(d.Allowed, d.Remaining, d.RetryAfter)
	}
	now = now.Add(200 * time.Millisecond)
	fmt.Println(lim.Allow("session-42", now).Allowed)
	// Output:
	// true 1 0s
	// true 0 0s
	// false 0 200ms
	// true
}

// Behind a reverse proxy at 10.0.0.1, the client is the right-most
// X-Forwarded-For hop the proxy wrote; what the client wrote is ignored.
func ExampleClientAddr() {
	gin.SetMode(gin.TestMode)
	key := ratelimit.ClientAddr("10.0.0.0/8")

	for _, req := range []struct{ peer, xff string }{
		{"10.0.0.1:40000", "198.51.100.1, 203.0.113.7"}, // the client sent the first hop
		{"203.0.113.7:51000", "198.51.100.1"},           // direct: the header is ignored
		{"[2001:db8:1:2::99]:443", ""},                  // IPv6 clients are grouped by /64
	} {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		c.Request.RemoteAddr = req.peer
		if req.xff != "" {
			c.Request.Header.Set("X-Forwarded-For", req.xff)
		}
		k, err := key(c)
		fmt.Println(k, err)
	}
	// Output:
	// 203.0.113.7 <nil>
	// 203.0.113.7 <nil>
	// 2001:db8:1:2::/64 <nil>
}
