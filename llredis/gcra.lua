-- One request on a GCRA bucket (token bucket semantics), atomically.
-- KEYS[1]  the bucket: its theoretical arrival time (TAT), integer
--          microseconds of the Redis clock; absent means full
-- ARGV[1]  emission interval T: microseconds per token, integer >= 1
-- ARGV[2]  burst B: the bucket's capacity in tokens
-- Returns {allowed (1 or 0), debt}: the microseconds until the bucket is
-- full again, after this request's token if it was allowed.
--
-- The clock is Redis's own, so that every instance sees one time. Numbers
-- are doubles, exact for integers below 2^53 (microseconds until 2255);
-- the TAT is written with %d because tostring keeps 14 digits only.
local t = tonumber(ARGV[1])
local capacity = t * tonumber(ARGV[2])
local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then
	tat = now
end
local next_tat = tat + t
if next_tat - now > capacity then
	return {0, tat - now}
end
-- The key lives as long as the debt: a bucket that has refilled is gone,
-- exactly as a full bucket would be.
redis.call("SET", KEYS[1], string.format("%d", next_tat), "PX", math.ceil((next_tat - now) / 1000))
return {1, next_tat - now}
