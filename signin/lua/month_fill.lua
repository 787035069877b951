-- Fill one user-month bitmap from the database (KEYS[1] = signin:{uid}:YYYYMM).
-- ARGV[1] = ttl seconds, ARGV[2] = the "complete" marker offset, ARGV[3..] = day offsets.
-- OR semantics: bits set meanwhile by a sign-in that committed after our read stay set.
-- The marker bit says "this month is complete" (also for a month with no sign-in at all), so a
-- user who never signs in costs one database read per month, not one per page view.
for i = 3, #ARGV do
  redis.call('SETBIT', KEYS[1], tonumber(ARGV[i]), 1)
end
redis.call('SETBIT', KEYS[1], tonumber(ARGV[2]), 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
