"""Limits shared through a real Redis server: caps as leases, rates, the pause, the adaptive
limit, and a local limit with one warning when Redis cannot be reached.

Each test names a key of its own on the run's redis-server (``redis_server`` in conftest.py).
"Processes" are real OS processes (``redis_worker.py``) where the claim is about processes; a
limiter with a backend of its own is, to Redis, a process of its own (its own owner id and
connections), which lets the property test try many shapes quickly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import BudgetExceeded, Limiter, RedisBackend, parallel
from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk import meters, permits
from fanscope.sdk.permits import Demand, Observation
from fanscope.testing.redis_server import RedisServer as Server
from tests.redis_server import RedisServer

WORKER = str(Path(__file__).with_name("redis_worker.py"))
ROOT = str(Path(__file__).resolve().parents[2])


def _worker(*args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _go(client: redis.Redis, key: str, workers: int) -> float:
    """Wait until every worker is set up, then let them all go; the server's time of the go."""
    while int(client.get(f"{key}:ready") or 0) < workers:
        time.sleep(0.02)
    at = _server_ms(client)
    client.rpush(f"{key}:go", *["go"] * workers)
    return at


def _result(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _server_ms(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds * 1000 + micros / 1000


async def _until(happened: Callable[[], bool]) -> None:
    """Let the loop run until ``happened()`` (an event seen, not a time waited)."""
    while True:
        if happened():
            return
        await asyncio.sleep(0.01)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


# -- caps -------------------------------------------------------------------------------------


def test_processes_sharing_a_key_never_exceed_the_cap_async_and_sync(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    cap, items = 3, 40
    workers = [_worker("map", redis_url, redis_key, cap, items, face) for face in ("async", "sync")]
    workers.append(_worker("map", redis_url, redis_key, cap, items, "async"))
    _go(client, redis_key, len(workers))  # all three run at once
    results = [_result(w) for w in workers]
    assert all(r == {"done": items, "failures": 0} for r in results), results
    peak = int(client.get(f"{redis_key}:peak") or 0)
    assert peak <= cap  # the cap held across the three processes
    assert int(client.get(f"{redis_key}:inside") or 0) == 0
    assert client.zcard(f"{redis_key}:leases") == 0  # every slot was given back


@settings(max_examples=8)
@given(
    cap=st.integers(1, 4),
    shape=st.lists(st.tuples(st.integers(1, 12), st.booleans()), min_size=2, max_size=4),
    pause=st.floats(0.0, 0.004),
)
def test_limiters_that_share_a_key_never_exceed_its_cap_and_all_finish(
    redis_server: Server, cap: int, shape: list[tuple[int, bool]], pause: float
) -> None:
    """Each limiter has a backend of its own (to Redis, a process); some run async fan-outs
    on loops of their own threads, others sync fan-outs: together never above the cap."""
    key = f"fanscope-test:prop:{os.urandom(6).hex()}"
    lock = threading.Lock()
    inside = peak = 0
    done: list[int] = []

    def work(i: int) -> int:
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
        time.sleep(pause)
        with lock:
            inside -= 1
        return i

    async def awork(i: int) -> int:
        return work(i)

    def run(items: int, sync: bool) -> None:
        limiter = Limiter(cap, backend=RedisBackend(redis_server.url, key=key, poll=0.005))
        if sync:
            results = parallel(limiter=limiter)(work).map(range(items))
        else:
            results = asyncio.run(parallel(limiter=limiter)(awork).map(range(items)))
        done.append(len(list(results)))

    threads = [threading.Thread(target=run, args=args) for args in shape]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak <= cap
    assert sorted(done) == sorted(items for items, _ in shape)


def test_a_killed_holder_gives_its_slots_back_within_the_lease_and_not_before(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    cap, lease = 2, 1.0
    holder = _worker("hold", redis_url, redis_key, cap, lease)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()  # closes its pipes
    killed_at = _server_ms(client)
    held = client.zrange(f"{redis_key}:leases", 0, -1, withscores=True)
    expiries = [float(score) for _, score in held]  # type: ignore[str-unpack]
    assert len(expiries) == cap
    # every lease runs out at most one lease time after now (it was renewed at most that long
    # ago), and nobody renews it any more
    assert max(expiries) <= killed_at + lease * 1000
    limiter = Limiter(cap, backend=RedisBackend(redis_url, key=redis_key))
    if _server_ms(client) < min(expiries):
        assert not limiter.try_acquire()  # still counted: the cap is never exceeded meanwhile
    while _server_ms(client) <= max(expiries):
        time.sleep(0.05)
    assert [limiter.try_acquire() for _ in range(cap + 1)] == [True] * cap + [False]
    for _ in range(cap):
        limiter.release()


def test_held_slots_are_renewed_while_their_work_runs_longer_than_the_lease(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    lease = 1.5
    holder = Limiter(1, backend=RedisBackend(redis_url, key=redis_key, lease=lease))
    other = Limiter(1, backend=RedisBackend(redis_url, key=redis_key, lease=lease))
    assert holder.try_acquire()  # its process's thread renews the lease from now on
    leases = f"{redis_key}:leases"
    ((member, first),) = client.zrange(leases, 0, -1, withscores=True)  # type: ignore[str-unpack]
    expiry = float(first)
    for _ in range(3):  # three renewals, each moving the expiry on: held past 1.5 leases
        while (now := client.zscore(leases, member)) is not None and float(now) <= expiry:
            time.sleep(0.05)
        assert now is not None  # renewed, not run out
        expiry = float(now)
        assert not other.try_acquire()
    assert holder._shared is not None and holder._shared.lost == 0
    holder.release()
    assert other.try_acquire()
    other.release()


async def test_a_waiting_branch_gets_a_slot_another_process_releases(
    redis_url: str, redis_key: str
) -> None:
    first = Limiter(1, backend=RedisBackend(redis_url, key=redis_key, poll=0.01), name="a")
    second = Limiter(1, backend=RedisBackend(redis_url, key=redis_key, poll=0.01), name="b")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert second.wait_reason() == "cap"
    waiting = asyncio.ensure_future(second.acquire_slot())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    first.release()
    await asyncio.wait_for(waiting, 30)
    assert second.in_use == 1
    assert not first.try_acquire()
    second.release()


async def test_processes_that_wait_take_turns_before_one_that_just_released(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    """One slot; `a` holds it and has a branch waiting; `b` waits too, and asked first: the slot
    `a` frees goes to `b` even though `a`'s own waiter is woken at once by the release."""
    a = Limiter(1, backend=RedisBackend(redis_url, key=redis_key, poll=0.05), name="a")
    b = Limiter(1, backend=RedisBackend(redis_url, key=redis_key, poll=0.05), name="b")
    assert a.try_acquire()
    b_waits = asyncio.ensure_future(b.acquire_slot())
    assert b._shared is not None
    b_owner = b._shared.backend.owner_id()
    await _until(lambda: client.zscore(f"{redis_key}:queue", b_owner) is not None)  # b queued
    a_waits = asyncio.ensure_future(a.acquire_slot())
    await _until(lambda: bool(a._waiters))  # a's branch waits too
    a.release()
    done, _ = await asyncio.wait([a_waits, b_waits], return_when=asyncio.FIRST_COMPLETED)
    assert done == {b_waits}
    b.release()
    await asyncio.wait_for(a_waits, 30)
    a.release()


def test_a_branch_that_waited_for_a_shared_slot_says_so(
    redis_url: str, redis_key: str, exporter: InMemorySpanExporter
) -> None:
    other = Limiter(1, backend=RedisBackend(redis_url, key=redis_key), name="provider")
    here = Limiter(1, backend=RedisBackend(redis_url, key=redis_key, poll=0.01), name="provider")
    assert other.try_acquire()  # another process holds the only slot

    @parallel(limiter=here)
    def call(i: int) -> int:
        return i

    threading.Timer(0.3, other.release).start()
    assert list(call.map(range(2))) == [0, 1]
    branches = [s for s in exporter.get_finished_spans() if s.name == "call"]
    assert branches and all(s.attributes and s.attributes.get(A.QUEUE_LIMITER) for s in branches)
    assert all(s.attributes and s.attributes.get(A.QUEUE_SHARED) is True for s in branches)
    local = Limiter(1, name="provider")

    @parallel(limiter=local)
    def call_here(i: int) -> int:
        return i

    exporter.clear()
    assert list(call_here.map(range(3))) == [0, 1, 2]
    assert not any(A.QUEUE_SHARED in (s.attributes or {}) for s in exporter.get_finished_spans())


# -- rates, the pause, the adaptive limit ------------------------------------------------------


def test_an_attempt_rate_holds_across_processes(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    rate, items, processes = 10.0, 10, 2
    workers = [_worker("attempts", redis_url, redis_key, rate, items) for _ in range(processes)]
    go = _go(client, redis_key, processes)
    results = [_result(w) for w in workers]
    assert all(r["done"] == items for r in results)
    last = max(float(r["last_ms"]) for r in results)  # type: ignore[arg-type]
    # GCRA: a burst of `rate`, then one per 1/rate s for both processes together; two local
    # limiters would have let all 20 attempts through in their first bursts at once
    assert last - go >= (items * processes - rate) / rate * 1000 * 0.95


def test_tokens_and_the_pause_of_one_process_hold_back_another(
    redis_url: str, redis_key: str
) -> None:
    tokens = 60_000
    assert _result(_worker("drain", redis_url, redis_key, tokens))["waited_on"] is None
    here = Limiter(tokens_per_minute=tokens, backend=RedisBackend(redis_url, key=redis_key))
    # the other process took the whole minute's bucket and paused the limit for 30 s
    wait, whose, _ = permits._attempt(
        [(ledger, m, 1000.0) for ledger, m in here.meters(Demand(input_tokens=1000))]
    )
    assert whose is not None and wait > 1.0
    assert here.try_acquire() is False or here.max_concurrency is None
    assert here.paused_for() > 1.0  # the last Redis answer carried the other's pause
    local = Limiter(tokens_per_minute=tokens)
    assert local.paused_for() == 0.0


def test_settling_below_the_reservation_gives_tokens_back_to_every_process(
    redis_url: str, redis_key: str
) -> None:
    a = Limiter(tokens_per_minute=6000, backend=RedisBackend(redis_url, key=redis_key))
    b = Limiter(tokens_per_minute=6000, backend=RedisBackend(redis_url, key=redis_key))
    reservation = permits.reserve_sync(Demand(input_tokens=5000, output_tokens=1000), [a])
    assert reservation is not None
    wants = [(ledger, m, 3000.0) for ledger, m in b.meters(Demand(input_tokens=3000))]
    assert permits._attempt(wants)[1] is not None  # all 6000 are reserved
    reservation.settle(permits.Spent(input_tokens=1000, output_tokens=500))
    _, whose, taken = permits._attempt(wants)
    assert whose is None and taken  # 4500 came back: b's 3000 fit at once


def test_the_provider_headers_heard_by_one_process_pace_another(
    redis_url: str, redis_key: str
) -> None:
    a = Limiter(backend=RedisBackend(redis_url, key=redis_key))
    b = Limiter(backend=RedisBackend(redis_url, key=redis_key))
    a.observe(Observation(status=200, remaining={"input_tokens": (60_000, 0)}))
    b.observe(Observation(status=200, remaining={"input_tokens": (60_000, 60_000)}))
    wait, whose, _ = permits._attempt(
        [(ledger, m, 5000.0) for ledger, m in b.meters(Demand(input_tokens=5000))]
    )
    assert whose is not None and wait > 1.0  # b's own answer said more; a's said none is left
    assert b.pacing.room() < 0.1
    a.observe(Observation(status=200, remaining={"input_tokens": (60_000, 0)}))
    reservation = permits.reserve_sync(Demand(input_tokens=1000), [b])  # refills 1000 a second
    assert reservation is not None and reservation.waited_on is not None
    assert reservation.waited_shared  # its queue wait span says `fanscope.queue.shared`
    # the call is over: counted in flight until it settles, which a lease thread would
    # otherwise renew for the rest of the test run
    reservation.settle(permits.Spent(input_tokens=1000, output_tokens=0))
    assert not any(b.pacing.in_flight.values())
    assert not b._shared.flying  # type: ignore[union-attr]


def test_calls_another_process_has_in_flight_come_off_what_the_provider_says_remains(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    """A limiter paced by the headers alone: the answer to a call sent before another
    process's call may have been written before that call reached the provider, so it says more
    remains than does. That call comes off it, while its process lives and renews it; once the
    process is killed, when its lease runs out."""
    lease, tokens = 3.0, 50_000  # renewed every second: a loaded machine does not lose it
    here = Limiter(backend=RedisBackend(redis_url, key=redis_key))
    answered = permits.reserve_sync(Demand(input_tokens=10), [here])  # sent first
    assert answered is not None and answered.in_flight
    flier = _worker("fly", redis_url, redis_key, tokens, lease)
    try:
        assert flier.stdout is not None and flier.stdout.readline().strip() == "ready"
        answered.settle(permits.Spent(input_tokens=10, output_tokens=0))
        answered.observe(
            Observation(
                status=200,
                remaining={"requests": (100, 100), "input_tokens": (60_000, 60_000)},
            )
        )
        # every bucket of the answer, less the other process's call, sent after the one
        # answered: 99 of 100 requests and 10,000 of 60,000 input tokens left
        assert here.pacing._room["requests"] == pytest.approx(0.99, abs=0.002)
        assert here.pacing._room["input_tokens"] == pytest.approx(1 / 6, abs=0.002)
        tokens_only = Demand(input_tokens=30_000)
        ask = [(lg, m, 30_000.0) for lg, m in here.meters(tokens_only) if m.unit != "requests"]
        wait, whose, _ = permits._attempt(ask)
        # 10,000 of the 60,000 are left: 20,000 more refill in 20 s (without the other
        # process's call counted, all 30,000 would go at once and overrun the provider)
        assert whose is not None and wait > 10.0
        own = permits.reserve_sync(Demand(input_tokens=5_000), [here])
        assert own is not None and own.in_flight
        flying = f"{redis_key}:flying:calls"
        assert client.hlen(flying) == 2  # one call of each process
        own.settle(permits.Spent(input_tokens=10, output_tokens=0))
        assert client.hlen(flying) == 1  # its settlement took this process's off
        flier.send_signal(signal.SIGKILL)
        flier.wait()
    finally:
        if flier.poll() is None:
            flier.kill()
        flier.communicate()
    owners = client.zrange(f"{redis_key}:flying:owners", 0, -1, withscores=True)
    expiry = max(float(score) for _, score in owners)  # type: ignore[str-unpack]
    while _server_ms(client) <= expiry:  # nobody renews the dead process's call any more
        time.sleep(0.05)
    client.delete(f"{redis_key}:heard:input_tokens")  # a minute later: the bucket is full again
    here.observe(Observation(status=200, remaining={"input_tokens": (60_000, 60_000)}))
    wait, whose, taken = permits._attempt(ask)
    assert whose is None and taken  # the dead process's call no longer counts
    assert client.hlen(flying) == 0


def test_calls_sent_before_the_one_answered_are_not_taken_off_again(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    """The provider had counted the calls sent before the one it answers: what it says remains
    is already less them. Another process's call sent first, still in flight, does not come off
    again; one of this process's sent after the answered one does."""
    flier = _worker("fly", redis_url, redis_key, 50_000, 10.0)
    try:
        assert flier.stdout is not None and flier.stdout.readline().strip() == "ready"
        here = Limiter(backend=RedisBackend(redis_url, key=redis_key))
        answered = permits.reserve_sync(Demand(input_tokens=10), [here])
        later = permits.reserve_sync(Demand(input_tokens=6_000), [here])
        assert answered is not None and later is not None
        assert client.hlen(f"{redis_key}:flying:calls") == 3  # the other's and this two
        answered.settle(permits.Spent(input_tokens=10, output_tokens=0))
        answered.observe(Observation(status=200, remaining={"input_tokens": (60_000, 60_000)}))
        # only the call sent after the one answered comes off: 54,000 of 60,000 left (taking
        # the other process's 50,000 off again would leave 4,000, and 30,000 would wait)
        assert here.pacing._room["input_tokens"] == pytest.approx(0.9, abs=0.002)
        ask = [(lg, m, 30_000.0) for lg, m in here.meters(Demand(input_tokens=30_000))]
        _, whose, taken = permits._attempt(ask)
        assert whose is None and taken
        later.settle(permits.Spent(input_tokens=10, output_tokens=0))
    finally:
        flier.kill()
        flier.communicate()


def test_an_adaptive_limit_is_one_limit_for_every_process(redis_url: str, redis_key: str) -> None:
    a = Limiter("auto", backend=RedisBackend(redis_url, key=redis_key))
    b = Limiter("auto", backend=RedisBackend(redis_url, key=redis_key))
    assert a.max_concurrency == b.max_concurrency == 8
    a.observe(Observation(status=429, latency=0.1))
    cut = a.max_concurrency
    assert cut is not None and cut < 8
    b.observe(Observation(status=200, latency=0.1))  # any answer brings the shared limit
    assert b.max_concurrency is not None and b.max_concurrency <= cut


# -- budgets ----------------------------------------------------------------------------------


def test_a_shared_budget_is_one_pot_for_every_process(redis_url: str, redis_key: str) -> None:
    a = fanscope.budget(usd=1.0, name="run", backend=RedisBackend(redis_url, key=redis_key))
    b = fanscope.budget(usd=1.0, name="run", backend=RedisBackend(redis_url, key=redis_key))
    spent = permits.reserve_sync(Demand(usd=0.5), [a])
    assert spent is not None
    spent.settle(permits.Spent(input_tokens=1, output_tokens=1, usd=0.6))
    assert b.spent_usd == pytest.approx(0.6)
    with pytest.raises(BudgetExceeded) as refused:
        permits.reserve_sync(Demand(usd=0.5), [b])  # 0.6 + 0.5 > 1.0, whoever spent the 0.6
    assert refused.value.spent == pytest.approx(0.6)  # what every process spent, not b alone
    assert b.refused == 1
    fits = permits.reserve_sync(Demand(usd=0.3), [b])
    assert fits is not None and fits.waited_on is None
    fits.settle(None)  # an unknown outcome: its worst case is spent
    assert a.spent_usd == pytest.approx(0.9)
    assert a.fresh() is a  # a shared pot is one pot, also as a template


def test_a_killed_process_s_calls_in_flight_count_at_their_worst_case(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    lease = 1.0
    spender = _worker("spend", redis_url, redis_key, 1.0, 0.4, lease)
    try:
        assert spender.stdout is not None and spender.stdout.readline().strip() == "ready"
        spender.send_signal(signal.SIGKILL)
        spender.wait()
    finally:
        if spender.poll() is None:
            spender.kill()
        spender.communicate()
    here = fanscope.budget(usd=1.0, name="shared", backend=RedisBackend(redis_url, key=redis_key))
    ((ledger, pot),) = here.meters(Demand(usd=0.7))
    owners = client.zrange(f"{redis_key}:pot:usd:owners", 0, -1, withscores=True)
    expiry = max(float(score) for _, score in owners)  # type: ignore[str-unpack]
    if _server_ms(client) < expiry:  # still in flight: 0.7 may fit once it settles
        assert ledger.try_reserve([(pot, 0.7)])[0] == meters.SETTLING
    while _server_ms(client) <= expiry:
        time.sleep(0.05)
    # its process is gone: the 0.4 it may have spent is spent, and 0.7 can never fit
    assert ledger.try_reserve([(pot, 0.7)])[0] == meters.REFUSE
    assert here.spent_usd == pytest.approx(0.4)


@settings(max_examples=10)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 2), st.floats(0.05, 0.5), st.floats(0.0, 1.0)), min_size=3
    )
)
def test_processes_never_overspend_a_shared_budget(
    redis_server: Server, steps: list[tuple[int, float, float]]
) -> None:
    """Three processes (a backend each) reserve worst cases and settle earlier calls to a share
    of theirs, interleaved: what is spent plus what is in flight never passes the limit, and
    what the pot says it spent is what the calls spent."""
    key = f"fanscope-test:budget:{os.urandom(6).hex()}"
    limit = 1.0
    pots = [
        fanscope.budget(usd=limit, backend=RedisBackend(redis_server.url, key=key))
        for _ in range(3)
    ]
    in_flight: list[tuple[permits.Ledger, meters.Meter, float]] = []
    spent = 0.0
    for who, worst, share in steps:
        if in_flight and share < 0.4:  # settle the oldest call in flight to a share of it
            ledger, pot, reserved = in_flight.pop(0)
            ledger.settle([(pot, reserved, reserved * share / 0.4)])
            spent += reserved * share / 0.4
        else:
            ((ledger, pot),) = pots[who].meters(Demand(usd=worst))
            wait, _ = ledger.try_reserve([(pot, worst)])
            if wait == 0.0:
                in_flight.append((ledger, pot, worst))
            else:
                assert wait in (meters.SETTLING, meters.REFUSE)
        assert spent + sum(r for _, _, r in in_flight) <= limit + 1e-9
    for ledger, pot, reserved in in_flight:  # the rest end without spending
        ledger.settle([(pot, reserved, 0.0)])
    assert pots[0].spent_usd == pytest.approx(spent)


# -- Redis unreachable ------------------------------------------------------------------------


def _fanscope_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "fanscope" and r.levelno >= logging.WARNING and "Redis" in r.getMessage()
    ]


async def test_redis_killed_mid_run_gives_one_warning_and_the_work_finishes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = RedisServer().start()
    try:
        limiter = Limiter(
            2,
            backend=RedisBackend(
                server.url, key="mid-run", timeout=0.2, poll=0.01, retry_every=600
            ),
        )
        inside = peak = 0
        started = asyncio.Event()

        @parallel(limiter=limiter)
        async def work(i: int) -> int:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            if i == 4:
                started.set()
            await asyncio.sleep(0.01)
            inside -= 1
            return i

        running = asyncio.ensure_future(work.map(range(30)))
        await started.wait()
        server.kill()
        with caplog.at_level(logging.WARNING, logger="fanscope"):
            results = await asyncio.wait_for(running, 120)
    finally:
        server.stop()
    assert list(results) == list(range(30))
    assert len(_fanscope_warnings(caplog)) == 1
    assert peak <= 2  # the local limit kept the cap in this process
    assert not limiter.shared  # and tries Redis again only after retry_every


def test_redis_unreachable_at_start_is_a_local_limit_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    backend = RedisBackend(url, timeout=0.2, local_share=0.5, retry_every=600)
    limiter = Limiter(4, backend=backend, tokens_per_minute=1e6)
    with caplog.at_level(logging.WARNING, logger="fanscope"):
        assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]  # half of 4
        limiter.release()
        assert permits.reserve_sync(Demand(input_tokens=10), [limiter]) is not None
        limiter.pause(0.01)
    assert len(_fanscope_warnings(caplog)) == 1
    assert "unreachable" in _fanscope_warnings(caplog)[0]


def test_a_redis_that_never_answers_costs_one_timeout_not_a_hang(
    caplog: pytest.LogCaptureFixture,
) -> None:
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        limiter = Limiter(2, backend=RedisBackend(url, timeout=0.2, retry_every=600))

        @parallel(limiter=limiter)
        def work(i: int) -> int:
            return i * 2

        with caplog.at_level(logging.WARNING, logger="fanscope"):
            assert list(work.map(range(10))) == [i * 2 for i in range(10)]
    finally:
        silent.close()
    assert len(_fanscope_warnings(caplog)) == 1
    # one timeout for each call in flight when Redis was found silent (the sync fan-out's
    # two threads may both be asking), not one per item
    assert limiter.backend is not None and 1 <= limiter.backend.failures <= 2


# -- the surface ------------------------------------------------------------------------------


def test_bad_backend_settings_are_one_line_errors() -> None:
    for bad in (
        lambda: RedisBackend("localhost:6379"),
        lambda: RedisBackend(lease=0),
        lambda: RedisBackend(local_share=2),
        lambda: RedisBackend(key=""),
        lambda: Limiter(2, backend="redis://x"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigurationError) as info:
            bad()
        assert "\n" not in str(info.value)


def test_a_backend_keys_the_limit_by_the_limiter_name_unless_told(redis_url: str) -> None:
    backend = RedisBackend(redis_url)
    a, b = Limiter(1, backend=backend, name="anthropic"), Limiter(1, backend=backend, name="x")
    assert a.try_acquire() and b.try_acquire()  # two names: two limits
    assert not Limiter(1, backend=RedisBackend(redis_url), name="anthropic").try_acquire()
    a.release()
    b.release()
    assert repr(backend).startswith("RedisBackend('redis://127.0.0.1:")
    assert isinstance(fanscope.RedisBackend, type)


# -- closing a backend ------------------------------------------------------------------------


def test_closing_a_backend_gives_back_what_it_holds_and_ends_its_lease_thread(
    redis_url: str, redis_key: str, client: redis.Redis
) -> None:
    """A reservation never settled kept the lease thread renewing for the process's life;
    ``close()`` ends the thread, gives the slots and the calls in flight back on the server
    at once, and leaves a local limit. Closing again does nothing more."""
    backend = RedisBackend(redis_url, key=redis_key)
    limiter = Limiter(2, backend=backend)
    assert limiter.try_acquire() and limiter.try_acquire()
    forgotten = permits.reserve_sync(Demand(input_tokens=100), [limiter])
    assert forgotten is not None and forgotten.in_flight  # never settled
    worker = backend._worker
    assert worker is not None and worker.is_alive()
    assert client.zcard(f"{redis_key}:leases") == 2
    assert client.hlen(f"{redis_key}:flying:calls") == 1
    backend.close()
    worker.join(60)  # close() has joined it already; this only bounds a failure
    assert not worker.is_alive()
    assert client.zcard(f"{redis_key}:leases") == 0  # not after the lease: now
    assert client.hlen(f"{redis_key}:flying:calls") == 0
    calls = backend.calls
    backend.close()
    assert backend.calls == calls and not backend.up()
    other = Limiter(2, backend=RedisBackend(redis_url, key=redis_key))
    assert other.try_acquire() and other.try_acquire()  # the whole cap is free again
    # the closed limiter keeps a local limit: its two slots are still held here
    assert not limiter.try_acquire()
    limiter.release()
    assert limiter.try_acquire()
    forgotten.settle(permits.Spent(input_tokens=1, output_tokens=0))  # settles locally
    assert backend.calls == calls
    assert other._shared is not None
    other._shared.backend.close()


def test_a_branch_waiting_for_a_shared_slot_when_its_backend_closes_gets_a_local_one(
    redis_url: str, redis_key: str
) -> None:
    holder = Limiter(1, backend=RedisBackend(redis_url, key=redis_key))
    assert holder.try_acquire()  # the only shared slot, held by another "process"
    with RedisBackend(redis_url, key=redis_key) as backend:
        limiter = Limiter(1, backend=backend)
        got: list[bool] = []
        waiting = threading.Thread(target=lambda: got.append(limiter.acquire_slot_blocking()))
        waiting.start()
        while not limiter._waiters:  # it has joined the line (an event, not a time)
            assert waiting.is_alive()
            time.sleep(0.01)
    assert backend.closed
    waiting.join(60)
    assert got == [True] and limiter.in_use == 1
    holder.release()
    assert holder._shared is not None
    holder._shared.backend.close()
