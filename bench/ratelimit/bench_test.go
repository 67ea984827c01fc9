package ratelimitbench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lifeline-go/lifeline/ratelimit"
	ulule "github.com/ulule/limiter/v3"
	ulgin "github.com/ulule/limiter/v3/drivers/middleware/gin"
	ulmem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"
)

// Every limiter gets the same nominal quota, high enough that no benchmark
// request is refused: each iteration takes the allowed path.
const (
	perSecond = 1_000_000_000
	burst     = 100
)

var keyCounts = []int{1, 100_000}

// checker is the core check of one library: take one unit for key.
type checker func(key string, now time.Time) bool

type peer struct {
	name       string
	core       func() checker
	middleware func() gin.HandlerFunc
}

var peers = []peer{
	{
		name: "lifeline",
		core: func() checker {
			l := ratelimit.NewLimiter(ratelimit.Config{Limit: perSecond, Period: time.Second, Burst: burst, MaxKeys: 200_000})
			return func(key string, now time.Time) bool { return l.Allow(key, now).Allowed }
		},
		middleware: func() gin.HandlerFunc {
			return ratelimit.New(ratelimit.Config{Limit: perSecond, Period: time.Second, Burst: burst, MaxKeys: 200_000,
				KeyFunc: ratelimit.ClientAddr()})
		},
	},
	{
		name: "ulule",
		core: func() checker {
			l := ulule.New(ulmem.NewStore(), ulule.Rate{Period: time.Second, Limit: perSecond})
			ctx := context.Background()
			return func(key string, _ time.Time) bool {
				c, err := l.Get(ctx, key)
				return err == nil && !c.Reached
			}
		},
		middleware: func() gin.HandlerFunc {
			// ulule's documented Gin setup; its default key is c.ClientIP().
			return ulgin.NewMiddleware(ulule.New(ulmem.NewStore(), ulule.Rate{Period: time.Second, Limit: perSecond}))
		},
	},
	{
		name: "baremap",
		core: func() checker {
			l := newBareMap()
			return l.allow
		},
		middleware: func() gin.HandlerFunc {
			l := newBareMap()
			return func(c *gin.Context) {
				if !l.allow(c.ClientIP(), time.Now()) {
					c.AbortWithStatus(http.StatusTooManyRequests)
				}
			}
		},
	},
}

// bareMap is the limiter a team writes by hand: a map of x/time/rate
// limiters behind one mutex, never swept, no headers.
type bareMap struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newBareMap() *bareMap { return &bareMap{m: make(map[string]*rate.Limiter)} }

func (b *bareMap) allow(key string, now time.Time) bool {
	b.mu.Lock()
	lim, ok := b.m[key]
	if !ok {
		lim = rate.NewLimiter(perSecond, burst)
		b.m[key] = lim
	}
	b.mu.Unlock()
	return lim.AllowN(now, 1)
}

// addrs returns n distinct IPv4 keys and the RemoteAddr strings for them.
func addrs(n int) (keys, remote []string) {
	keys = make([]string, n)
	remote = make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		remote[i] = keys[i] + ":40000"
	}
	return keys, remote
}

func BenchmarkCore(b *testing.B) {
	for _, n := range keyCounts {
		keys, _ := addrs(n)
		for _, p := range peers {
			b.Run(fmt.Sprintf("keys=%d/serial/%s", n, p.name), func(b *testing.B) {
				check := p.core()
				for _, k := range keys {
					check(k, time.Now())
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if !check(keys[i], time.Now()) {
						b.Fatal("refused")
					}
					if i++; i == n {
						i = 0
					}
				}
			})
			b.Run(fmt.Sprintf("keys=%d/parallel/%s", n, p.name), func(b *testing.B) {
				check := p.core()
				for _, k := range keys {
					check(k, time.Now())
				}
				var offset atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := int(offset.Add(7919)) % n
					for pb.Next() {
						check(keys[i], time.Now())
						if i++; i == n {
							i = 0
						}
					}
				})
			})
		}
	}
}

// writer is a ResponseWriter whose header map is cleared and reused, the
// same for every library, so that allocation counts are the middleware's.
type writer struct {
	h      http.Header
	status int
}

func (w *writer) Header() http.Header         { return w.h }
func (w *writer) Write(b []byte) (int, error) { return len(b), nil }
func (w *writer) WriteHeader(status int)      { w.status = status }

func (w *writer) serve(h http.Handler, req *http.Request) {
	clear(w.h)
	w.status = http.StatusOK
	h.ServeHTTP(w, req)
}

func router(mw gin.HandlerFunc) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/", mw, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	return r
}

func BenchmarkGin(b *testing.B) {
	for _, n := range keyCounts {
		_, remote := addrs(n)
		for _, p := range peers {
			b.Run(fmt.Sprintf("keys=%d/serial/%s", n, p.name), func(b *testing.B) {
				r := router(p.middleware())
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				w := &writer{h: make(http.Header, 8)}
				for _, a := range remote {
					req.RemoteAddr = a
					w.serve(r, req)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					req.RemoteAddr = remote[i]
					w.serve(r, req)
					if i++; i == n {
						i = 0
					}
				}
				if w.status != http.StatusNoContent {
					b.Fatalf("status %d", w.status)
				}
			})
			b.Run(fmt.Sprintf("keys=%d/parallel/%s", n, p.name), func(b *testing.B) {
				r := router(p.middleware())
				warm := httptest.NewRequest(http.MethodGet, "/", nil)
				for _, a := range remote {
					warm.RemoteAddr = a
					(&writer{h: make(http.Header, 8)}).serve(r, warm)
				}
				var offset atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					req := httptest.NewRequest(http.MethodGet, "/", nil)
					w := &writer{h: make(http.Header, 8)}
					i := int(offset.Add(7919)) % n
					for pb.Next() {
						req.RemoteAddr = remote[i]
						w.serve(r, req)
						if i++; i == n {
							i = 0
						}
					}
				})
			})
		}
	}
}
