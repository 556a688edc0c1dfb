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
* ``K:limit`` (string): the adaptive limit, when the cap is ``auto``;
* ``K:flying:calls`` (hash: ``<process>|<order>`` -> the call's requests, input tokens,
  output tokens and tokens), ``K:flying:owners`` (sorted set: process -> until when its calls
  count) and ``K:flying:seq`` (the server's order of sending, kept a day after the last call
  sent, so that it never restarts below a call still in flight): the model calls each process
  has sent and not yet had answered. What the provider's headers in the answer to a call say
  remains comes off by the calls sent after that one (the provider may not have counted them
  when it answered); a process renews its calls with its leases, and a dead process's calls
  stop counting when its lease runs out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fanscope.sdk.meters import Unit

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

_POT = """
-- a budget's pot under prefix P: P:spent (settled, and the worst case of calls whose process
-- stopped renewing), P:reserved (hash: process -> worst cases in flight), P:owners (sorted
-- set: process -> until when its reservations count as in flight)
local function pot(prefix)
  local gone = redis.call('ZRANGEBYSCORE', prefix .. ':owners', '-inf', now)
  for _, o in ipairs(gone) do
    local r = tonumber(redis.call('HGET', prefix .. ':reserved', o) or '0')
    if r > 0 then
      redis.call('INCRBYFLOAT', prefix .. ':spent', tostring(r))
    end
    redis.call('HDEL', prefix .. ':reserved', o)
    redis.call('ZREM', prefix .. ':owners', o)
  end
  local reserved = 0
  for _, v in ipairs(redis.call('HVALS', prefix .. ':reserved')) do
    reserved = reserved + tonumber(v)
  end
  return tonumber(redis.call('GET', prefix .. ':spent') or '0'), reserved
end
"""

RESERVE = (
    _NOW
    + _POT
    + """
-- KEYS: one per meter. ARGV[1]: the process (owner); then per meter 4 values: kind ('rate',
-- 'pause' or 'pot'), amount, and for a rate: ms per unit, period in ms; for a pot: its limit,
-- lease in ms. All or nothing.
-- Returns {0, 0} when taken; {-1, i}: meter i refuses (a pot that can never take it);
-- {-2, i}: meter i takes it once calls in flight settle; else {wait_us, i} of the longest wait.
local owner = ARGV[1]
local worst, whose, settling = 0, 0, 0
local tats = {}
for i = 1, #KEYS do
  local kind = ARGV[i * 4 - 2]
  local amount = tonumber(ARGV[i * 4 - 1])
  local x = tonumber(ARGV[i * 4])
  local y = tonumber(ARGV[i * 4 + 1])
  local wait = 0
  if kind == 'pause' then
    wait = math.max(0, tonumber(redis.call('GET', KEYS[i]) or '0') - now)
  elseif kind == 'pot' then
    local spent, reserved = pot(KEYS[i])
    if spent + amount > x * (1 + 1e-12) then
      return {-1, i}
    end
    if spent + reserved + amount > x * (1 + 1e-12) and settling == 0 then
      settling = i
    end
  else
    local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
    tats[i] = tat
    if amount * x >= y then
      wait = tat - now
    else
      wait = tat + amount * x - y - now
    end
    wait = math.max(0, wait)
  end
  if wait > worst then
    worst, whose = wait, i
  end
end
if settling > 0 then
  return {-2, settling}
end
if whose > 0 then
  return {math.max(1, math.floor(worst * 1000)), whose}
end
for i = 1, #KEYS do
  local kind = ARGV[i * 4 - 2]
  local amount = tonumber(ARGV[i * 4 - 1])
  if kind == 'rate' then
    local tat = tats[i] + amount * tonumber(ARGV[i * 4])
    local ttl = math.ceil(tat - now + tonumber(ARGV[i * 4 + 1]))
    redis.call('SET', KEYS[i], tostring(tat), 'PX', ttl)
  elseif kind == 'pot' then
    redis.call('HINCRBYFLOAT', KEYS[i] .. ':reserved', owner, tostring(amount))
    redis.call('ZADD', KEYS[i] .. ':owners', now + tonumber(ARGV[i * 4 + 1]), owner)
  end
end
return {0, 0}
"""
)

SETTLE = (
    _NOW
    + """
-- KEYS: one per meter; ARGV[1]: the process (owner); then per meter 3 values: 'rate', the
-- change of its time in ms (actual - reserved, times ms per unit), its period in ms; or 'pot',
-- the amount reserved, the amount spent.
local owner = ARGV[1]
for i = 1, #KEYS do
  local kind = ARGV[i * 3 - 1]
  local x = tonumber(ARGV[i * 3])
  local y = tonumber(ARGV[i * 3 + 1])
  if kind == 'pot' then
    local left = tonumber(redis.call('HINCRBYFLOAT', KEYS[i] .. ':reserved', owner, tostring(-x)))
    if left <= 1e-9 then
      redis.call('HDEL', KEYS[i] .. ':reserved', owner)
      redis.call('ZREM', KEYS[i] .. ':owners', owner)
    end
    redis.call('INCRBYFLOAT', KEYS[i] .. ':spent', tostring(y))
  else
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat > 0 then
      tat = tat + x
      local ttl = math.ceil(tat - now + y)
      if ttl > 0 then
        redis.call('SET', KEYS[i], tostring(tat), 'PX', ttl)
      else
        redis.call('DEL', KEYS[i])
      end
    end
  end
end
return 0
"""
)

POT_RENEW = (
    _NOW
    + """
-- KEYS: pots this process has calls in flight on; ARGV: owner, lease_ms.
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i] .. ':owners', 'XX', now + tonumber(ARGV[2]), ARGV[1])
end
return 0
"""
)

POT_SPENT = (
    _NOW
    + _POT
    + """
-- KEYS: a pot. Returns what it has spent, as a string.
local spent, _ = pot(KEYS[1])
return tostring(spent)
"""
)

#: the units a call in flight is counted in (``fanscope.sdk.pacing.HEARD_UNITS``), in order
FLYING_UNITS: tuple[Unit, ...] = ("requests", "input_tokens", "output_tokens", "tokens")

_FLYING = """
-- calls in flight under prefix P: P:calls (hash: '<process>|<order>' -> 'requests
-- input_tokens output_tokens tokens') and P:owners (sorted set: process -> until when its
-- calls count). A process that stopped renewing is gone, and its calls with it.
-- Returns the amounts by unit of the calls still counted that were sent after `after` (the
-- place of a call in the order of sending; -1: all of them).
local units = {'requests', 'input_tokens', 'output_tokens', 'tokens'}
local function flying(calls, owners, after)
  local gone = {}
  for _, o in ipairs(redis.call('ZRANGEBYSCORE', owners, '-inf', now)) do
    gone[o] = true
    redis.call('ZREM', owners, o)
  end
  local total = {}
  local all = redis.call('HGETALL', calls)
  for i = 1, #all, 2 do
    local owner, order = string.match(all[i], '^(.*)|(%d+)$')
    if owner == nil or gone[owner] then
      redis.call('HDEL', calls, all[i])
    elseif tonumber(order) > after then
      local k = 0
      for v in string.gmatch(all[i + 1], '%S+') do
        k = k + 1
        total[units[k]] = (total[units[k]] or 0) + tonumber(v)
      end
    end
  end
  return total
end
"""

FLY = (
    _NOW
    + """
-- KEYS: K:flying:calls, K:flying:owners, K:flying:seq; ARGV: the process, lease in ms, '+' (a
-- call sent: then 0 and its amount in each unit of FLYING_UNITS) or '-' (a call over: then its
-- order). Returns a call sent's place in the order of sending.
local owner = ARGV[1]
local lease = tonumber(ARGV[2])
local order = tonumber(ARGV[4])
if ARGV[3] == '+' then
  order = redis.call('INCR', KEYS[3])
  local amounts = {}
  for i = 5, 8 do
    amounts[#amounts + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[1], owner .. '|' .. order, table.concat(amounts, ' '))
  redis.call('ZADD', KEYS[2], now + lease, owner)
  -- the order outlives any call in flight (a process stalled past its lease included): a day
  redis.call('PEXPIRE', KEYS[3], 86400000)
else
  redis.call('HDEL', KEYS[1], owner .. '|' .. order)
end
for i = 1, 2 do
  redis.call('PEXPIRE', KEYS[i], math.ceil(lease * 2))
end
return order
"""
)

FLY_RENEW = (
    _NOW
    + """
-- KEYS: K:flying:calls, K:flying:owners, K:flying:seq; ARGV: the process, lease in ms. Its
-- calls still count.
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', now + lease, ARGV[1])
for i = 1, 2 do
  redis.call('PEXPIRE', KEYS[i], math.ceil(lease * 2))
end
return 0
"""
)

ALIGN = (
    _NOW
    + _FLYING
    + """
-- KEYS: the heard rates of one answer, then K:flying:calls, K:flying:owners. ARGV[1]: the
-- place in the order of sending of the call the answer is to (-1: not known); then per heard
-- rate 6 values: remaining (units), interval_ms, per_ms, old_interval_ms (0: same limit as
-- before), the unit, this process's calls in flight in it sent after that call. Never assume
-- more than the provider says remains, less the calls every process sent after that call (the
-- provider may not have counted them when it answered; at least this process's own, should
-- Redis have missed some); a new limit keeps what was left, in the new units' time. Returns
-- what each has available afterwards, in thousandths of the bucket.
local in_flight = flying(KEYS[#KEYS - 1], KEYS[#KEYS], tonumber(ARGV[1]))
local out = {}
for i = 1, #KEYS - 2 do
  local a = (i - 1) * 6 + 1
  local own = math.max(in_flight[ARGV[a + 5]] or 0, tonumber(ARGV[a + 6]))
  local remaining = math.max(0, tonumber(ARGV[a + 1]) - own)
  local interval = tonumber(ARGV[a + 2])
  local per = tonumber(ARGV[a + 3])
  local old = tonumber(ARGV[a + 4])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
  if old > 0 then
    local left = math.max(0, math.min(per / old, (now + per - tat) / old))
    tat = now + per - math.min(left, per / interval) * interval
  end
  tat = math.max(tat, now + per - remaining * interval)
  redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil(tat - now + per))
  local available = math.max(0, math.min(per / interval, (now + per - tat) / interval))
  out[i] = math.floor(available * interval / per * 1000)
end
return out
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
