package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/lifeline-go/lifeline/internal/testkit/redistest"
)

// TestRunRedisSmall runs the Redis mode end to end on a redis-server of
// its own (skipped without redis-server, failing under CI=true): fan-out to
// 60 polls on the in-memory instance and on three instances sharing Redis,
// a short throughput round of each, and the commands of one publish for
// 1 and 20 polls on 3 instances.
func TestRunRedisSmall(t *testing.T) {
	skipIfShort(t, "starts redis-server, server and driver processes")
	srv := redistest.Start(t)
	url := "redis://" + srv.Addr + "/0"
	const n, subs = 60, 20
	rep := runJSON(t, "-redis", url, "-n", "60", "-rounds", "1", "-warmup", "0", "-subscribers", "20", "-publishers", "6",
		"-publish-for", "300ms", "-count-subscribers", "1,20", "-count-instances", "3", "-count-publishes", "1", "-timeout", "10s")

	if len(rep.Targets) != 2 || rep.Targets[0].Target != targetLifeline || rep.Targets[1].Target != targetRedis {
		t.Fatalf("targets = %+v, want lifeline then redis", rep.Targets)
	}
	for _, tr := range rep.Targets {
		want := 1
		if tr.Target == targetRedis {
			want = 3
		}
		if tr.Instances != want || tr.Delivered != n || tr.Errors != 0 || !(tr.P50ms > 0 && tr.P50ms <= tr.P99ms) {
			t.Errorf("%s: %d instances (want %d), delivered %d/%d, %d errors, p50 %.2f p99 %.2f", tr.Target, tr.Instances, want, tr.Delivered, n, tr.Errors, tr.P50ms, tr.P99ms)
		}
	}
	if q := rep.ratiosOf(transportLongPoll, n); len(q) != 1 || q[0].Target != targetRedis || q[0].Base != targetLifeline || q[0].P99 <= 0 {
		t.Errorf("ratios = %+v, want one redis/lifeline", q)
	}

	if len(rep.Throughput) != 2 {
		t.Fatalf("throughput = %+v, want lifeline and redis", rep.Throughput)
	}
	for _, tp := range rep.Throughput {
		if len(tp.Rounds) != 1 || tp.EventsPerSec <= 0 || tp.Errors != 0 || tp.Subscribers != subs || tp.Rounds[0].Answers == 0 {
			t.Errorf("throughput %s = %+v", tp.Target, tp)
		}
	}

	// One append per publish and no read: the woken polls read their
	// instance's mirror of the newest events, fed by the append's notice.
	if len(rep.Commands) != 2 {
		t.Fatalf("commands = %+v, want 2 settings", rep.Commands)
	}
	for _, c := range rep.Commands {
		if c.Appends != 1 || c.Reads != 0 || c.Scripts != 1 {
			t.Errorf("%d instances, %d polls: %+v", c.Instances, c.Subscribers, c)
		}
	}

	// Every run's keys are gone.
	if keys, err := srv.Client().Keys(context.Background(), "*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("keys left in Redis: %v (%v)", keys, err)
	}

	var table bytes.Buffer
	rep.writeTable(&table)
	for _, want := range []string{"redis/lifeline", "throughput", "commands/publish", "3 instances on one Redis"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestCommandStats(t *testing.T) {
	before := parseCommandStats("# Commandstats\r\ncmdstat_evalsha:calls=10,usec=5,usec_per_call=0.5\r\ncmdstat_info:calls=3,usec=1\r\ncmdstat_get:calls=7,usec=1\r\n")
	after := parseCommandStats("# Commandstats\r\ncmdstat_evalsha:calls=12,usec=9\r\ncmdstat_info:calls=5,usec=1\r\ncmdstat_get:calls=7,usec=1\r\n" +
		"cmdstat_zadd:calls=1,usec=1\r\ncmdstat_hello:calls=4,usec=1\r\ncmdstat_client|setinfo:calls=8,usec=1\r\n")
	d := after.since(before)
	if d.total() != 3 || d["evalsha"] != 2 || d["zadd"] != 1 || d.describe() != "evalsha=2 zadd=1" {
		t.Errorf("since = %v (%q), want evalsha=2 zadd=1", d, d.describe())
	}
}

func TestRedisFlags(t *testing.T) {
	var out, log bytes.Buffer
	for _, args := range [][]string{
		{"-targets", "redis"},   // no -redis
		{"-phases", "commands"}, // no -redis
		{"-phases", "warp"},     // unknown
		{"-redis", "http://x"},  // not a Redis URL
		{"-redis", "redis://127.0.0.1:1", "-instances", "0"},
		{"-redis", "redis://127.0.0.1:1", "-transports", "sse"}, // the redis target is long-poll only
	} {
		if code := cliMain(args, &out, &log); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
