package llredis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// BenchmarkRateLimitStoreTake is one rate limit check through Redis: one
// EVALSHA round trip to a redis-server on 127.0.0.1.
func BenchmarkRateLimitStoreTake(b *testing.B) {
	redisSrv := redistest.Start(b)
	store, err := NewRateLimitStore(redisSrv.Client(), StoreConfig{})
	if err != nil {
		b.Fatal(err)
	}
	bucket := ratelimit.Bucket{Name: "bench", Limit: 1_000_000_000, Period: time.Second, Burst: 1_000_000}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "192.0.2." + strconv.Itoa(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := store.Take(ctx, bucket, keys[i%len(keys)], time.Time{}); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
