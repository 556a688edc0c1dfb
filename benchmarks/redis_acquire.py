"""What a limit shared through Redis costs per acquire, side by side with a local one.

One real ``redis-server`` on loopback (``fanscope.testing.RedisServer``), one process. Each
operation runs against ``Limiter(8, tokens_per_minute=1e9)`` with and without
``backend=RedisBackend(...)``, in paired rounds whose order alternates (local first, then
Redis first), and prints the median time per operation over the rounds and the ratio:

* ``slot``: ``try_acquire()`` then ``release()`` (what a branch with room does: two round
  trips when shared, the admission script and the ``ZREM``);
* ``reservation``: a model call's permits, ``reserve_sync`` then ``settle`` (the token rate, the
  pause: one script each);
* ``answer``: what a model call's answer tells the limiter (``observe`` of its rate-limit
  headers: request, input and output buckets; one script for the three when shared, less the
  calls every process has in flight), run last since it makes the limiters follow those buckets;
* ``branch``: a 200-branch fan-out of a function that returns at once, per branch, start to
  end, the whole runtime included (spans recorded by an SDK provider, not exported);
* ``PING``: one ``PING`` with the same client settings, the round trip itself.

Printed with the load average, since the machine is shared.

    .venv/bin/python benchmarks/redis_acquire.py [--rounds 6] [--ops 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable

import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from fanscope import Limiter, RedisBackend, parallel
from fanscope.sdk import permits
from fanscope.sdk.permits import Demand, Observation, Spent
from fanscope.testing import RedisServer


def slot(limiter: Limiter, ops: int) -> float:
    started = time.perf_counter()
    for _ in range(ops):
        assert limiter.try_acquire()
        limiter.release()
    return (time.perf_counter() - started) / ops


def reservation(limiter: Limiter, ops: int) -> float:
    demand = Demand(input_tokens=1000, output_tokens=200)
    spent = Spent(input_tokens=300, output_tokens=100)
    started = time.perf_counter()
    for _ in range(ops):
        res = permits.reserve_sync(demand, [limiter])
        assert res is not None and res.waited_on is None
        res.settle(spent)
    return (time.perf_counter() - started) / ops


def answer(limiter: Limiter, ops: int) -> float:
    huge = 1e12  # buckets that never hold anything back
    heard = Observation(
        status=200,
        remaining={"requests": (huge, huge), "input_tokens": (huge, huge),
                   "output_tokens": (huge, huge)},
    )  # fmt: skip
    started = time.perf_counter()
    for _ in range(ops):
        limiter.observe(heard)
    return (time.perf_counter() - started) / ops


def branch(limiter: Limiter, ops: int) -> float:
    @parallel(limiter=limiter)
    async def noop(i: int) -> int:
        return i

    async def run() -> None:
        await noop.map(range(200))

    rounds = max(1, ops // 200)
    started = time.perf_counter()
    for _ in range(rounds):
        asyncio.run(run())
    return (time.perf_counter() - started) / (rounds * 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args()
    trace.set_tracer_provider(TracerProvider())
    with RedisServer() as server:
        backend = RedisBackend(server.url, key="bench")
        shared = Limiter(8, tokens_per_minute=1e9, backend=backend, name="shared")
        local = Limiter(8, tokens_per_minute=1e9, name="local")
        client = redis.Redis.from_url(server.url, socket_timeout=backend.timeout)

        def ping(_: Limiter, ops: int) -> float:
            started = time.perf_counter()
            for _ in range(ops):
                client.ping()
            return (time.perf_counter() - started) / ops

        cases: list[tuple[str, Callable[[Limiter, int], float]]] = [
            ("slot (try_acquire + release)", slot),
            ("reservation (reserve + settle)", reservation),
            ("branch of a 200-way fan-out", branch),
            ("answer heard (3 buckets)", answer),
        ]
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"redis-server at {server.url}, {args.rounds} paired rounds of {args.ops} ops")
        print(f"{'operation':34} {'local us':>10} {'redis us':>10} {'ratio':>7}")
        for name, run in cases:
            run(local, 200)  # warm up: connections, scripts loaded, code paths
            run(shared, 200)
            pairs: list[tuple[float, float]] = []
            for i in range(args.rounds):
                if i % 2 == 0:
                    here = run(local, args.ops)
                    there = run(shared, args.ops)
                else:
                    there = run(shared, args.ops)
                    here = run(local, args.ops)
                pairs.append((here, there))
            lo = statistics.median(p[0] for p in pairs) * 1e6
            hi = statistics.median(p[1] for p in pairs) * 1e6
            ratio = statistics.median(p[1] / p[0] for p in pairs)
            print(f"{name:34} {lo:10.1f} {hi:10.1f} {ratio:6.1f}x")
        trip = statistics.median(ping(local, args.ops) for _ in range(args.rounds)) * 1e6
        print(f"{'PING (the round trip alone)':34} {'':>10} {trip:10.1f}")
        print(f"Redis calls of the shared limiter: {backend.calls}, failed: {backend.failures}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
