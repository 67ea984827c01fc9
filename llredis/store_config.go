package llredis

import "time"

// DefaultTimeout bounds each Redis call of the stores when
// StoreConfig.Timeout is zero. A rate limit check or a negotiate that waits
// longer than this for Redis is better answered 503 (or, for negotiate,
// with the default order) than held.
const DefaultTimeout = 500 * time.Millisecond

// StoreConfig configures the rate limit store ([NewRateLimitStore]) and
// negotiate's failure store ([NewFailureStore]). Zero fields take their
// defaults.
type StoreConfig struct {
	// Prefix is the key prefix: every key is "{Prefix}:...". Use the same
	// prefix on every instance. Default: DefaultPrefix ("lifeline").
	Prefix string

	// Timeout bounds each call to Redis, retries included, whatever the
	// caller's context allows, so that an unreachable Redis costs a request
	// at most this long. Default: DefaultTimeout (500 ms).
	Timeout time.Duration
}

func (c StoreConfig) withDefaults() StoreConfig {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}
