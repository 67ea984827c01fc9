// Package llredis scales Lifeline out over Redis: any number of app
// instances share one event buffer, one set of sessions, presence, rate
// limits and negotiate's failure memory, so that any request of any client
// may land on any instance — no sticky sessions.
//
// It takes the application's own go-redis v9 client (redis.UniversalClient),
// so standalone Redis, Sentinel, Valkey and managed Redis all work. Apps that
// never scale out never import this package and never compile go-redis.
//
// Use it by setting longpoll.Config.Backend on every instance, each with a
// go-redis client of the same Redis (ContextTimeoutEnabled set) and the same
// Config.Prefix:
//
//	backend, err := llredis.New(rdb, llredis.Config{})
//	lp := longpoll.New(longpoll.Config{Backend: backend})
//
// Each append is one Lua script that numbers the event in one global
// sequence, stores and trims it, records its idempotency key and publishes
// a notice carrying it. Every instance holds one Pub/Sub connection; the
// notices arrive in sequence order, so each instance mirrors the newest
// events and answers reads from memory, and notices a lost notice as a gap.
// What the mirror is not sure of is read from Redis by one atomic script.
// Concurrent appends of an instance travel in one pipeline. When Redis
// cannot be reached, calls fail with longpoll.ErrUnavailable (503 with
// Retry-After) within Config.OpTimeout, and the Backend resumes by itself.
//
// Every key lives under one configurable prefix, inside one Redis Cluster
// hash tag ("{prefix}:..."): the buffer's global sequence must be read and
// advanced atomically with the topic it orders, so all keys share one slot.
// Scripts therefore stay legal on Redis Cluster, though Lifeline's data lives
// on one shard of it.
package llredis
