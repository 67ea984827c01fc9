package llredis

import "github.com/redis/go-redis/v9"

// The session store's scripts. Sessions are kept by a digest of their
// token, never the token itself, so that a copy of Redis's data gives no
// one a session:
//
//	{p}:s:<digest>   hash: id, topics (JSON), meta, created (ms), addr, gen
//	{p}:sx           sorted set: digest → deadline (ms), for expiry
//	{p}:sa           hash: address key → live sessions

// createScript stores a new session within the limits.
//
// KEYS: sx, sa, the session's hash. ARGV: digest, deadline, max, per-address
// max (0: none), addr, id, topics, meta, created.
// Reply: 1 created, 0 over a limit.
var createScript = redis.NewScript(`
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
local addr = ARGV[5]
if addr ~= '' and tonumber(ARGV[4]) > 0 then
  if tonumber(redis.call('HGET', KEYS[2], addr) or '0') >= tonumber(ARGV[4]) then return 0 end
  redis.call('HINCRBY', KEYS[2], addr, 1)
end
redis.call('HSET', KEYS[3], 'id', ARGV[6], 'topics', ARGV[7], 'meta', ARGV[8], 'created', ARGV[9], 'addr', addr, 'gen', 0)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
`)

// touchScript keeps a live session alive and, when asked, returns it.
//
// KEYS: sx, the session's hash. ARGV: digest, now, deadline, want (1: return
// the session). Reply: nil when there is no live session; 1; or
// {id, topics, meta, created, addr}.
var touchScript = redis.NewScript(`
local d = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not d or tonumber(d) < tonumber(ARGV[2]) then return false end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
if ARGV[4] == '1' then
  return redis.call('HMGET', KEYS[2], 'id', 'topics', 'meta', 'created', 'addr')
end
return 1
`)

// endScript ends a session — unconditionally, or only when its deadline
// is before a time (expiry) — and announces it. Of racing calls, one ends it.
//
// KEYS: sx, sa, the session's hash. ARGV: digest, channel, before ("inf":
// unconditionally). Reply: nil when not ended by this call, else
// {id, topics, meta, created, addr}.
var endScript = redis.NewScript(`
local d = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not d then return false end
if ARGV[3] ~= 'inf' and tonumber(d) >= tonumber(ARGV[3]) then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
local r = redis.call('HMGET', KEYS[3], 'id', 'topics', 'meta', 'created', 'addr')
redis.call('DEL', KEYS[3])
if r[5] and r[5] ~= '' and redis.call('HEXISTS', KEYS[2], r[5]) == 1 then
  if redis.call('HINCRBY', KEYS[2], r[5], -1) <= 0 then redis.call('HDEL', KEYS[2], r[5]) end
end
if r[1] then redis.call('PUBLISH', ARGV[2], 'x ' .. r[1]) end
return r
`)

// attachScript gives a session's new receiver the next generation and
// announces it, so that older receivers on every instance end.
//
// KEYS: sx, the session's hash. ARGV: digest, now, channel, client id.
// Reply: nil when there is no live session, else the generation.
var attachScript = redis.NewScript(`
local d = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not d or tonumber(d) < tonumber(ARGV[2]) then return false end
local gen = redis.call('HINCRBY', KEYS[2], 'gen', 1)
redis.call('PUBLISH', ARGV[3], 'r ' .. string.format('%d', gen) .. ' ' .. ARGV[4])
return gen
`)
