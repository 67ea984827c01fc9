package llredis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/negotiate"
)

// FailureStore keeps negotiate's failure memory in Redis (set it as
// negotiate.Config.FailureStore), so that what the clients at an address
// found of a transport, reported through one instance, counts for every
// instance.
//
// Each (transport, address) is one sorted set,
// "{prefix}:nfv:<transport>:<address>", whose members are "f:<client>"
// (failed) or "w:<client>" (worked), scored by the report's time in
// milliseconds. Recording is one pipelined round trip that replaces the
// client's verdict, drops verdicts older than the memory and all but the
// newest window clients, and sets the key to expire with the memory; a
// tally is one pipelined round trip of ZRANGEBYSCORE, at most window
// members per transport. The store does not own the client.
type FailureStore struct {
	rdb     redis.UniversalClient
	keys    keyspace
	timeout time.Duration
}

var _ negotiate.FailureStore = (*FailureStore)(nil)

// NewFailureStore returns a failure store on rdb, which must respect
// context deadlines (ContextTimeoutEnabled; see [ErrContextTimeoutDisabled]).
func NewFailureStore(rdb redis.UniversalClient, cfg StoreConfig) (*FailureStore, error) {
	if err := checkContextTimeouts(rdb); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &FailureStore{rdb: rdb, keys: newKeyspace(cfg.Prefix), timeout: cfg.Timeout}, nil
}

// Verdict members: a client's latest verdict is one of the two.
const (
	failedMember = "f:"
	workedMember = "w:"
)

// Record implements negotiate.FailureStore.
func (s *FailureStore) Record(ctx context.Context, r negotiate.Report, window int, ttl time.Duration) error {
	if len(r.Verdicts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	at := r.At.UnixMilli()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, v := range r.Verdicts {
			key := s.failureKey(v.Transport, r.Addr)
			member := workedMember + r.Client
			if v.Failed {
				member = failedMember + r.Client
			}
			p.ZRem(ctx, key, failedMember+r.Client, workedMember+r.Client)
			p.ZAdd(ctx, key, redis.Z{Score: float64(at), Member: member})
			p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(at-ttl.Milliseconds(), 10))
			p.ZRemRangeByRank(ctx, key, 0, int64(-window-1))
			p.PExpire(ctx, key, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("llredis: record transport failures: %w", err)
	}
	return nil
}

// Tally implements negotiate.FailureStore.
func (s *FailureStore) Tally(ctx context.Context, addr string, transports []string, since time.Time) ([]negotiate.Tally, error) {
	out := make([]negotiate.Tally, len(transports))
	if len(transports) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	from := strconv.FormatInt(since.UnixMilli(), 10)
	cmds := make([]*redis.StringSliceCmd, len(transports))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range transports {
			cmds[i] = p.ZRangeByScore(ctx, s.failureKey(t, addr), &redis.ZRangeBy{Min: from, Max: "+inf"})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("llredis: read transport failures: %w", err)
	}
	for i, t := range transports {
		out[i].Transport = t
		for _, m := range cmds[i].Val() {
			switch {
			case strings.HasPrefix(m, failedMember):
				out[i].Failed++
			case strings.HasPrefix(m, workedMember):
				out[i].Worked++
			}
		}
	}
	return out, nil
}

// failureKey names a (transport, address) window. Transport names are
// Lifeline's own (no ':'), so the address, which may hold colons (IPv6),
// can come last unescaped. "nfv", not the "nf" of the per-address flags
// before it, so that instances of both versions never meet a key of the
// other's type.
func (s *FailureStore) failureKey(transport, addr string) string {
	return s.keys.key("nfv", transport, addr)
}
