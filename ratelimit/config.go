package ratelimit

import (
	"fmt"
	"time"

	"github.com/gin-gonic/gin"
)

// Defaults applied to zero fields of [Config].
const (
	// DefaultLimit is the default number of requests per [DefaultPeriod].
	DefaultLimit = 100
	// DefaultPeriod is the default period over which Limit requests refill.
	DefaultPeriod = time.Minute
	// DefaultMaxKeys is the default cap on the number of clients tracked at
	// once. At about 200 bytes per client (see the package doc) it bounds the
	// store near 20 MB.
	DefaultMaxKeys = 100_000
	// DefaultSweepInterval is the default time between sweeps that drop
	// buckets which have refilled completely.
	DefaultSweepInterval = time.Minute
	// DefaultPolicy is the default policy name in the RateLimit fields.
	DefaultPolicy = "default"
)

// MaxKeyLen is the longest key stored as given. A longer key is stored as its
// SHA-256 digest instead, so that a client cannot make the store hold large
// strings.
const MaxKeyLen = 256

// HeaderMode selects the response header fields that describe the limit.
// Whatever the mode, a refused request carries Retry-After.
type HeaderMode int

const (
	// HeadersIETF sends RateLimit-Policy and RateLimit as specified by
	// draft-ietf-httpapi-ratelimit-headers (-10 and -11; the syntax has not
	// changed since -08). It is the zero value and the default.
	HeadersIETF HeaderMode = iota
	// HeadersLegacy sends X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (Unix time in seconds at which the bucket is full
	// again, as GitHub and ulule/limiter send it) instead of the IETF fields.
	HeadersLegacy
	// HeadersBoth sends the IETF fields and the legacy ones.
	HeadersBoth
	// HeadersNone sends no limit fields; refusals still carry Retry-After.
	HeadersNone
)

// String returns the mode's name, e.g. "ietf".
func (m HeaderMode) String() string {
	switch m {
	case HeadersIETF:
		return "ietf"
	case HeadersLegacy:
		return "legacy"
	case HeadersBoth:
		return "both"
	case HeadersNone:
		return "none"
	}
	return fmt.Sprintf("HeaderMode(%d)", int(m))
}

// Config configures the middleware built by [New] and the [Limiter] built by
// [NewLimiter]. A zero field means its default. NewLimiter reads only Limit,
// Period, Burst, MaxKeys, SweepInterval and Now.
//
// The bucket refills at Limit/Period tokens per second and holds at most
// Burst tokens; each request takes one token. With the defaults a client may
// make 100 requests at once and then 100 more per minute, spread evenly.
type Config struct {
	// Limit is how many requests a client may make per Period in the long run.
	// Default: 100.
	Limit int

	// Period is the time over which Limit requests are refilled.
	// Default: 1 minute.
	Period time.Duration

	// Burst is the bucket's capacity: how many requests a client whose bucket
	// is full may make at once. Default: Limit.
	Burst int

	// MaxKeys caps the number of clients tracked at once. When the store is
	// full, buckets that have refilled completely are evicted (that loses
	// nothing: a new bucket starts full too). If none can be evicted, a
	// request from a client without a bucket is refused with a Decision whose
	// StoreFull is set, and clients that have a bucket carry on unaffected.
	// An active client's debt is never forgotten. Default: 100 000.
	MaxKeys int

	// SweepInterval is the time between sweeps that evict fully refilled
	// buckets. A Limiter from NewLimiter sweeps in its own goroutine; the
	// Limiter that New builds for itself has no goroutine and sweeps on the
	// request that creates a bucket once the interval has passed.
	// Default: 1 minute.
	SweepInterval time.Duration

	// KeyFunc returns the key that identifies the client of a request. It is
	// required, on purpose: what identifies a client depends on how the
	// server is deployed (behind which proxies, with which sessions), and a
	// default that guesses wrong either lets one client pose as many (a
	// spoofed X-Forwarded-For gets a fresh bucket per request) or puts many
	// clients in one bucket (everyone keyed by the load balancer's address).
	// Use [ClientAddr], [HeaderOr], [ContextOr] or a function of your own.
	// An empty key is treated as an error ([ErrEmptyKey]).
	KeyFunc KeyFunc

	// Policy names the quota policy in the RateLimit-Policy and RateLimit
	// fields. It must be printable ASCII. Default: "default".
	Policy string

	// Headers selects the limit fields sent on every response.
	// Default: HeadersIETF.
	Headers HeaderMode

	// OnLimited writes the response to a refused request. The middleware has
	// already set the limit fields and Retry-After and aborts the chain after
	// OnLimited returns, so OnLimited must write a response. Default: a 429
	// RFC 9457 problem with code "rate_limited" (see [WriteLimited]).
	OnLimited func(c *gin.Context, d Decision)

	// OnError handles an error from KeyFunc, or from the Store (such errors
	// wrap [ErrUnavailable]). If it aborts the context, the chain stops; if
	// it does not, the request goes on without being limited (fail open).
	// Default: abort (fail closed) with an RFC 9457 problem: for a Store
	// error 503 with code "unavailable" and Retry-After
	// [UnavailableRetryAfter], for any other error 500 with code "internal".
	OnError func(c *gin.Context, err error)

	// Store, if set, keeps the buckets outside the process (for example in
	// Redis, see package llredis), so that every instance of the application
	// shares them. Its buckets are named by Policy: give each limit on one
	// Store its own Policy. MaxKeys and SweepInterval do not apply (the
	// store expires buckets itself). Default: nil, buckets in the process.
	Store Store

	// Limiter, if set, is used instead of a store of the middleware's own,
	// so that several routes, or a route and a WebSocket transport, draw on
	// the same buckets. The caller owns it and closes it. When Limiter is set,
	// Limit, Period, Burst, MaxKeys, SweepInterval and Store must be zero.
	// Default: nil, each New has its own store.
	Limiter *Limiter

	// Now returns the current time. Default: time.Now.
	Now func() time.Time
}

// DefaultConfig returns a Config with every default filled in except
// KeyFunc, which the caller must choose.
func DefaultConfig() Config {
	return Config{
		Limit:         DefaultLimit,
		Period:        DefaultPeriod,
		Burst:         DefaultLimit,
		MaxKeys:       DefaultMaxKeys,
		SweepInterval: DefaultSweepInterval,
		Policy:        DefaultPolicy,
		Headers:       HeadersIETF,
		Now:           time.Now,
	}
}

// Validate reports whether c can build a middleware with [New]: KeyFunc is
// set, no field is negative, Policy is printable ASCII, Headers is a known
// mode, and a shared Limiter is not combined with limiter fields. Errors wrap
// [ErrNoKeyFunc] or [ErrInvalidConfig].
func (c Config) Validate() error {
	if c.KeyFunc == nil {
		return ErrNoKeyFunc
	}
	if c.Limiter != nil {
		if c.Limit != 0 || c.Period != 0 || c.Burst != 0 || c.MaxKeys != 0 || c.SweepInterval != 0 || c.Store != nil {
			return fmt.Errorf("%w: Limit, Period, Burst, MaxKeys, SweepInterval and Store must be zero when Limiter is set", ErrInvalidConfig)
		}
	} else if err := c.validateLimiter(); err != nil {
		return err
	}
	for i := 0; i < len(c.Policy); i++ {
		if b := c.Policy[i]; b < 0x20 || b > 0x7e {
			return fmt.Errorf("%w: Policy %q is not printable ASCII", ErrInvalidConfig, c.Policy)
		}
	}
	if c.Headers < HeadersIETF || c.Headers > HeadersNone {
		return fmt.Errorf("%w: unknown Headers mode %d", ErrInvalidConfig, int(c.Headers))
	}
	return nil
}

// validateLimiter checks the fields NewLimiter reads.
func (c Config) validateLimiter() error {
	switch {
	case c.Limit < 0:
		return fmt.Errorf("%w: Limit is %d, want >= 0", ErrInvalidConfig, c.Limit)
	case c.Period < 0:
		return fmt.Errorf("%w: Period is %v, want >= 0", ErrInvalidConfig, c.Period)
	case c.Burst < 0:
		return fmt.Errorf("%w: Burst is %d, want >= 0", ErrInvalidConfig, c.Burst)
	case c.MaxKeys < 0:
		return fmt.Errorf("%w: MaxKeys is %d, want >= 0", ErrInvalidConfig, c.MaxKeys)
	case c.SweepInterval < 0:
		return fmt.Errorf("%w: SweepInterval is %v, want >= 0", ErrInvalidConfig, c.SweepInterval)
	}
	return nil
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Limit == 0 {
		c.Limit = DefaultLimit
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	if c.Burst == 0 {
		c.Burst = c.Limit
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.Policy == "" {
		c.Policy = DefaultPolicy
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
