package llredis

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/negotiate"
)

// FailureStore keeps negotiate's failure memory in Redis (set it as
// negotiate.Config.FailureStore), so that a transport which failed for a
// client address through one instance is offered last by every instance.
//
// A failure is one key, "{prefix}:nf:<transport>:<address>", that expires
// after negotiate.Config.FailureMemory. Recording is one pipelined round
// trip, reading one MGET. The store does not own the client.
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

// Record implements negotiate.FailureStore.
func (s *FailureStore) Record(ctx context.Context, addr string, transports []string, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range transports {
			p.Set(ctx, s.failureKey(t, addr), 1, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("llredis: record transport failures: %w", err)
	}
	return nil
}

// Failed implements negotiate.FailureStore.
func (s *FailureStore) Failed(ctx context.Context, addr string, transports []string) ([]string, error) {
	if len(transports) == 0 {
		return nil, nil
	}
	keys := make([]string, len(transports))
	for i, t := range transports {
		keys[i] = s.failureKey(t, addr)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("llredis: read transport failures: %w", err)
	}
	var failed []string
	for i, v := range vals {
		if v != nil {
			failed = append(failed, transports[i])
		}
	}
	return failed, nil
}

// failureKey names a failure. Transport names are Lifeline's own (no ':'),
// so the address, which may hold colons (IPv6), can come last unescaped.
func (s *FailureStore) failureKey(transport, addr string) string {
	return s.keys.key("nf", transport, addr)
}
