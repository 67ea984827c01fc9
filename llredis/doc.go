// Package llredis scales Lifeline out over Redis: any number of app
// instances share one event buffer, one set of sessions, presence, rate
// limits and negotiate's failure memory, so that any request of any client
// may land on any instance — no sticky sessions.
//
// It takes the application's own go-redis v9 client (redis.UniversalClient),
// so standalone Redis, Sentinel, Valkey and managed Redis all work. Apps that
// never scale out never import this package and never compile go-redis.
//
// Every key lives under one configurable prefix, inside one Redis Cluster
// hash tag ("{prefix}:..."): the buffer's global sequence must be read and
// advanced atomically with the topic it orders, so all keys share one slot.
// Scripts therefore stay legal on Redis Cluster, though Lifeline's data lives
// on one shard of it.
package llredis
