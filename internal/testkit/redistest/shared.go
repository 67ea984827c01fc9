package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared returns a client of the machine's Redis, which CI starts before
// the tests (REDIS_ADDR overrides 127.0.0.1:6379), closed when t ends. It
// skips t when that Redis does not answer, unless CI=true, where it fails
// t. Tests that must stop Redis use Start instead.
func Shared(t testing.TB) *redis.Client {
	t.Helper()
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is required under CI: %v", addr, err)
		}
		t.Skipf("no Redis at %s (start redis-server or set REDIS_ADDR): %v", addr, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
