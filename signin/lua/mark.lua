-- Record a sign-in in Redis (KEYS share the user's hash tag: one slot).
-- KEYS[1] = signin:{uid}:YYYYMM  bitmap, bit (day - 1) set on a signed day
-- KEYS[2] = signin:{uid}:state   hash {last, streak, total}
-- ARGV[1] = bit offset (day - 1), ARGV[2] = bitmap ttl seconds,
-- ARGV[3] = date (ISO), ARGV[4] = streak, ARGV[5] = total days, ARGV[6] = state ttl seconds
-- Bits are only ever set, never cleared: a concurrent month fill can never remove this day.
-- The state is written only when it is not older than the cached one (ISO dates compare as
-- strings), so refreshes that arrive out of order never put an older streak back.
redis.call('SETBIT', KEYS[1], tonumber(ARGV[1]), 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
local last = redis.call('HGET', KEYS[2], 'last')
if (not last) or last <= ARGV[3] then
  redis.call('HSET', KEYS[2], 'last', ARGV[3], 'streak', ARGV[4], 'total', ARGV[5])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
  return 1
end
return 0
