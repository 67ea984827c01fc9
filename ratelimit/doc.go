// Package ratelimit limits each client of a Gin application to a token
// bucket, tells clients where they stand with the IETF RateLimit header
// fields, and offers the same limiter to transports that count messages
// rather than requests.
//
// # Using it
//
//	r.Use(ratelimit.New(ratelimit.Config{
//		Limit:   100,
//		Period:  time.Minute,
//		KeyFunc: ratelimit.ClientAddr(), // or ClientAddr("10.0.0.0/8") behind a proxy
//	}))
//
// Each client has a bucket of Burst tokens (default: Limit) that refills at
// Limit/Period tokens per second, built on golang.org/x/time/rate. A request
// takes one token; a request that finds none is refused and takes nothing.
// Each middleware from [New] has its own store, so per-route limits are
// separate New calls; routes, or a route and a WebSocket transport, share
// buckets through [Config.Limiter].
//
// # Defaults
//
//	Limit          100                 requests per Period
//	Period         1 minute
//	Burst          Limit               requests at once
//	MaxKeys        100 000             clients tracked at once
//	SweepInterval  1 minute            between sweeps of full buckets
//	Policy         "default"           name in the RateLimit fields
//	Headers        HeadersIETF
//	OnLimited      WriteLimited        429 problem document
//	OnError        500 problem         fail closed (503 for a Store error)
//	Store          none                buckets in the process
//	Now            time.Now
//	KeyFunc        none: required
//
// # Response fields
//
// Every response that passes the middleware carries, in the syntax of
// draft-ietf-httpapi-ratelimit-headers (RFC 9651 structured fields):
//
//	RateLimit-Policy: "default";q=100;w=60
//	RateLimit: "default";r=42;t=1
//
// q is the bucket's capacity (Burst) and w the seconds an empty bucket takes
// to refill, rounded up: with Burst equal to Limit, that is Limit per
// Period. r is the whole tokens left. t is the draft's effective window:
// the seconds, rounded up, until the bucket gains its next token, within
// which the client can make at most r requests. On a refused request t
// equals Retry-After, as the draft asks (Retry-After must not point earlier
// than the end of the window).
//
// A refused request also gets Retry-After in whole seconds, rounded up (0.2 s
// is 1, 1.0 s is 1, 1.01 s is 2), and by default a 429 RFC 9457 problem
// document, the shape every Lifeline error has:
//
//	Content-Type: application/problem+json
//
//	{"status":429,"title":"Too Many Requests","code":"rate_limited",
//	 "detail":"too many requests from this client; retry after 2 seconds"}
//
// [HeadersLegacy] sends X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset (the Unix second at which the bucket is full again)
// instead, and [HeadersBoth] sends both sets. Header values are cached per
// middleware, so a passing request costs no allocation. Scripts on other
// origins see these fields only if CORS exposes them:
// cors.Config{ExposeHeaders: ratelimit.ExposedHeaders(ratelimit.HeadersIETF)}.
//
// # Client keys and proxies
//
// A key must be something a client cannot choose. [ClientAddr] keys by the
// TCP peer's address (Request.RemoteAddr), which a client cannot forge, with
// IPv4 addresses taken whole and IPv6 addresses grouped by /64 (a subscriber
// usually holds a whole /64, so per-address keys would give one client 2^64
// buckets). IPv4-mapped IPv6 addresses count as IPv4.
//
// Behind reverse proxies, every request comes from a proxy, so list them:
// ClientAddr("10.0.0.0/8"). Then, for requests from a listed proxy only,
// the key is the right-most X-Forwarded-For hop that is not a listed proxy.
// Each proxy appends the address it received the request from, so that hop
// was written by a proxy you trust; everything to its left was sent by the
// client and is ignored. A request straight from a client keeps its own
// address whatever X-Forwarded-For it sends, so a spoofed header creates no
// bucket.
//
// This package deliberately does not use gin's Context.ClientIP. gin.New and
// gin.Default trust every proxy (0.0.0.0/0 and ::/0) and read
// X-Forwarded-For and X-Real-IP, so ClientIP returns whatever the client
// wrote in those headers; gin also trusts them unconditionally on a Unix
// socket listener. A limiter keyed on it gives an attacker a fresh bucket
// per request and fills the store. If other code of yours uses ClientIP,
// call engine.SetTrustedProxies(nil) to make it return the peer, or
// SetTrustedProxies with your proxies' CIDRs.
//
// [HeaderOr] and [ContextOr] key by a session instead, when the request has
// one, and by address otherwise. The session value must be one the server
// has checked (Lifeline passes its session id after validating the token):
// an unchecked header lets a client pick a new key for every request.
// KeyFunc is required for this reason: no default is right for every
// deployment, and a wrong one fails silently.
//
// # Memory and eviction
//
// Buckets live in github.com/patrickmn/go-cache stores, one for each of 128
// shards chosen by a hash of the key, so that requests for different clients
// seldom share a lock. go-cache's own janitor is off (its goroutine stops only
// through a finalizer) and items have no expiry:
// a bucket leaves only when it has refilled completely, since a full bucket
// is exactly what a new one would be, so eviction never forgives a client's
// debt. At most MaxKeys buckets exist. When the store is full, a request
// from a client without a bucket first makes the store sweep full buckets
// (at most once a second); if none can go, that request is refused with
// [Decision.StoreFull] set and Retry-After 1, and clients that have buckets
// carry on unaffected. A bucket is created once per key, even under
// concurrent first requests, and a key longer than [MaxKeyLen] is stored as
// its SHA-256 digest.
//
// One client costs 160 to 200 bytes of heap (IPv4 or IPv6 /64 keys; the
// spread is the map's load factor; see TestMemoryPerKey and
// BenchmarkMemoryPerKey), so the default cap bounds the store near 20 MB. A
// sweep goes shard by shard, copying one shard's map at a time (go-cache
// iterates only by copying) and delaying only requests on that shard.
//
// The middleware's own store starts no goroutine: it sweeps on the request
// that creates a bucket once SweepInterval has passed, and needs no Close.
// A [Limiter] from [NewLimiter] sweeps in a goroutine it owns; call
// [Limiter.Close] to stop it.
//
// # Buckets shared by instances
//
// [Config.Store] keeps the buckets outside the process, so that every
// instance of an application draws on one budget per client (package
// llredis has a Redis store). A [Store] is one call per request that takes
// a context and may fail: [Limiter.AllowContext] reports its failure as
// [ErrUnavailable], and the middleware answers it with 503, Retry-After
// ([UnavailableRetryAfter]) and a problem with code "unavailable", unless
// OnError chooses otherwise. A store reports its outcome through
// [Bucket.Decision], so the fields and bodies are those of the in-memory
// buckets.
//
// # Beyond HTTP requests
//
// [Limiter.Allow] takes the key and the time, allocates nothing for a known
// key, and needs no Gin, so a WebSocket transport can count each frame of a
// session and a long-poll transport can count messages per session rather
// than polls. An EventSource gives up for good on a non-200 response, so a
// Server-Sent Events stream should slow down rather than answer 429.
// Headers set before a WebSocket upgrade are lost when the upgrader writes
// its own response; a 429 on the upgrade request is sent as usual.
package ratelimit
