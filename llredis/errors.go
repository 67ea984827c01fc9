package llredis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/longpoll"
)

// ErrNoClient reports New called without a Redis client.
var ErrNoClient = errors.New("llredis: a redis.UniversalClient is required")

// ErrContextTimeoutDisabled is returned by the constructors for a
// go-redis client whose options leave ContextTimeoutEnabled false. Such a
// client ignores every context deadline and waits for its own ReadTimeout
// (5 s by default, per retry), so a silent Redis would hold requests far
// longer than the configured timeouts. Set ContextTimeoutEnabled: true in
// the client's options.
var ErrContextTimeoutDisabled = errors.New("llredis: the go-redis client ignores context deadlines: set ContextTimeoutEnabled in its options")

// unavailableReplies are Redis error replies that mean "not now" rather
// than a mistake: the server is loading, read-only after a failover, or
// busy with a script.
var unavailableReplies = []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS"}

// wrap turns a Redis failure into what handlers answer: ErrUnavailable for
// a Redis that cannot be reached or is not ready (503 with Retry-After),
// the context's error when the caller went away, and the error itself for
// anything else, which is a bug.
func wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return err
	}
	var reply redis.Error
	if errors.As(err, &reply) && !errors.Is(err, context.DeadlineExceeded) {
		msg := reply.Error()
		for _, prefix := range unavailableReplies {
			if strings.HasPrefix(msg, prefix) {
				return fmt.Errorf("%w: %s: %v", longpoll.ErrUnavailable, op, err)
			}
		}
		return fmt.Errorf("llredis: %s: %w", op, err)
	}
	return fmt.Errorf("%w: %s: %v", longpoll.ErrUnavailable, op, err)
}
