package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/llredis"
)

// The servers the load generator measures.
const (
	targetFloor      = "floor"      // bare Gin
	targetLifeline   = "lifeline"   // Lifeline, one instance, in memory
	targetCentrifuge = "centrifuge" // github.com/centrifugal/centrifuge, in memory (centrifuge.go)
	targetRedis      = "redis"      // Lifeline, -instances instances on one Redis
)

var allTargets = []string{targetFloor, targetLifeline, targetCentrifuge, targetRedis}

// serves reports whether a target of kind serves transport: centrifuge has
// no long-poll transport.
func serves(kind, transport string) bool {
	return kind != targetCentrifuge || transport != transportLongPoll
}

// redisTarget is where the instances of a redis target keep their shared
// state: one Redis, one key prefix per group (fresh processes on fresh
// keys), deleted when the group ends.
type redisTarget struct {
	url    string
	prefix string
}

// redisClient returns a go-redis client of url that bounds every call by
// its context, as llredis requires.
func redisClient(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	// The instance's held polls re-read through the pool all at once
	// after a publish; the reads are shared, but the throughput phase's
	// publishers each hold a connection.
	opts.PoolSize = 256
	return redis.NewClient(opts), nil
}

// connect returns an llredis Backend for one instance and a function that
// closes it and its client. Its buffer bounds are llredis's defaults, the
// same as the in-memory buffer's.
func (t redisTarget) connect() (*llredis.Backend, func(), error) {
	if t.url == "" || t.prefix == "" {
		return nil, nil, fmt.Errorf("the redis server needs -redis and -prefix")
	}
	rdb, err := redisClient(t.url)
	if err != nil {
		return nil, nil, err
	}
	b, err := llredis.New(rdb, llredis.Config{Prefix: t.prefix})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		_ = b.Close()
		_ = rdb.Close()
		return nil, nil, err
	}
	return b, func() { _ = b.Close(); _ = rdb.Close() }, nil
}

// newRunPrefix returns a key prefix no other run uses.
func newRunPrefix() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return "lifeline-load-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(r[:])
}

// deletePrefix removes every key of a run's prefix.
func deletePrefix(url, prefix string) error {
	rdb, err := redisClient(url)
	if err != nil {
		return err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	iter := rdb.Scan(ctx, 0, "{"+prefix+"}:*", 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rdb.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}

// commandStats is Redis's count of calls per command (INFO commandstats),
// commands run inside scripts included.
type commandStats map[string]int64

func readCommandStats(ctx context.Context, rdb *redis.Client) (commandStats, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	return parseCommandStats(info), nil
}

// parseCommandStats reads lines "cmdstat_<name>:calls=<n>,usec=...".
func parseCommandStats(info string) commandStats {
	st := commandStats{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for _, field := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(field, "calls="); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					st[name] = n
				}
			}
		}
	}
	return st
}

// since returns the calls made between before and st, without the INFO
// calls that read them and the connection set-up of new pool connections
// (HELLO, CLIENT SETINFO), which are not Lifeline's work.
func (st commandStats) since(before commandStats) commandStats {
	d := commandStats{}
	for name, n := range st {
		if name == "info" || name == "hello" || strings.HasPrefix(name, "client") {
			continue
		}
		if k := n - before[name]; k != 0 {
			d[name] = k
		}
	}
	return d
}

func (st commandStats) total() int64 {
	var n int64
	for _, k := range st {
		n += k
	}
	return n
}

// describe lists the commands by name, most called first.
func (st commandStats) describe() string {
	names := make([]string, 0, len(st))
	for name := range st {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(st[b], st[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + "=" + strconv.FormatInt(st[name], 10)
	}
	return strings.Join(parts, " ")
}
