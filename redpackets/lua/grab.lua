-- One grab, atomically: known? throttled? started? already grabbed? ended? then pop a share,
-- record the user and append the event to the packet's queue (the reliable queue).
-- Every key shares the campaign's hash tag {<id>}, so this runs on one Redis Cluster slot.
-- KEYS[1] meta hash (starts_ms, ends_ms, left_cents, closed)   KEYS[2] amounts list
-- KEYS[3] grabbed hash (user id -> amount)                      KEYS[4] queue list
-- KEYS[5] this user's attempt counter (rate limit)
-- ARGV: user_id, now_ms, campaign_id, rate_limit (0 = off), rate_window_ms
-- Returns {code, value, kick}: 0 ok (value = amount, kick = 1 when the queue went from empty
-- to non-empty), 1 unknown, 2 not started (value = starts_ms), 3 ended, 4 already grabbed
-- (value = the earlier amount), 5 sold out, 6 throttled (value = ms until the window resets).
local meta = redis.call('HMGET', KEYS[1], 'starts_ms', 'ends_ms', 'closed')
if not meta[1] then return {1, 0, 0} end
local limit = tonumber(ARGV[4])
if limit > 0 then
  local n = redis.call('INCR', KEYS[5])
  if n == 1 then redis.call('PEXPIRE', KEYS[5], ARGV[5]) end
  if n > limit then return {6, redis.call('PTTL', KEYS[5]), 0} end
end
local now = tonumber(ARGV[2])
if now < tonumber(meta[1]) then return {2, tonumber(meta[1]), 0} end
local prev = redis.call('HGET', KEYS[3], ARGV[1])
if prev then return {4, tonumber(prev), 0} end
if meta[3] == '1' or now >= tonumber(meta[2]) then return {3, 0, 0} end
local amount = redis.call('LPOP', KEYS[2])
if not amount then return {5, 0, 0} end
redis.call('HSET', KEYS[3], ARGV[1], amount)
redis.call('HINCRBY', KEYS[1], 'left_cents', -tonumber(amount))
-- Built by hand: every part is an integer the caller validated, and cjson would print large
-- numbers in exponent form.
local event = '{"amount":' .. amount .. ',"at":' .. ARGV[2] .. ',"packet":' .. ARGV[3] .. ',"user":' .. ARGV[1] .. '}'
local depth = redis.call('RPUSH', KEYS[4], event)
if depth == 1 then return {0, tonumber(amount), 1} end
return {0, tonumber(amount), 0}
