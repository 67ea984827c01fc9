package llredis

import (
	"context"
	"testing"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/longpoll/buffertest"
)

// The buffer passes the same conformance suite as longpoll.Memory.
func TestBufferConformance(t *testing.T) {
	rdb := sharedRedis(t)
	buffertest.Run(t, func(t *testing.T, o buffertest.Options) buffertest.Subject {
		prefix := testPrefix(t, rdb)
		b := newTestBackend(t, rdb, Config{
			Prefix: prefix, MaxEventsPerTopic: o.MaxEventsPerTopic, MaxAge: o.MaxAge, MaxEventBytes: o.MaxEventBytes,
			MaxTopics: o.MaxTopics, DedupWindow: o.DedupWindow, Now: o.Now,
		})
		return buffertest.Subject{
			Buffer: b.Buffer(),
			Sweep: func() {
				if err := b.buf.sweepTopics(context.Background()); err != nil {
					t.Fatalf("sweep: %v", err)
				}
			},
			Restart: func() longpoll.Buffer { // Redis lost everything
				deleteKeys(t, rdb, prefix)
				return b.Buffer()
			},
			Causes: true,
		}
	})
}
