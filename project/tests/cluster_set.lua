-- Test script: set KEYS[1] to ARGV[1] and return it (one key, so one slot).
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
