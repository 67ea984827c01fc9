package llredis

import (
	"context"
	"sync"
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

// The same property while one of the three instances dies halfway through,
// holding polls and streams: its clients carry on through the others with
// nothing lost or repeated.
func TestPropertyAcrossInstancesOneDies(t *testing.T) {
	rdb := sharedRedis(t)
	cluster := newCluster(t, rdb, 3, Config{},
		longpoll.Config{DisablePresence: true, IdleLimit: longpoll.Limit{Off: true}},
		negotiate.Config{Heartbeat: 20 * time.Millisecond, StreamMaxAge: 40 * time.Millisecond, DisableNegotiateLimit: true})
	const perPublisher = 300
	var kill sync.Once
	switchtest.Run(t, switchtest.Config{
		URLs:         urls(cluster),
		PerPublisher: perPublisher,
		Publish: func(ctx context.Context, p, n int, topic string) (switchtest.Published, error) {
			if n == perPublisher/2 {
				kill.Do(func() {
					dead := cluster[2]
					dead.srv.CloseClientConnections() // as a crash would
					dead.srv.Close()
					dead.lp.Close()
					dead.backend.Close()
				})
			}
			lp := cluster[(p+n)%2].lp // the survivors
			e, err := lp.Publish(ctx, topic, "message", map[string]any{"n": n})
			if err != nil {
				return switchtest.Published{}, err
			}
			return switchtest.Published{ID: e.ID.String(), Topic: e.Topic}, nil
		},
	})
}
