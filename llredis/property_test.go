package llredis

import (
	"context"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/switchtest"
	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// The delivery guarantee across instances: three instances share one
// Redis, every client sends each request to the next appInstance in turn
// while hopping between transports, dropping connections and losing its
// session; publishers publish through any appInstance. Every client must
// process every event of its topics exactly once, in order.
func TestPropertyAcrossInstances(t *testing.T) {
	rdb := sharedRedis(t)
	cluster := newCluster(t, rdb, 3, Config{},
		longpoll.Config{DisablePresence: true, IdleLimit: longpoll.Limit{Off: true}},
		negotiate.Config{Heartbeat: 20 * time.Millisecond, StreamMaxAge: 40 * time.Millisecond, DisableNegotiateLimit: true})
	switchtest.Run(t, switchtest.Config{
		URLs: urls(cluster),
		Publish: func(ctx context.Context, p, n int, topic string) (switchtest.Published, error) {
			lp := cluster[(p+n)%len(cluster)].lp
			e, err := lp.Publish(ctx, topic, "message", map[string]any{"n": n, "text": "line one\nline two é ✓"})
			if err != nil {
				return switchtest.Published{}, err
			}
			return switchtest.Published{ID: e.ID.String(), Topic: e.Topic}, nil
		},
	})
}
