-- Remember the newest primary WAL position written on behalf of one user (KEYS[1] =
-- rw:{<uid>}:lsn). ARGV[1] = the position as 16 hex digits (fixed width: string order is
-- numeric order), ARGV[2] = ttl seconds. Two drains committing out of order never lower it.
local current = redis.call('GET', KEYS[1])
if not current or current < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 1
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 0
