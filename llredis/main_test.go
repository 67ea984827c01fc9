package llredis

import (
	"context"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
	"github.com/lifeline-go/lifeline/longpoll"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

// sharedRedis is the machine's Redis (see redistest.Shared).
func sharedRedis(t testing.TB) redis.UniversalClient { return redistest.Shared(t) }

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
