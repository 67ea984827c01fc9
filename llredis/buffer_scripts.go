package llredis

import "github.com/redis/go-redis/v9"

// The buffer's scripts. Each runs atomically in Redis, which is what makes
// the global sequence safe: an append takes its number and stores its
// event in one step, so a read that sees the sequence at n sees every
// event up to n.
//
// Storage, all under one hash tag and the epoch (so that a new epoch never
// reads an old one's data):
//
//	{p}:meta                 hash: epoch, seq (last number given), dropped
//	                         (highest durable number lost with a dropped topic),
//	                         events and bytes (what the topics hold, for gauges),
//	                         pos:<stream> (an external stream's position, see
//	                         longpoll.PositionedBuffer)
//	{p}:<epoch>:topics       hash: topic → its loss mark (highest durable
//	                         number that left it; n - 0.5 when event n left
//	                         for its age, so that a read can say why)
//	{p}:<epoch>:t:<topic>    sorted set: member "<seq>:<ms>:<ttlms>:<payload>",
//	                         score seq
//	{p}:<epoch>:k:<key>      string: the number of a keyed append, expiring
//	                         after the de-duplication window
//
// Replies start with a status: 1 done, 0 the epoch changed (the reply's
// second element is the current epoch; retry with its keys).

// luaEpoch checks the caller's epoch, creating the meta hash with a fresh
// candidate epoch when Redis has none (it started empty or lost its data).
const luaEpoch = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0, 'dropped', 0)
end
if epoch ~= ARGV[1] then
  return {0, epoch}
end
`

// luaTrim removes a topic's events beyond max and older than cutoff, and
// returns the highest durable number removed (0 for none), less 0.5 when
// that event left for its age: every comparison of a mark with a whole
// cursor is unchanged, and a read can tell expired from evicted. Ephemeral
// events (ttl > 0) leave without a trace: losing one is never a reset.
const luaTrim = `
local function trim(key, max, cutoff, meta)
  local top, gone, goneBytes = 0, 0, 0
  local function note(m, aged)
    local s, _, ttl = string.match(m, '^(%d+):(%d+):(%d+):')
    if ttl == '0' then top = math.max(top, tonumber(s) - aged) end
    gone, goneBytes = gone + 1, goneBytes + #m
  end
  local function account()
    -- The buffer's size, for its gauges: what left, by count and bytes.
    if gone > 0 then
      redis.call('HINCRBY', meta, 'events', -gone)
      redis.call('HINCRBY', meta, 'bytes', -goneBytes)
    end
    return top
  end
  local n = redis.call('ZCARD', key)
  if n > max then
    for _, m in ipairs(redis.call('ZRANGE', key, 0, n - max - 1)) do note(m, 0) end
    redis.call('ZREMRANGEBYRANK', key, 0, n - max - 1)
  end
  -- Most appends find the oldest event young: look at it alone before
  -- taking the oldest 64, which would copy them into Lua on every append.
  local first = redis.call('ZRANGE', key, 0, 0)[1]
  if not first then return account() end
  local _, firstMs = string.match(first, '^(%d+):(%d+):')
  if tonumber(firstMs) >= cutoff then return account() end
  while true do
    local oldest = redis.call('ZRANGE', key, 0, 63)
    local removed = 0
    for _, m in ipairs(oldest) do
      local _, ms = string.match(m, '^(%d+):(%d+):')
      if tonumber(ms) >= cutoff then break end
      note(m, 0.5)
      removed = removed + 1
    end
    if removed > 0 then redis.call('ZREMRANGEBYRANK', key, 0, removed - 1) end
    if removed < 64 then break end
  end
  return account()
end
`

// appendScript appends one event.
//
// KEYS: meta, topics, the topic's set, the key's string.
// ARGV: epoch, candidate epoch, topic, now ms, ttl ms, payload, max events,
// cutoff ms, max topics, dedup window ms (0: no key), channel, the meta
// field of an external stream's position (empty for none) and the position.
// Reply: {1, seq} appended; {2, seq} a duplicate of seq; {3} too many
// topics; {4} the stream has reached the position already; {0, epoch}.
// The position lives in the epoch's meta hash, so that it is written in
// the same script as the event and forgotten with the epoch's events.
var appendScript = redis.NewScript(luaEpoch + luaTrim + `
local window = tonumber(ARGV[10])
if window > 0 then
  local prior = redis.call('GET', KEYS[4])
  if prior then return {2, tonumber(prior)} end
end
local posField = ARGV[12]
if posField ~= '' then
  local reached = redis.call('HGET', KEYS[1], posField)
  if reached and reached >= ARGV[13] then return {4} end
end
local topic = ARGV[3]
local lost = redis.call('HGET', KEYS[2], topic)
if not lost then
  if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[9]) then return {3} end
  -- A topic made anew inherits the loss mark of dropped topics, so that a
  -- cursor from before the drop is reset rather than silently skipped.
  lost = redis.call('HGET', KEYS[1], 'dropped')
  redis.call('HSET', KEYS[2], topic, lost)
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local id = string.format('%d', seq) -- never exponent notation
local member = id .. ':' .. ARGV[4] .. ':' .. ARGV[5] .. ':' .. ARGV[6]
redis.call('ZADD', KEYS[3], seq, member)
redis.call('HINCRBY', KEYS[1], 'events', 1)
redis.call('HINCRBY', KEYS[1], 'bytes', #member)
local removed = trim(KEYS[3], tonumber(ARGV[7]), tonumber(ARGV[8]), KEYS[1])
if removed > tonumber(lost) then redis.call('HSET', KEYS[2], topic, removed) end
if window > 0 then redis.call('SET', KEYS[4], id, 'PX', window) end
if posField ~= '' then redis.call('HSET', KEYS[1], posField, ARGV[13]) end
-- The notice carries the event: every instance's mirror applies it.
redis.call('PUBLISH', ARGV[11], 'e ' .. epoch .. ' ' .. member)
return {1, seq}
`)

// readScript reads the events of some topics after a cursor.
//
// KEYS: meta, topics, then one set per topic.
// ARGV: epoch, candidate epoch, after, max per topic, cutoff ms, then the
// topic names in the order of their keys.
// Reply: {1, head, reset, members...}; {0, epoch}. reset is 0 for none,
// else why: 1 evicted, 2 expired, 3 a cursor beyond the head (resetCause).
var readScript = redis.NewScript(luaEpoch + `
local head = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local after = tonumber(ARGV[3])
if after > head then return {1, head, 3} end
local function lostFor(mark)
  if mark % 1 == 0 then return {1, head, 1} end
  return {1, head, 2}
end
local dropped = tonumber(redis.call('HGET', KEYS[1], 'dropped'))
local max = tonumber(ARGV[4])
local cutoff = tonumber(ARGV[5])
local out = {1, head, 0}
for i = 3, #KEYS do
  local lost = redis.call('HGET', KEYS[2], ARGV[3 + i])
  if not lost then
    if after < dropped then return lostFor(dropped) end
  elseif tonumber(lost) > after then
    return lostFor(tonumber(lost))
  else
    for _, m in ipairs(redis.call('ZRANGE', KEYS[i], '(' .. ARGV[3], '+inf', 'BYSCORE', 'LIMIT', 0, max)) do
      local _, ms, ttl = string.match(m, '^(%d+):(%d+):(%d+):')
      if ttl == '0' and tonumber(ms) < cutoff then return {1, head, 2} end
      out[#out + 1] = m
    end
  end
end
return out
`)

// headScript returns the newest number.
//
// KEYS: meta. ARGV: epoch, candidate epoch. Reply: {1, head}; {0, epoch}.
var headScript = redis.NewScript(luaEpoch + `
return {1, tonumber(redis.call('HGET', KEYS[1], 'seq'))}
`)

// sweepScript trims one topic and drops it when nothing is left in it,
// folding its loss mark into the meta hash's dropped mark.
//
// KEYS: meta, topics, the topic's set. ARGV: epoch, candidate epoch, topic,
// max events, cutoff ms. Reply: {1, dropped (0/1)}; {0, epoch}.
var sweepScript = redis.NewScript(luaEpoch + luaTrim + `
local lost = redis.call('HGET', KEYS[2], ARGV[3])
if not lost then return {1, 0} end
lost = math.max(tonumber(lost), trim(KEYS[3], tonumber(ARGV[4]), tonumber(ARGV[5]), KEYS[1]))
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[3], lost)
  return {1, 0}
end
redis.call('HDEL', KEYS[2], ARGV[3])
if lost > tonumber(redis.call('HGET', KEYS[1], 'dropped')) then
  redis.call('HSET', KEYS[1], 'dropped', lost)
end
return {1, 1}
`)

// historyScript returns a topic's most recent live events, newest first.
//
// KEYS: meta, topics, the topic's set. ARGV: epoch, candidate epoch,
// limit, now ms, cutoff ms. Reply: {1, head, lost, members...}; {0, epoch}.
// lost is the topic's loss mark (the dropped mark for a topic not held),
// raised when an event it passes over expired by age.
var historyScript = redis.NewScript(luaEpoch + `
local head = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local lost = redis.call('HGET', KEYS[2], ARGV[3])
if not lost then
  return {1, head, math.ceil(tonumber(redis.call('HGET', KEYS[1], 'dropped')))}
end
lost = tonumber(lost)
local limit, now, cutoff = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {1, head, 0}
local offset = 0
while #out - 3 < limit do
  local page = redis.call('ZRANGE', KEYS[3], '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', offset, 64)
  for _, m in ipairs(page) do
    local s, ms, ttl = string.match(m, '^(%d+):(%d+):(%d+):')
    ms, ttl = tonumber(ms), tonumber(ttl)
    if ms < cutoff then
      if ttl == 0 then lost = math.max(lost, tonumber(s)) end
      out[3] = math.ceil(lost) -- marks may be fractional (lost to age)
      return out
    end
    if ttl == 0 or ms + ttl > now then
      out[#out + 1] = m
      if #out - 3 == limit then break end
    end
  end
  if #page < 64 then break end
  offset = offset + 64
end
out[3] = math.ceil(lost)
return out
`)
