package ratelimit

import "errors"

var (
	// ErrNoKeyFunc is returned by [Config.Validate] when KeyFunc is nil.
	ErrNoKeyFunc = errors.New("ratelimit: Config.KeyFunc is required")

	// ErrInvalidConfig is wrapped by every other [Config.Validate] error and
	// by the panic of [ClientAddr] on a malformed trusted proxy.
	ErrInvalidConfig = errors.New("ratelimit: invalid config")

	// ErrEmptyKey is passed to OnError when KeyFunc returns "" and no error.
	// An empty key would put every such client in one bucket.
	ErrEmptyKey = errors.New("ratelimit: empty client key")

	// ErrNoClientAddr is returned by the [ClientAddr] key function when the
	// request's RemoteAddr is not an IP address (for example on a Unix socket
	// listener), so the client cannot be told apart from others.
	ErrNoClientAddr = errors.New("ratelimit: request has no client IP address")

	// ErrUnavailable is wrapped by every error of [Limiter.AllowContext]: the
	// [Store] holding the buckets failed or did not answer in time, so the
	// request can be neither allowed nor refused. The middleware answers
	// 503 with Retry-After ([UnavailableRetryAfter]).
	ErrUnavailable = errors.New("ratelimit: bucket store unavailable")
)
