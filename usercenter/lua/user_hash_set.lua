-- Write fields of one user's cached hash (KEYS[1] = user:{<uid>}, KEYS[2] = user:{<uid>}:wv,
-- KEYS[3] = rw:{<uid>}:lsn for a fill from the database, absent otherwise).
-- ARGV[1] = ttl seconds, ARGV[2] = 'fill' (create the hash) or 'update' (only if it exists),
-- ARGV[3] = wallet version carried by these fields, or '' when they carry no wallet fields,
-- ARGV[4] = the worker write position the fill saw before its read ('' for none),
-- ARGV[5..] = field, value, field, value, ...; a field written '-name' (value ignored) is
-- deleted instead: fields whose owner changed are dropped and refilled on the next read.
-- A fill whose user got a worker write recorded after its read (KEYS[3] moved) writes nothing:
-- the write's after-commit HDEL may already have run, and the read may predate the write.
-- Wallet fields older than the cached ones are dropped: refreshes that arrive out of order
-- (two workers committing one after the other) never put an older balance back.
-- KEYS[2] closes the other race: a credit commits while the hash is missing (its refresh is
-- skipped) and a slower fill, which read the wallet before that commit, then creates the hash
-- with the old balance. The skipped refresh leaves its version in KEYS[2] for a minute; a fill
-- carrying an older version writes no wallet fields, so the next read refills just those.
local key = KEYS[1]
local wv_key = KEYS[2]
if KEYS[3] and (redis.call('GET', KEYS[3]) or '') ~= ARGV[4] then
  return 0
end
local exists = redis.call('EXISTS', key) == 1
if ARGV[2] == 'update' and not exists then
  if wv_key and ARGV[3] ~= '' then
    local seen = redis.call('GET', wv_key)
    if not seen or tonumber(seen) < tonumber(ARGV[3]) then
      redis.call('SET', wv_key, ARGV[3], 'EX', 60)
    end
  end
  return 0
end
local skip_wallet = false
if ARGV[3] ~= '' then
  local current = nil
  if exists then
    current = redis.call('HGET', key, 'wallet_version')
  end
  if not current and wv_key then
    current = redis.call('GET', wv_key)
  end
  if current and tonumber(current) > tonumber(ARGV[3]) then
    skip_wallet = true
  end
end
local wallet_fields = {balance_cents = true, points = true, wallet_version = true}
local n = 0
for i = 5, #ARGV, 2 do
  local field = ARGV[i]
  if string.sub(field, 1, 1) == '-' then
    n = n + redis.call('HDEL', key, string.sub(field, 2))
  elseif not (skip_wallet and wallet_fields[field]) then
    redis.call('HSET', key, field, ARGV[i + 1])
    n = n + 1
  end
end
if ARGV[2] == 'fill' and n > 0 then
  redis.call('EXPIRE', key, tonumber(ARGV[1]))
end
return n
