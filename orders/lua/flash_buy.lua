-- One flash-sale purchase, atomically: window, per-user limit, stock, then decrement and enqueue.
-- Every key shares the product's hash tag {p<id>}, so this runs on one Redis Cluster slot.
-- KEYS[1] meta hash (starts_ms, ends_ms, limit, gen)   KEYS[2] stock (integer)
-- KEYS[3] bought hash (user id -> units)               KEYS[4] queue list (the reliable queue)
-- KEYS[5] status hash (token -> "p:<uid>" pending, later "c:<uid>:<order id>" / "r:<uid>")
-- ARGV: user_id, quantity, now_ms, token, product_id
-- Returns {code, value}: 0 ok (value = queue length), 1 not loaded, 2 not started (value = starts_ms),
-- 3 ended, 4 limit reached (value = units already bought), 5 sold out.
local meta = redis.call('HMGET', KEYS[1], 'starts_ms', 'ends_ms', 'limit')
if not meta[1] then return {1, 0} end
local now = tonumber(ARGV[3])
if now < tonumber(meta[1]) then return {2, tonumber(meta[1])} end
if now >= tonumber(meta[2]) then return {3, 0} end
local qty = tonumber(ARGV[2])
local bought = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if bought + qty > tonumber(meta[3]) then return {4, bought} end
local stock = tonumber(redis.call('GET', KEYS[2]) or '0')
if stock < qty then return {5, stock} end
redis.call('DECRBY', KEYS[2], qty)
redis.call('HINCRBY', KEYS[3], ARGV[1], qty)
redis.call('HSET', KEYS[5], ARGV[4], 'p:' .. ARGV[1])
local event = cjson.encode({token = ARGV[4], user_id = tonumber(ARGV[1]), product_id = tonumber(ARGV[5]),
                            quantity = qty, ts = now})
return {0, redis.call('RPUSH', KEYS[4], event)}
