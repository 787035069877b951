-- Fill the user's sign-in state from the database (KEYS[1] = signin:{uid}:state, KEYS[2] =
-- rw:{uid}:lsn). ARGV[1] = last date ('' = never signed in), ARGV[2] = streak, ARGV[3] = total,
-- ARGV[4] = ttl, ARGV[5] = the worker write position seen before the read ('' for none).
-- Written only when nothing newer is cached: a sign-in that landed after our database read
-- keeps its fresher state; and only if no worker write (a repair) was recorded since the read.
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[5] then
  return 0
end
local last = redis.call('HGET', KEYS[1], 'last')
if last and last > ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'last', ARGV[1], 'streak', ARGV[2], 'total', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
