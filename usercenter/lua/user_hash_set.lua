-- Write fields of one user's cached hash (KEYS[1] = user:{<uid>}).
-- ARGV[1] = ttl seconds, ARGV[2] = 'fill' (create the hash) or 'update' (only if it exists),
-- ARGV[3] = wallet version carried by these fields, or '' when they carry no wallet fields,
-- ARGV[4..] = field, value, field, value, ...
-- Wallet fields older than the cached ones are dropped: refreshes that arrive out of order
-- (two workers committing one after the other) never put an older balance back.
local key = KEYS[1]
local exists = redis.call('EXISTS', key) == 1
if ARGV[2] == 'update' and not exists then
  return 0
end
local skip_wallet = false
if ARGV[3] ~= '' and exists then
  local current = redis.call('HGET', key, 'wallet_version')
  if current and tonumber(current) > tonumber(ARGV[3]) then
    skip_wallet = true
  end
end
local wallet_fields = {balance_cents = true, points = true, wallet_version = true}
local n = 0
for i = 4, #ARGV, 2 do
  local field = ARGV[i]
  if not (skip_wallet and wallet_fields[field]) then
    redis.call('HSET', key, field, ARGV[i + 1])
    n = n + 1
  end
end
if ARGV[2] == 'fill' then
  redis.call('EXPIRE', key, tonumber(ARGV[1]))
end
return n
