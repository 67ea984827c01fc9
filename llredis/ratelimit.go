package llredis

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/ratelimit"
)

//go:embed gcra.lua
var gcraSource string

var gcra = redis.NewScript(gcraSource)

// RateLimitStore keeps ratelimit's token buckets in Redis, so that every
// instance of the application draws on one budget per client: set it as
// ratelimit.Config.Store (the middleware, e.g. negotiate's per-address
// limit) or pass it to longpoll for the per-session limits. Adding
// instances then does not multiply a client's budget.
//
// Each request is one EVALSHA of a small GCRA script (one key, so legal on
// Redis Cluster) that keeps a bucket's theoretical arrival time under
// "{prefix}:rl:<policy>:<key>", on Redis's clock, expiring as the bucket
// refills: a full bucket costs no memory. Its decisions, and so the
// RateLimit fields and problem documents, are those of the in-memory
// buckets (see ratelimit.Bucket.Decision). Redis restarted empty forgets
// every client's debt: budgets start full again.
//
// It does not use github.com/go-redis/redis_rate, whose GCRA it follows:
// redis_rate puts "rate:" in front of every key, so its keys cannot live
// under Lifeline's prefix (one place to list, expire or grant an ACL for).
//
// The store does not own the client: close it yourself.
type RateLimitStore struct {
	rdb     redis.UniversalClient
	keys    keyspace
	timeout time.Duration
}

var _ ratelimit.Store = (*RateLimitStore)(nil)

// NewRateLimitStore returns a rate limit store on rdb, which must respect
// context deadlines (ContextTimeoutEnabled; see [ErrContextTimeoutDisabled]).
func NewRateLimitStore(rdb redis.UniversalClient, cfg StoreConfig) (*RateLimitStore, error) {
	if err := checkContextTimeouts(rdb); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &RateLimitStore{rdb: rdb, keys: newKeyspace(cfg.Prefix), timeout: cfg.Timeout}, nil
}

// Take implements ratelimit.Store. It ignores now: Redis's clock is the one
// all instances share. Every error wraps ratelimit.ErrUnavailable.
func (s *RateLimitStore) Take(ctx context.Context, b ratelimit.Bucket, key string, _ time.Time) (ratelimit.Decision, error) {
	// The interval is truncated to whole microseconds, the script's unit:
	// the bucket then reads a hair fuller than exact, never a token short.
	interval := max(b.Period.Microseconds()/int64(b.Limit), 1)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := gcra.Run(ctx, s.rdb, []string{s.bucketKey(b.Name, key)}, interval, b.Burst).Int64Slice()
	if err != nil {
		return ratelimit.Decision{}, fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
	}
	if len(res) != 2 {
		return ratelimit.Decision{}, fmt.Errorf("%w: rate limit script answered %v", ratelimit.ErrUnavailable, res)
	}
	return b.Decision(res[0] == 1, time.Duration(res[1])*time.Microsecond), nil
}

// nameEscaper keeps a policy name from reaching into the key after it.
var nameEscaper = strings.NewReplacer("%", "%25", ":", "%3A")

func (s *RateLimitStore) bucketKey(policy, key string) string {
	return s.keys.key("rl", nameEscaper.Replace(policy), key)
}
