package llprom

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
	"github.com/lifeline-go/lifeline/llredis"
	"github.com/lifeline-go/lifeline/longpoll"
)

// With Redis, every command's latency is observed by command name, failed
// commands are counted, and readiness follows Redis.
func TestRedisCommandsAndReadiness(t *testing.T) {
	redis := redistest.Start(t)
	reg := prometheus.NewRegistry()
	m, err := New(Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	backend, err := llredis.New(redis.Client(), llredis.Config{Observer: m, OpTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	lp := longpoll.New(longpoll.Config{Backend: backend, Observer: m, Logger: discardLogger()})
	defer lp.Close()
	ctx := context.Background()

	before := gathered(t, reg, "lifeline_backend_command_seconds")
	if _, err := lp.Publish(ctx, "room:a", "message", 1); err != nil {
		t.Fatal(err)
	}
	if got := gathered(t, reg, "lifeline_backend_command_seconds"); got <= before {
		t.Fatalf("a publish observed %v commands in all, as many as before (%v)", got, before)
	}
	if got := gathered(t, reg, "lifeline_backend_command_seconds", "command", "evalsha"); got < 1 {
		t.Fatalf("no evalsha observed for the append script")
	}
	if got := gathered(t, reg, "lifeline_backend_errors_total"); got != 0 {
		t.Fatalf("%v command errors while Redis answers", got)
	}
	if err := lp.Ready(ctx); err != nil {
		t.Fatalf("Ready while Redis answers: %v", err)
	}
	if err := m.Track(lp); err != nil {
		t.Fatal(err)
	}
	if events, topics := gathered(t, reg, "lifeline_buffer_events"), gathered(t, reg, "lifeline_buffer_topics"); events != 1 || topics != 1 {
		t.Fatalf("buffer gauges on Redis: %v events in %v topics, want 1 and 1", events, topics)
	}
	checkLabels(t, reg, []string{"room:a"})

	redis.Stop()
	err = lp.Ready(ctx)
	if !errors.Is(err, longpoll.ErrUnavailable) {
		t.Fatalf("Ready with Redis stopped = %v, want ErrUnavailable", err)
	}
	if got := gathered(t, reg, "lifeline_backend_errors_total", "command", "ping"); got != 1 {
		t.Fatalf("lifeline_backend_errors_total{command=ping} = %v, want 1", got)
	}
}
