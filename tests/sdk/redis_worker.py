"""A worker process of the Redis-shared limit tests: ``python redis_worker.py ROLE URL KEY ...``.

Roles (each prints one JSON line when it is done, or ``ready`` when it holds what it must):

* ``map CAP ITEMS FACE``: a fan-out of ITEMS branches under ``Limiter(CAP)`` shared through
  Redis, async or sync (FACE), each branch counting itself in and out of a Redis counter
  (``KEY:inside``) and keeping the highest count (``KEY:peak``): the concurrency every
  process together had at one shared point;
* ``hold CAP LEASE``: takes CAP slots with leases of LEASE seconds, says ``ready`` and sleeps
  until it is killed;
* ``attempts RATE ITEMS``: ITEMS branches under a shared attempt rate of RATE per second;
* ``spend LIMIT USD LEASE``: reserves USD against a shared budget of LIMIT, says ``ready``, sleeps
  until it is killed (a call in flight whose process dies);
* ``fly TOKENS LEASE``: sends a model call of TOKENS input tokens under a limiter paced by the
  provider's headers alone (none heard yet), says ``ready`` with the call still in flight, and
  sleeps until it is killed;
* ``drain TOKENS``: reserves TOKENS input tokens under a shared ``tokens_per_minute=TOKENS``
  and a 30 s retry-after pause, then exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import redis

import fanscope
from fanscope import Limiter, parallel
from fanscope.sdk import permits
from fanscope.sdk.limits import RateLimit
from fanscope.sdk.permits import Demand

ENTER = """
local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n
"""


def _ready(client: redis.Redis, key: str) -> None:
    """Set up: say so, and wait for the test's go (so that every worker runs at once)."""
    client.incr(f"{key}:ready")
    assert client.blpop([f"{key}:go"], timeout=300) is not None


def _server_ms(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds * 1000 + micros / 1000


def main(role: str, url: str, key: str, *rest: str) -> dict[str, Any]:
    lease = float(rest[-1]) if role in ("hold", "spend", "fly") else 10.0
    backend = fanscope.RedisBackend(url, key=key, lease=lease)
    client = redis.Redis.from_url(url)
    if role == "map":
        cap, items, face = int(rest[0]), int(rest[1]), rest[2]
        enter = client.register_script(ENTER)

        def inside(_: int) -> int:
            enter(keys=[f"{key}:inside", f"{key}:peak"])
            time.sleep(0.005)
            return int(client.decr(f"{key}:inside"))

        limiter = Limiter(cap, backend=backend, name="shared")
        _ready(client, key)
        if face == "sync":
            done = parallel(limiter=limiter)(inside).map(range(items))
        else:

            async def ainside(i: int) -> int:
                return inside(i)

            done = asyncio.run(parallel(limiter=limiter)(ainside).map(range(items)))
        return {"done": len(list(done)), "failures": backend.failures}
    if role == "hold":
        limiter = Limiter(int(rest[0]), backend=backend, name="shared")
        for _ in range(int(rest[0])):
            assert limiter.try_acquire()
        print("ready", flush=True)
        time.sleep(3600)
    if role == "attempts":
        limiter = Limiter(rate=RateLimit(float(rest[0]), per=1), backend=backend, name="shared")

        async def attempt(_: int) -> float:
            return _server_ms(client)  # when it was let through (or later)

        fn = parallel(limiter=limiter)(attempt)
        _ready(client, key)
        stamps = asyncio.run(fn.map(range(int(rest[1]))))
        return {"done": len(stamps), "last_ms": max(stamps)}
    if role == "drain":
        tokens = float(rest[0])
        limiter = Limiter(tokens_per_minute=tokens, backend=backend, name="shared")
        reservation = permits.reserve_sync(Demand(input_tokens=int(tokens)), [limiter])
        limiter.pause(30.0)
        return {"waited_on": reservation.waited_on if reservation else "nothing"}
    if role == "fly":  # a call sent and not answered yet, then hang
        limiter = Limiter(backend=backend, name="shared")
        reservation = permits.reserve_sync(Demand(input_tokens=int(rest[0])), [limiter])
        assert reservation is not None and reservation.in_flight
        print("ready", flush=True)
        time.sleep(3600)
    if role == "spend":  # reserve a worst case against a shared budget, then hang
        pot = fanscope.budget(usd=float(rest[0]), name="shared", backend=backend)
        reservation = permits.reserve_sync(Demand(usd=float(rest[1])), [pot])
        assert reservation is not None and reservation.waited_on is None
        print("ready", flush=True)
        time.sleep(3600)
    raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])), flush=True)
