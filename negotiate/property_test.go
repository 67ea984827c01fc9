package negotiate

import (
	"context"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/switchtest"
	"github.com/lifeline-go/lifeline/longpoll"
)

// TestPropertyTransportSwitchesLoseAndRepeatNothing is the delivery
// guarantee across transports: random publishes while every client hops
// between long-poll, SSE and WebSocket, drops connections mid-stream and
// loses its session now and then. Every client must process every event of
// its topics exactly once, in order. (llredis runs the same property over
// three instances sharing one Redis.)
func TestPropertyTransportSwitchesLoseAndRepeatNothing(t *testing.T) {
	// Rate limits are off: this test is about delivery, and its clients
	// reconnect far more often than any real one.
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true, IdleLimit: longpoll.Limit{Off: true}},
		Config{Heartbeat: 20 * time.Millisecond, StreamMaxAge: 40 * time.Millisecond, DisableNegotiateLimit: true})
	switchtest.Run(t, switchtest.Config{
		URLs: []string{srv.URL},
		Publish: func(ctx context.Context, _, n int, topic string) (switchtest.Published, error) {
			e, err := lp.Publish(ctx, topic, "message", map[string]any{"n": n, "text": "line one\nline two é ✓"})
			if err != nil {
				return switchtest.Published{}, err
			}
			return switchtest.Published{ID: e.ID.String(), Topic: e.Topic}, nil
		},
	})
}
