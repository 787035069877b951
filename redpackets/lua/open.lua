-- Load a campaign (or refresh the window of a loaded one). Atomic, so two concurrent opens
-- can never load the shares twice.
-- KEYS[1] meta   KEYS[2] amounts   KEYS[3] grabbed
-- ARGV: starts_ms, ends_ms, expire_at (unix s), total, count, n_shares, shares..., then pairs
--       user_id, amount of grabs already persisted (a reload after Redis lost the campaign).
-- Returns {loaded_now (0|1), shares left}.
local loaded = redis.call('EXISTS', KEYS[1]) == 1
redis.call('HSET', KEYS[1], 'starts_ms', ARGV[1], 'ends_ms', ARGV[2], 'total', ARGV[4], 'count', ARGV[5])
if not loaded then
  local n = tonumber(ARGV[6])
  local left = 0
  redis.call('DEL', KEYS[2], KEYS[3])
  -- Chunks: Lua's unpack has a small stack limit.
  local i = 7
  local last = 6 + n
  while i <= last do
    local j = math.min(i + 999, last)
    redis.call('RPUSH', KEYS[2], unpack(ARGV, i, j))
    i = j + 1
  end
  for k = 7, last do left = left + tonumber(ARGV[k]) end
  redis.call('HSET', KEYS[3], '_', '0')
  local p = last + 1
  while p < #ARGV do
    redis.call('HSET', KEYS[3], ARGV[p], ARGV[p + 1])
    p = p + 2
  end
  redis.call('HSET', KEYS[1], 'left_cents', left, 'closed', '0')
end
for k = 1, 3 do redis.call('EXPIREAT', KEYS[k], ARGV[3]) end
if loaded then return {0, redis.call('LLEN', KEYS[2])} end
return {1, redis.call('LLEN', KEYS[2])}
