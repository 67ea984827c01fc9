package llredis

import "github.com/redis/go-redis/v9"

// checkContextTimeouts returns ErrContextTimeoutDisabled if rdb is a
// go-redis client that ignores context deadlines: the stores bound each
// call with one, and nothing else stops a call to a Redis that accepts
// connections and never answers. A client of another type is trusted.
func checkContextTimeouts(rdb redis.UniversalClient) error {
	var enabled bool
	switch c := rdb.(type) {
	case *redis.Client:
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		enabled = c.Options().ContextTimeoutEnabled
	default:
		return nil
	}
	if !enabled {
		return ErrContextTimeoutDisabled
	}
	return nil
}
