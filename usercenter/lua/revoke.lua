-- Publish token revocations: KEYS[1] the revoked set (score = when the token expires anyway),
-- KEYS[2] its version. ARGV[1] = now (epoch seconds), then (expires, hash) pairs.
-- Without a version key Redis lost the set: add nothing; the next sync rewrites it whole.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('INCR', KEYS[2])
