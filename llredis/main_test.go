package llredis

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lifeline-go/lifeline/longpoll"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

// sharedRedis is the machine's Redis, which CI starts before the tests;
// REDIS_ADDR overrides it. Tests that must stop Redis start their own.
func sharedRedis(t testing.TB) redis.UniversalClient {
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

// testPrefix returns a prefix of the test's own, and deletes its keys when
// the test ends.
func testPrefix(t testing.TB, rdb redis.UniversalClient) string {
	prefix := "lltest-" + longpoll.NewEpoch()
	t.Cleanup(func() { deleteKeys(t, rdb, prefix) })
	return prefix
}

// deleteKeys deletes every key under prefix: what a Redis that restarted
// empty looks like to Lifeline.
func deleteKeys(t testing.TB, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, newKeyspace(prefix).tag+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("deleting test keys: %v", err)
	}
}

// newTestBackend returns a Backend on rdb under prefix, closed when the
// test ends.
func newTestBackend(t testing.TB, rdb redis.UniversalClient, cfg Config) *Backend {
	b, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
