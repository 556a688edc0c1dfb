"""The Lua scripts behind :class:`~fanscope.sdk.redis_backend.RedisBackend`.

Each script is one atomic step on the Redis server, timed by the server's own clock
(``TIME``), so processes on machines whose clocks disagree still share one limit. Times cross
the wire as whole microseconds (a Lua number becomes a Redis integer). Every key is given an
expiry, so a limit nobody uses leaves nothing behind.

Keys of a limit named ``K``:

* ``K:leases`` (sorted set): the slots held, one member per slot, scored by the time its
  lease runs out; a holder renews its leases, a dead holder's run out;
* ``K:queue`` (sorted set) and ``K:alive`` (hash): the processes waiting for a slot, in order
  of arrival, and until when each counts as waiting (a waiter that stops asking drops out);
* ``K:rate`` (string): the theoretical arrival time (GCRA) of branch attempts;
* ``K:pause`` (string): until when a ``retry-after`` pauses every process;
* ``K:meter:<unit>`` and ``K:heard:<unit>`` (strings): the GCRA time of each request or token
  rate, the configured ones and the ones the provider's headers announce;
* ``K:limit`` (string): the adaptive limit, when the cap is ``auto``.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
"""

ADMIT = (
    _NOW
    + """
-- KEYS: leases, queue, alive, ticket, rate, pause
-- ARGV: cap (<0: none), want, lease_ms, owner, queue_ttl_ms, rate_interval_ms (<0: none),
--       rate_tolerance_ms, mode ('try': slot + rate + pause, all or nothing; 'slots': up to
--       want slots), then want lease ids
local cap = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local lease_ms = tonumber(ARGV[3])
local owner = ARGV[4]
local ttl = tonumber(ARGV[5])
local interval = tonumber(ARGV[6])
local tolerance = tonumber(ARGV[7])
local mode = ARGV[8]

local pause_left = math.max(0, tonumber(redis.call('GET', KEYS[6]) or '0') - now)
local granted = want
if cap >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local alive = redis.call('HGETALL', KEYS[3])
  for i = 1, #alive, 2 do
    if tonumber(alive[i + 1]) < now then
      redis.call('HDEL', KEYS[3], alive[i])
      redis.call('ZREM', KEYS[2], alive[i])
    end
  end
  local free = cap - redis.call('ZCARD', KEYS[1])
  local rank = redis.call('ZRANK', KEYS[2], owner)
  local ahead = rank or redis.call('ZCARD', KEYS[2])
  granted = math.max(0, math.min(want, free - ahead))
end
local rate_wait = 0
local tat = 0
if interval >= 0 then
  tat = math.max(tonumber(redis.call('GET', KEYS[5]) or '0'), now)
  rate_wait = math.max(0, tat - tolerance - now)
end
if mode == 'try' and (granted < want or rate_wait > 0 or pause_left > 0) then
  return {0, math.floor(math.max(rate_wait, pause_left) * 1000), math.floor(pause_left * 1000)}
end
if cap >= 0 then
  for i = 1, granted do
    redis.call('ZADD', KEYS[1], now + lease_ms, ARGV[8 + i])
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(lease_ms * 2))
  if granted < want and mode == 'slots' then
    if not redis.call('ZSCORE', KEYS[2], owner) or granted > 0 then
      -- join the queue, or go to its back after being served (processes take turns)
      redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), owner)
    end
    redis.call('HSET', KEYS[3], owner, now + ttl)
    redis.call('PEXPIRE', KEYS[2], math.ceil(ttl * 4))
    redis.call('PEXPIRE', KEYS[3], math.ceil(ttl * 4))
    redis.call('PEXPIRE', KEYS[4], math.ceil(ttl * 4))
  elseif granted == want then
    redis.call('ZREM', KEYS[2], owner)
    redis.call('HDEL', KEYS[3], owner)
  end
end
if interval >= 0 and mode == 'try' then
  tat = tat + interval
  redis.call('SET', KEYS[5], tostring(tat), 'PX', math.ceil(tat - now + 60000))
end
return {granted, 0, math.floor(pause_left * 1000)}
"""
)

RENEW = (
    _NOW
    + """
-- KEYS: leases; ARGV: lease_ms, then the ids held. Returns the ids that were not there (run
-- out, or given back since the list was made).
local missing = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
  else
    missing[#missing + 1] = ARGV[i]
  end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 2))
return missing
"""
)

RATE = (
    _NOW
    + """
-- KEYS: rate, pause; ARGV: interval_ms, tolerance_ms. Reserve the next attempt.
-- Returns {wait_us, pause_left_us}.
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local pause_left = math.max(0, tonumber(redis.call('GET', KEYS[2]) or '0') - now)
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + pause_left)
local wait = math.max(0, tat - tolerance - now)
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(tat + interval - now + 60000))
return {math.floor(wait * 1000), math.floor(pause_left * 1000)}
"""
)

PAUSE = (
    _NOW
    + """
-- KEYS: pause; ARGV: ms. Returns the pause left, in us.
local until_ms = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tostring(until_ms), 'PX', math.ceil(until_ms - now + 1000))
return math.floor((until_ms - now) * 1000)
"""
)

RESERVE = (
    _NOW
    + """
-- KEYS: one per meter. ARGV: per meter 4 values: kind ('rate' or 'pause'), amount,
-- interval_ms (ms per unit), per_ms. All or nothing.
-- Returns {0, 0} when taken, else {wait_us, index of the meter that waits longest}.
local worst, whose = 0, 0
local tats = {}
for i = 1, #KEYS do
  local kind = ARGV[i * 4 - 3]
  local amount = tonumber(ARGV[i * 4 - 2])
  local interval = tonumber(ARGV[i * 4 - 1])
  local per = tonumber(ARGV[i * 4])
  local wait
  if kind == 'pause' then
    wait = math.max(0, tonumber(redis.call('GET', KEYS[i]) or '0') - now)
  else
    local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
    tats[i] = tat
    if amount * interval >= per then
      wait = tat - now
    else
      wait = tat + amount * interval - per - now
    end
    wait = math.max(0, wait)
  end
  if wait > worst then
    worst, whose = wait, i
  end
end
if whose > 0 then
  return {math.max(1, math.floor(worst * 1000)), whose}
end
for i = 1, #KEYS do
  if ARGV[i * 4 - 3] == 'rate' then
    local tat = tats[i] + tonumber(ARGV[i * 4 - 2]) * tonumber(ARGV[i * 4 - 1])
    redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil(tat - now + tonumber(ARGV[i * 4])))
  end
end
return {0, 0}
"""
)

SETTLE = (
    _NOW
    + """
-- KEYS: one per rate meter; ARGV: per meter, the change of its time in ms (actual - reserved
-- times ms per unit), then per_ms.
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > 0 then
    tat = tat + tonumber(ARGV[i * 2 - 1])
    local ttl = math.ceil(tat - now + tonumber(ARGV[i * 2]))
    if ttl > 0 then
      redis.call('SET', KEYS[i], tostring(tat), 'PX', ttl)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return 0
"""
)

ALIGN = (
    _NOW
    + """
-- KEYS: a heard rate; ARGV: remaining (units), interval_ms, per_ms, old_interval_ms (0: same
-- limit as before). Never assume more than the provider says remains; a new limit keeps what
-- was left, in the new units' time. Returns what is available afterwards, in thousandths of
-- the bucket.
local remaining = math.max(0, tonumber(ARGV[1]))
local interval = tonumber(ARGV[2])
local per = tonumber(ARGV[3])
local old = tonumber(ARGV[4])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if old > 0 then
  local left = math.max(0, math.min(per / old, (now + per - tat) / old))
  tat = now + per - math.min(left, per / interval) * interval
end
tat = math.max(tat, now + per - remaining * interval)
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil(tat - now + per))
local available = math.max(0, math.min(per / interval, (now + per - tat) / interval))
return math.floor(available * interval / per * 1000)
"""
)

LIMIT = """
-- KEYS: the adaptive limit; ARGV: the change ('+' delta or '=' value), lo, hi, initial.
-- Returns the limit in thousandths.
local lo, hi = tonumber(ARGV[3]), tonumber(ARGV[4])
local limit = tonumber(redis.call('GET', KEYS[1]) or ARGV[5])
if ARGV[1] == '+' then
  limit = limit + tonumber(ARGV[2])
elseif ARGV[1] == '=' then
  limit = math.min(limit, tonumber(ARGV[2]))
end
limit = math.max(lo, math.min(hi, limit))
redis.call('SET', KEYS[1], tostring(limit), 'EX', 86400)
return math.floor(limit * 1000)
"""
