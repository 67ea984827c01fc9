package llredis

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// scriptRunner is what the buffer needs of a *redis.Script.
type scriptRunner interface {
	Run(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd
}
