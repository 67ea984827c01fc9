package ratelimit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// benchConfig never refuses: the bucket refills faster than any benchmark
// asks, so every iteration takes the allowed path.
func benchConfig() Config {
	return Config{Limit: 1e9, Period: time.Second, Burst: 100, MaxKeys: 200_000, KeyFunc: ClientAddr()}
}

// benchAddrs returns n distinct IPv4 client addresses with ports.
func benchAddrs(n int) (addrs, keys []string) {
	addrs = make([]string, n)
	keys = make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		addrs[i] = keys[i] + ":40000"
	}
	return addrs, keys
}

var keyCounts = []int{1, 100_000}

func BenchmarkAllow(b *testing.B) {
	for _, n := range keyCounts {
		_, keys := benchAddrs(n)
		b.Run(fmt.Sprintf("keys=%d/serial", n), func(b *testing.B) {
			l := testLimiter(benchConfig())
			for _, k := range keys {
				l.Allow(k, time.Now())
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				l.Allow(keys[i], time.Now())
				if i++; i == n {
					i = 0
				}
			}
		})
		b.Run(fmt.Sprintf("keys=%d/parallel", n), func(b *testing.B) {
			l := testLimiter(benchConfig())
			for _, k := range keys {
				l.Allow(k, time.Now())
			}
			var offset atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(offset.Add(7919)) % n
				for pb.Next() {
					l.Allow(keys[i], time.Now())
					if i++; i == n {
						i = 0
					}
				}
			})
		})
	}
}

func BenchmarkMiddleware(b *testing.B) {
	for _, n := range keyCounts {
		addrs, _ := benchAddrs(n)
		b.Run(fmt.Sprintf("keys=%d/serial", n), func(b *testing.B) {
			r := newRouterNoBody(benchConfig())
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			w := newReusableWriter()
			for _, a := range addrs {
				req.RemoteAddr = a
				serveReuse(r, w, req)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req.RemoteAddr = addrs[i]
				serveReuse(r, w, req)
				if i++; i == n {
					i = 0
				}
			}
			if w.status != http.StatusNoContent {
				b.Fatalf("status %d", w.status)
			}
		})
		b.Run(fmt.Sprintf("keys=%d/parallel", n), func(b *testing.B) {
			r := newRouterNoBody(benchConfig())
			warm := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, a := range addrs {
				warm.RemoteAddr = a
				serveReuse(r, newReusableWriter(), warm)
			}
			var offset atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				w := newReusableWriter()
				i := int(offset.Add(7919)) % n
				for pb.Next() {
					req.RemoteAddr = addrs[i]
					serveReuse(r, w, req)
					if i++; i == n {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkRefused measures the 429 path, which a flood exercises.
func BenchmarkRefused(b *testing.B) {
	now := time.Now()
	cfg := Config{Limit: 1, Period: time.Hour, KeyFunc: ClientAddr(), Now: func() time.Time { return now }}
	r := newRouterNoBody(cfg)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "192.0.2.1:1"
	w := newReusableWriter()
	serveReuse(r, w, req)
	b.ReportAllocs()
	for b.Loop() {
		serveReuse(r, w, req)
	}
	if w.status != http.StatusTooManyRequests {
		b.Fatalf("status %d, want 429", w.status)
	}
}

// BenchmarkMemoryPerKey reports the heap one client's bucket costs, with
// IPv4 keys.
func BenchmarkMemoryPerKey(b *testing.B) {
	var per float64
	for b.Loop() {
		per = measureBytesPerKey(100_000)
	}
	b.ReportMetric(per, "bytes/key")
}
