package ratelimit

import (
	"context"
	"math"
	"time"
)

// UnavailableRetryAfter is the Retry-After of a request refused because a
// [Store] failed: long enough not to hammer a store that is restarting,
// short enough that clients resume soon after it is back.
const UnavailableRetryAfter = 2 * time.Second

// A Store keeps token buckets outside the Limiter, typically in Redis, so
// that every instance of an application draws on the same buckets: adding
// instances then does not multiply a client's budget. Set it in
// [Config.Store]; nil keeps the buckets in the process (the default).
//
// Take takes one token from the bucket that key names in the family b,
// creating a full bucket for a new key, and reports the outcome with the
// same meaning as [Limiter.Allow]'s (a refused request takes nothing). Take
// must return within a short time, whatever state its backend is in, and
// report every failure as an error, which the Limiter passes on wrapped in
// [ErrUnavailable]. A store that keeps its own clock may ignore now.
type Store interface {
	Take(ctx context.Context, b Bucket, key string, now time.Time) (Decision, error)
}

// A Bucket names a family of token buckets and their rate, as a [Store]
// sees it: each key of the family has a bucket of Burst tokens that refills
// at Limit per Period. Families of different names are separate, so two
// limits on one Store must have different names (Config.Policy); one name
// used with two rates mixes them.
type Bucket struct {
	Name   string
	Limit  int
	Period time.Duration
	Burst  int
}

// Interval returns the time the bucket takes to gain one token.
func (b Bucket) Interval() time.Duration {
	return time.Duration(float64(b.Period) / float64(b.Limit))
}

// Decision returns the outcome of a request on a bucket of family b that
// needs debt to be full again (after taking this request's token, if it was
// allowed). A Store that tracks that time, as a GCRA store does, reports its
// outcome through it exactly as the in-memory Limiter does: the same
// Remaining, ResetAfter, Window and RetryAfter.
func (b Bucket) Decision(allowed bool, debt time.Duration) Decision {
	debt = max(debt, 0)
	interval := float64(b.Period) / float64(b.Limit)
	tokens := float64(b.Burst) - float64(debt)/interval
	remaining := 0.0
	if tokens > 0 {
		remaining = math.Floor(tokens)
	}
	toDuration := func(t float64) time.Duration {
		if t <= 0 {
			return 0
		}
		return time.Duration(t * interval)
	}
	d := Decision{
		Allowed:    allowed,
		Limit:      b.Burst,
		Remaining:  int(remaining),
		ResetAfter: debt,
		Window:     toDuration(remaining + 1 - tokens),
	}
	if !allowed {
		d.RetryAfter = max(toDuration(1-tokens), 1)
		d.Window = d.RetryAfter
	}
	return d
}
