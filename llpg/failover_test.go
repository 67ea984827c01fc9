package llpg

import (
	"context"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/internal/testkit/pgtest"
	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
	"github.com/lifeline-go/lifeline/llredis"
	"github.com/lifeline-go/lifeline/longpoll"
)

// sharedRedis is the machine's Redis, with a key prefix of the test's own
// whose keys are deleted when the test ends.
func sharedRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	rdb := redistest.Shared(t)
	prefix := "llpgtest-" + longpoll.NewEpoch()
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "{"+prefix+"}*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return rdb, prefix
}

// instance is one app instance's shared buffer: an llredis Backend.
func instance(t *testing.T, rdb *redis.Client, prefix string) longpoll.PositionedBuffer {
	t.Helper()
	b, err := llredis.New(rdb, llredis.Config{Prefix: prefix, Logger: quiet, MaxEventsPerTopic: 5000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Buffer().(longpoll.PositionedBuffer)
}

// writeRows inserts tasks from..n, one transaction each, in order (so that
// commit order is id order), retrying through connection failures. A
// retried insert whose first attempt did commit changes nothing (ON
// CONFLICT DO NOTHING), so the table ends with each id once, whatever
// failed.
func writeRows(ctx context.Context, url string, from, n int, progress *atomic.Int64) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for id := from; id <= n; {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if conn == nil {
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				time.Sleep(50 * time.Millisecond) // the server is restarting
				continue
			}
			conn = c
		}
		if _, err := conn.Exec(ctx, "INSERT INTO tasks (id, title) VALUES ($1, 't') ON CONFLICT DO NOTHING", id); err != nil {
			conn.Close(context.Background())
			conn = nil
			continue
		}
		progress.Store(int64(id))
		id++
	}
	return nil
}

// checkOnceInOrder checks that events are the inserts of tasks 1..n, each
// once, in order.
func checkOnceInOrder(t *testing.T, events []*longpoll.Event, n int) {
	t.Helper()
	if len(events) != n {
		t.Fatalf("%d events, want %d", len(events), n)
	}
	for i, e := range events {
		if c := decode(t, e); c.Op != "INSERT" || c.New["id"] != float64(i+1) {
			t.Fatalf("event %d = %s, want the insert of task %d", i, e.Data, i+1)
		}
	}
}

// waitUntil polls cond every few milliseconds for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition of another process
	}
	return time.Since(start)
}

// The relaying app - a process of its own, this test binary run as a
// relay (see TestMain) - is killed with SIGKILL after appending events but
// before it confirmed any to Postgres, and rows are committed while no
// relay runs; a new instance replays them all from the slot, and the
// shared buffer's position makes the replay append nothing twice.
func TestKilledAppRestartsWithoutLossOrRepeat(t *testing.T) {
	const n = 1500
	rdb, prefix := sharedRedis(t)
	cfg, conn := setupDB(t, "", Config{})
	shared := instance(t, rdb, prefix)
	ctx := context.Background()
	start, err := shared.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childRelayEnv+"="+cfg.ConnString, childPrefixEnv+"="+prefix)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			child.Process.Kill()
			child.Wait()
		}
	}()
	var written atomic.Int64
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- writeRows(wctx, cfg.ConnString, 1, n-200, &written) }()
	relayed := func() int {
		b, err := shared.Read(ctx, []string{"tasks"}, start, 5000)
		if err != nil {
			t.Fatal(err)
		}
		return len(b.Events)
	}
	waitUntil(t, 30*time.Second, "the relay process to relay 300 changes", func() bool { return relayed() >= 300 })
	child.Process.Kill()
	child.Wait()
	killed = true
	atKill := relayed()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// While no relay runs, 200 more rows commit.
	if err := writeRows(ctx, cfg.ConnString, n-199, n, &written); err != nil {
		t.Fatal(err)
	}

	// A new instance: a new Backend on the same Redis, a new relay.
	b := cfg
	b.Target = BufferTarget(instance(t, rdb, prefix))
	rb := startRelay(t, b)
	events := fence(t, conn, shared, start, "tasks")
	checkOnceInOrder(t, events, n)
	s := rb.Stats()
	// The killed process appends one change at a time; one may have been
	// on its way to Redis when it died, and land after atKill was counted.
	if s.Replayed != uint64(atKill) && s.Replayed != uint64(atKill)+1 {
		t.Fatalf("the successor skipped %d replayed changes, want the %d the killed process appended (or one more in flight) (stats %+v)", s.Replayed, atKill, s)
	}
	t.Logf("killed after %d appends; 200 rows committed while no relay ran; the successor skipped the %d replayed and relayed %d", atKill, s.Replayed, s.Relayed)
}

// Environment of the relay process of TestKilledAppRestartsWithoutLossOrRepeat.
const (
	childRelayEnv  = "LLPG_TEST_RELAY_DB"
	childPrefixEnv = "LLPG_TEST_RELAY_PREFIX"
)

// runChildRelay is the relay process: it relays the test schema of the
// database into the Redis buffer under the prefix, confirming nothing to
// Postgres (StatusInterval of an hour), until it is killed.
func runChildRelay(db, prefix string) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		rdb = redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	}
	b, err := llredis.New(rdb, llredis.Config{Prefix: prefix, Logger: quiet, MaxEventsPerTopic: 5000})
	if err != nil {
		panic(err)
	}
	r, err := New(Config{ConnString: db, Target: BufferTarget(b.Buffer().(longpoll.PositionedBuffer)), Tables: testTables(),
		StatusInterval: time.Hour, RetryInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		panic(err)
	}
	if err := r.Start(); err != nil {
		panic(err)
	}
	select {} // until killed
}

// Postgres itself crashes (an immediate stop) mid-stream and comes back:
// the relay reconnects and resumes from the slot, which may have gone back
// to its last checkpoint; nothing is lost or repeated.
func TestPostgresRestartMidStream(t *testing.T) {
	const n = 1500
	cluster := pgtest.StartCluster(t)
	cfg, conn := setupDB(t, cluster.DB(t), Config{})
	conn.Close(context.Background())
	buf := memory(t, longpoll.MemoryConfig{MaxEventsPerTopic: 5000})
	cfg.Target = BufferTarget(buf)
	start, _ := buf.Head(context.Background())
	r := startRelay(t, cfg)

	var written atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- writeRows(ctx, cfg.ConnString, 1, n, &written) }()
	waitUntil(t, 30*time.Second, "300 relayed events", func() bool { return r.Stats().Relayed >= 300 })
	cluster.Restart()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	conn = pgtest.Connect(t, cfg.ConnString)
	events := fence(t, conn, buf, start, "tasks")
	checkOnceInOrder(t, events, n)
	t.Logf("restarted Postgres mid-stream; stats %+v", r.Stats())
}

// Two instances race for the relay: one leads, the other waits; when the
// leader is killed, the other takes over within seconds and the shared
// buffer receives every change once.
func TestTwoRelaysOneLeadsTheOtherTakesOver(t *testing.T) {
	const n = 1200
	cfg, conn := setupDB(t, "", Config{})
	buf := memory(t, longpoll.MemoryConfig{MaxEventsPerTopic: 5000}) // shared by both, as Redis would be
	cfg.Target = BufferTarget(buf)
	start, _ := buf.Head(context.Background())
	relays := []*Relay{startRelay(t, cfg), startRelay(t, cfg)}
	leader := func() int {
		l := -1
		for i, r := range relays {
			if r.Stats().Leading {
				if l >= 0 {
					t.Fatal("two relays lead at once")
				}
				l = i
			}
		}
		return l
	}
	waitUntil(t, 10*time.Second, "a leader", func() bool { return leader() >= 0 })

	var written atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- writeRows(ctx, cfg.ConnString, 1, n, &written) }()
	first := leader()
	waitUntil(t, 30*time.Second, "200 relayed events", func() bool { return relays[first].Stats().Relayed >= 200 })
	for range 20 { // the follower stays a follower while the leader lives
		if leader() != first {
			t.Fatal("the follower took over from a live leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
	relays[first].crash()
	took := waitUntil(t, 10*time.Second, "the takeover", func() bool { return relays[1-first].Stats().Leading })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	events := fence(t, conn, buf, start, "tasks")
	checkOnceInOrder(t, events, n)
	t.Logf("took over in %v; first relayed %d, second relayed %d and skipped %d", took.Round(time.Millisecond),
		relays[first].Stats().Relayed, relays[1-first].Stats().Relayed, relays[1-first].Stats().Replayed)
}
