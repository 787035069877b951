-- Stop grabs for good and report what is left. After this no share can be popped, so the
-- remainder it returns is final (and re-running it returns the same numbers).
-- KEYS[1] meta   KEYS[2] amounts   KEYS[3] grabbed
-- Returns {loaded (0|1), shares left, cents left, grabs}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, 0} end
redis.call('HSET', KEYS[1], 'closed', '1')
local left = redis.call('LRANGE', KEYS[2], 0, -1)
local sum = 0
for i = 1, #left do sum = sum + tonumber(left[i]) end
return {1, #left, sum, redis.call('HLEN', KEYS[3]) - 1}
