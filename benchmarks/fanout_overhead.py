"""Fan-out overhead and makespan, measured side by side in one process.

(1) Microseconds per branch for 200, 2,000 and 100,000 branches of ``await asyncio.sleep(0)``
under a cap of 64, traced into an SDK TracerProvider with an in-memory exporter: fanscope's
``map`` against two hand-written versions (``asyncio.gather`` + ``Semaphore`` + one span per
branch): one with bare spans, one that records the same spans and attributes fanscope records
(role, index, outcome, the limiter and wait of a branch that waited; the fan-out's kind,
function, cap, policy, call site and counts; a fan-in span). Also both untraced. Each round
runs every case, the order rotated by one each round, each case for at least 4,000 branches
(``--per-round``: 20 fan-outs of 200, 2 of 2,000, 1 of 100,000), every fan-out starting from
the same state (the last one's spans let go of and a full garbage collection done, outside
the timed part); the figure is the median of the per-round (paired) ratios, with their
spread. The garbage collections each case's fan-outs make are counted and printed. Target:
fanscope <= 1.00x the hand-written version with the same attributes.

(2) The sync path: microseconds per branch for 2,000 branches of ``time.sleep(0)`` on 64
threads: fanscope's ``map`` of a plain ``def`` against two hand-written versions, a
``ThreadPoolExecutor`` of 64 workers with one span per branch made current on the worker
thread under a fan-out span: one with bare spans, one that records what fanscope records
(as in (1): role, index, outcome, the limiter and wait of a branch that waited for a free
worker; the fan-out's attributes and counts; a fan-in span). All traced into an in-memory
exporter. A round runs each case 3 times (``--sync-repeats``), in an order rotated each round
and reversed every other pass; the figures are medians of the per-round (paired) ratios of
wall time and of CPU time (all threads). Target: fanscope <= 1.25x the hand-written version
with the same attributes.

(3) Makespan, traced (both sides into an in-memory exporter): 200 branches with seeded random
sleeps of 5-50 ms under a cap of 16, wall time over the ideal greedy list-scheduling makespan;
and 4 sources of 200/200/200/400 ms, wall time over 0.4 s; each beside the hand-written
version, rounds alternated. Target: <= 1.02x + 5 ms.

(4) Instructions, with ``--parts instructions`` (needs ``valgrind``): instructions executed per
branch, counted by cachegrind, fanscope traced against the hand-written version with the same
attributes (with ``sync`` in ``--parts`` too, the sync path's as well). A count does not depend
on what else the machine runs, where times do: on a loaded machine it is the steadiest figure
there is, though it is not CPU time (cache misses, branches; and valgrind runs one thread at a
time, so it does not see 64 threads handing the GIL over). Each case runs in a process of its
own once and three times; the difference over the extra branches is the figure. What the
imports made is frozen (``gc.freeze``), so the collection after each run walks only what the
run left, as the timed part leaves that collection out.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python benchmarks/fanout_overhead.py``
(``--sizes 200,2000 --parts async`` for a quick run).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _targets import target
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

import fanscope
from fanscope import parallel
from fanscope.sdk import attributes as A
from fanscope.sdk.tracing import use_tracer_provider

BRANCHES = 2000  # the sync path's fan-out size
SIZES = (200, 2_000, 100_000)  # the async fan-out sizes, part (1)
CAP = 64


def hand_written(tracer: trace.Tracer, n: int) -> Callable[[], Awaitable[list[int]]]:
    """gather + Semaphore + one span per branch, with no attribute (the bare baseline)."""

    async def run() -> list[int]:
        sem = asyncio.Semaphore(CAP)

        async def branch(i: int) -> int:
            async with sem:
                with tracer.start_as_current_span("branch"):
                    await asyncio.sleep(0)
                    return i

        with tracer.start_as_current_span("fanout"):
            return list(await asyncio.gather(*(branch(i) for i in range(n))))

    return run


#: the fan-out's call site, as fanscope records it (``code.*``, docs/conventions.md)
CALL_SITE: dict[str, Any] = {
    "code.function.name": "fanout_overhead.run",
    "code.file.path": "benchmarks/fanout_overhead.py",
    "code.line.number": 120,
    "code.column.number": 16,
    A.CALLSITE_NEAREST: True,
}


def hand_written_same_attributes(
    tracer: trace.Tracer, n: int
) -> Callable[[], Awaitable[list[int]]]:
    """The same, recording what fanscope records: on the fan-out span its kind, function, cap,
    policy, call site and counts; on each branch span its role and index, its outcome, and,
    when it waited for the semaphore, the limiter and the wait (the span starting at its
    slot); and a fan-in span (the results put in order) with its role, kind and function."""

    async def run() -> list[int]:
        sem = asyncio.Semaphore(CAP)
        counts = {"ok": 0, "failed": 0}

        async def branch(i: int) -> int:
            submitted = time.time_ns()
            waits = sem.locked()
            async with sem:
                begun = time.time_ns()
                with tracer.start_as_current_span("work", start_time=begun) as span:
                    attrs: dict[str, Any] = {A.ROLE: A.ROLE_BRANCH, A.BRANCH_INDEX: i}
                    if waits:
                        attrs[A.QUEUE_LIMITER] = "work"
                        attrs[A.QUEUE_WAIT] = (begun - submitted) / 1e9
                    try:
                        await asyncio.sleep(0)
                        attrs[A.BRANCH_OUTCOME] = A.OUTCOME_OK
                        counts["ok"] += 1
                        return i
                    except Exception:
                        attrs[A.BRANCH_OUTCOME] = A.OUTCOME_ERROR
                        counts["failed"] += 1
                        raise
                    finally:
                        span.set_attributes(attrs)

        attrs: dict[str, Any] = {
            A.ROLE: A.ROLE_FANOUT,
            A.KIND: A.KIND_MAP,
            A.FANOUT_ON_ERROR: A.ON_ERROR_RAISE,
            A.FUNCTION: "bench.work",
            A.FANOUT_MAX_CONCURRENCY: CAP,
            **CALL_SITE,  # written by hand: a constant
        }
        with tracer.start_as_current_span("map work", attributes=attrs) as fanout:
            try:
                done = await asyncio.gather(*(branch(i) for i in range(n)))
                fan_in = {A.ROLE: A.ROLE_FANIN, A.KIND: A.KIND_MAP, A.FUNCTION: "bench.work"}
                with tracer.start_as_current_span("fan-in work", attributes=fan_in):
                    return list(done)
            finally:
                fanout.set_attributes(
                    {
                        A.FANOUT_SIZE: n,
                        A.FANOUT_SUCCEEDED: counts["ok"],
                        A.FANOUT_FAILED: counts["failed"],
                        A.FANOUT_CANCELLED: 0,
                    }
                )

    return run


@parallel(max_concurrency=CAP)
async def work(i: int) -> int:
    await asyncio.sleep(0)
    return i


def with_fanscope(n: int) -> Callable[[], Awaitable[list[int]]]:
    async def run() -> list[int]:
        return await work.map(range(n))

    return run


#: branches each case runs per round at least (a small fan-out runs several times a round):
#: a round of 200 branches is about 20 ms, where one preemption or one cache-cold start is a
#: large share of it; 4,000 branches make a round of about half a second per case
PER_ROUND = 4_000


def repeats_for(n: int, per_round: int = PER_ROUND) -> int:
    """Fan-outs of ``n`` branches each case runs per round (see :data:`PER_ROUND`)."""
    return max(1, -(-per_round // n))


def overhead(n: int, rounds: int, per_round: int = PER_ROUND) -> dict[str, Any]:
    """Seconds per branch of each case (medians) and the medians of the paired ratios.

    Every round runs each case :func:`repeats_for` times, one after the other in an order
    rotated by one each round (so no case always follows the same one), each of those runs
    starting from the same state: the spans of the last one let go of and a full garbage
    collection done, outside the timed part; a case's time in the round is the sum of its
    runs. Round 0 warms up and is not counted. The collections each case's runs made
    (young, middle, full) are counted: they are the same in every round, so the choice of
    the runs a collection lands in is the case's own, not chance.
    """
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    noop = NoOpTracerProvider()
    tracer, untraced = sdk.get_tracer("bench"), noop.get_tracer("bench")
    cases = {
        "fanscope, traced": (sdk, with_fanscope(n)),
        "hand-written, same attributes": (sdk, hand_written_same_attributes(tracer, n)),
        "hand-written, bare spans": (sdk, hand_written(tracer, n)),
        "fanscope, no tracing": (noop, with_fanscope(n)),
        "hand-written, no tracing": (noop, hand_written(untraced, n)),
    }
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    repeats = repeats_for(n, per_round)
    collections: dict[str, list[int]] = {name: [0, 0, 0] for name in cases}
    counting: list[int] | None = None

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and counting is not None:
            counting[info["generation"]] += 1

    async def one(
        provider: trace.TracerProvider, fn: Callable[[], Awaitable[list[int]]]
    ) -> tuple[float, float]:
        with use_tracer_provider(provider):
            start, start_cpu = time.perf_counter(), time.process_time()
            result = await fn()
            elapsed, used = time.perf_counter() - start, time.process_time() - start_cpu
        assert result == list(range(n))
        return elapsed, used

    async def main() -> None:
        nonlocal counting
        gc.callbacks.append(count)
        try:
            for r in range(rounds + 1):
                wall = dict.fromkeys(names, 0.0)
                used = dict.fromkeys(names, 0.0)
                for _ in range(repeats):
                    for name in names[r % len(names) :] + names[: r % len(names)]:
                        provider, fn = cases[name]
                        counting = collections[name] if r == 1 else None
                        elapsed, spent = await one(provider, fn)
                        counting = None
                        exporter.clear()
                        gc.collect()  # the spans just let go of: not on the next run's bill
                        wall[name] += elapsed
                        used[name] += spent
                if r:  # round 0 warms up
                    for name in names:
                        samples[name].append(wall[name] / repeats)
                        cpu[name].append(used[name] / repeats)
        finally:
            gc.callbacks.remove(count)

    gc.collect()
    asyncio.run(main())
    result: dict[str, Any] = {
        name: (statistics.median(samples[name]) / n * 1e6, statistics.median(cpu[name]) / n * 1e6)
        for name in cases
    }
    result["repeats"] = repeats
    result["collections"] = {name: [c / repeats for c in got] for name, got in collections.items()}
    # paired ratios (same round, close in time) are steadier than a ratio of medians here;
    # CPU time (one thread) is what to read on a loaded machine, wall time on a quiet one
    for label, ours, theirs in PAIRS:
        for measure, got in (("wall", samples), ("CPU", cpu)):
            pairs = [a / b for a, b in zip(got[ours], got[theirs], strict=True)]
            result[f"{label} {measure}"] = (statistics.median(pairs), min(pairs), max(pairs))
    return result


PAIRS = (
    ("traced, same attributes", "fanscope, traced", "hand-written, same attributes"),
    ("traced, bare spans", "fanscope, traced", "hand-written, bare spans"),
    ("untraced", "fanscope, no tracing", "hand-written, no tracing"),
)


def sync_hand_written(tracer: trace.Tracer) -> list[int]:
    """A ThreadPoolExecutor + one span per branch, with no attribute (the bare baseline)."""
    with tracer.start_as_current_span("fanout"):
        parent = context.get_current()

        def branch(i: int) -> int:
            with tracer.start_as_current_span("branch", context=parent):
                time.sleep(0)
                return i

        with ThreadPoolExecutor(CAP) as pool:
            return list(pool.map(branch, range(BRANCHES)))


def sync_hand_written_same_attributes(tracer: trace.Tracer) -> list[int]:
    """The same, recording what fanscope records, as the async part's fair baseline does: on
    the fan-out span its kind, function, cap, policy, call site and counts; on each branch
    span its role and index, its outcome, and, for a branch that waited for a free worker (the
    pool's first 64 start at once), the limiter and the wait (from its submission to the
    span's start); and a fan-in span (the results put in order). The counts are kept under a
    lock, as a careful engineer counts from 64 threads."""
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    attrs: dict[str, Any] = {
        A.ROLE: A.ROLE_FANOUT,
        A.KIND: A.KIND_MAP,
        A.FANOUT_ON_ERROR: A.ON_ERROR_RAISE,
        A.FUNCTION: "bench.sync_work",
        A.FANOUT_MAX_CONCURRENCY: CAP,
        **CALL_SITE,  # written by hand: a constant
    }
    with tracer.start_as_current_span("map sync_work", attributes=attrs) as fanout:
        parent = context.get_current()
        submitted = time.time_ns()

        def branch(i: int) -> int:
            begun = time.time_ns()
            with tracer.start_as_current_span(
                "sync_work", context=parent, start_time=begun
            ) as span:
                attrs: dict[str, Any] = {A.ROLE: A.ROLE_BRANCH, A.BRANCH_INDEX: i}
                if i >= CAP:
                    attrs[A.QUEUE_LIMITER] = "sync_work"
                    attrs[A.QUEUE_WAIT] = (begun - submitted) / 1e9
                try:
                    time.sleep(0)
                    attrs[A.BRANCH_OUTCOME] = A.OUTCOME_OK
                    with lock:
                        counts["ok"] += 1
                    return i
                except Exception:
                    attrs[A.BRANCH_OUTCOME] = A.OUTCOME_ERROR
                    with lock:
                        counts["failed"] += 1
                    raise
                finally:
                    span.set_attributes(attrs)

        try:
            with ThreadPoolExecutor(CAP) as pool:
                done = list(pool.map(branch, range(BRANCHES)))
            fan_in = {A.ROLE: A.ROLE_FANIN, A.KIND: A.KIND_MAP, A.FUNCTION: "bench.sync_work"}
            with tracer.start_as_current_span("fan-in sync_work", attributes=fan_in):
                return done
        finally:
            fanout.set_attributes(
                {
                    A.FANOUT_SIZE: BRANCHES,
                    A.FANOUT_SUCCEEDED: counts["ok"],
                    A.FANOUT_FAILED: counts["failed"],
                    A.FANOUT_CANCELLED: 0,
                }
            )


@parallel(max_concurrency=CAP)
def sync_work(i: int) -> int:
    time.sleep(0)
    return i


def with_fanscope_sync(tracer: trace.Tracer) -> list[int]:
    return sync_work.map(range(BRANCHES))


#: the sync part's cases; each is given the tracer of the provider every case runs under
SYNC_CASES: dict[str, Callable[[trace.Tracer], list[int]]] = {
    "fanscope sync map": with_fanscope_sync,
    "hand-written, same attributes": sync_hand_written_same_attributes,
    "hand-written, bare spans": sync_hand_written,
}
SYNC_PAIRS = (
    ("same attributes", "fanscope sync map", "hand-written, same attributes"),
    ("bare spans", "fanscope sync map", "hand-written, bare spans"),
)


def sync_overhead(rounds: int, repeats: int) -> dict[str, Any]:
    """Seconds per branch of each sync case (medians) and the medians of the paired ratios.

    A round runs every case ``repeats`` times, in an order rotated by one each round and
    reversed every other pass (A B C C B A A B C ...), so that a drift of the machine's speed
    within the round falls on every case alike; a case's figure for the round is the sum of
    its passes. Before each run the garbage of the last one is collected (untimed), so every
    run starts with the collector in the same state; round 0 warms up and is not counted.
    """
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = sdk.get_tracer("bench")
    names = list(SYNC_CASES)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    with use_tracer_provider(sdk):
        for r in range(rounds + 1):
            order = names[r % len(names) :] + names[: r % len(names)]
            spent = {name: [0.0, 0.0] for name in names}
            for p in range(repeats):
                for name in order if p % 2 == 0 else order[::-1]:
                    exporter.clear()
                    gc.collect()  # the last run's spans and garbage: on nobody's bill
                    start, start_cpu = time.perf_counter(), time.process_time()
                    values = SYNC_CASES[name](tracer)
                    elapsed = time.perf_counter() - start
                    used = time.process_time() - start_cpu  # every thread's CPU time
                    assert values == list(range(BRANCHES))
                    assert len(exporter.get_finished_spans()) >= BRANCHES  # really traced
                    spent[name][0] += elapsed
                    spent[name][1] += used
            if r:  # round 0 warms up
                for name in names:
                    wall[name].append(spent[name][0] / repeats)
                    cpu[name].append(spent[name][1] / repeats)
    result: dict[str, Any] = {
        name: (
            statistics.median(wall[name]) / BRANCHES * 1e6,
            statistics.median(cpu[name]) / BRANCHES * 1e6,
        )
        for name in names
    }
    for label, ours, theirs in SYNC_PAIRS:
        for measure, got in (("wall", wall), ("CPU", cpu)):
            pairs = [a / b for a, b in zip(got[ours], got[theirs], strict=True)]
            result[f"{label} {measure}"] = (statistics.median(pairs), min(pairs), max(pairs))
    return result


def greedy_makespan(durations: list[float], cap: int) -> float:
    """List scheduling in input order onto ``cap`` workers: what a perfect runtime achieves."""
    free = [0.0] * cap
    for d in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + d)
    return max(free)


def makespan(rounds: int) -> dict[str, tuple[float, float, float]]:
    """Traced wall times, fanscope and hand-written side by side, and the ideal: medians."""
    rng = random.Random(42)
    durations = [rng.uniform(0.005, 0.050) for _ in range(200)]
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = sdk.get_tracer("bench")

    @parallel(max_concurrency=16)
    async def sleeper(d: float) -> float:
        await asyncio.sleep(d)
        return d

    async def by_hand(d: float, sem: asyncio.Semaphore) -> float:
        async with sem:
            with tracer.start_as_current_span("sleeper"):
                await asyncio.sleep(d)
                return d

    async def hand_map() -> None:
        sem = asyncio.Semaphore(16)
        with tracer.start_as_current_span("map sleeper"):
            await asyncio.gather(*(by_hand(d, sem) for d in durations))

    async def source(d: float) -> float:
        await asyncio.sleep(d)
        return d

    async def traced_source(d: float) -> float:
        with tracer.start_as_current_span("source"):
            return await source(d)

    async def hand_gather() -> None:
        with tracer.start_as_current_span("gather"):
            await asyncio.gather(*(traced_source(d) for d in (0.2, 0.2, 0.2, 0.4)))

    async def our_map() -> None:
        await sleeper.map(durations)

    async def our_gather() -> None:
        await fanscope.gather(
            news=source(0.2), filings=source(0.2), prices=source(0.2), db=source(0.4)
        )

    cases: dict[str, tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]], float]]
    cases = {
        "200 branches, cap 16": (our_map, hand_map, greedy_makespan(durations, 16)),
        "4 sources 200/200/200/400 ms": (our_gather, hand_gather, 0.4),
    }

    async def timed(fn: Callable[[], Awaitable[None]]) -> float:
        start = time.perf_counter()
        await fn()
        elapsed = time.perf_counter() - start
        exporter.clear()
        return elapsed

    async def main() -> dict[str, tuple[float, float, float]]:
        out = {}
        with use_tracer_provider(sdk):
            for name, (ours, theirs, ideal) in cases.items():
                mine, hand = [], []
                for r in range(rounds):
                    first, second = (ours, theirs) if r % 2 == 0 else (theirs, ours)
                    a, b = await timed(first), await timed(second)
                    mine.append(a if first is ours else b)
                    hand.append(b if first is ours else a)
                out[name] = (statistics.median(mine), statistics.median(hand), ideal)
        return out

    return asyncio.run(main())


COUNTED = {"fanscope, traced": "fanscope", "hand-written, same attributes": "hand-written"}


#: the sync cases counted, and their names on the command line (``--count``)
COUNTED_SYNC = {"fanscope sync map": "sync-fanscope", "hand-written, same attributes": "sync-hand"}


def count_case(case: str, n: int, reps: int) -> None:
    """Run one traced case ``reps`` times in this process (what ``instructions`` counts)."""
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    sync = {flag: name for name, flag in COUNTED_SYNC.items()}
    if case in sync:
        with use_tracer_provider(sdk):
            for _ in range(reps):
                assert SYNC_CASES[sync[case]](sdk.get_tracer("bench")) == list(range(BRANCHES))
                exporter.clear()
                gc.collect()
        return
    fn = (
        with_fanscope(n)
        if case == "fanscope"
        else hand_written_same_attributes(sdk.get_tracer("bench"), n)
    )

    async def main() -> None:
        for _ in range(reps):
            assert await fn() == list(range(n))
            exporter.clear()
            gc.collect()  # only what the run left: the rest is frozen below

    gc.collect()
    gc.freeze()  # what the imports made is not walked again by each run's collection
    with use_tracer_provider(sdk):
        asyncio.run(main())


def instructions(n: int, counted: dict[str, str] = COUNTED) -> dict[str, float]:
    """Instructions per branch of each counted case (cachegrind: 3 runs less 1 run)."""
    out = {}
    for name, case in counted.items():
        got = []
        for reps in (1, 3):
            done = subprocess.run(
                ["valgrind", "--tool=cachegrind", "--cache-sim=no",
                 "--cachegrind-out-file=/dev/null", sys.executable, __file__,
                 "--count", case, str(n), str(reps)],
                capture_output=True, text=True, check=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )  # fmt: skip
            refs = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
            assert refs is not None, done.stderr[-500:]
            got.append(int(refs.group(1).replace(",", "")))
        out[name] = (got[1] - got[0]) / (2 * n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="async fan-out sizes; 100,000 gets a fifth of the rounds (at least 3)",
    )
    parser.add_argument("--parts", default="async,sync,makespan", help="also: instructions")
    parser.add_argument(
        "--sync-repeats", type=int, default=3, help="runs of each sync case per round"
    )
    parser.add_argument(
        "--per-round",
        type=int,
        default=PER_ROUND,
        help="branches each async case runs per round at least (a small fan-out repeats)",
    )
    parser.add_argument("--count", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:
        count_case(args.count[0], int(args.count[1]), int(args.count[2]))
        return
    parts = args.parts.split(",")
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load:.1f} at the start")

    for n in [int(s) for s in args.sizes.split(",")] if "async" in parts else []:
        rounds = args.rounds if n <= 10_000 else max(3, args.rounds // 5)
        per_branch = overhead(n, rounds, args.per_round)
        repeats = per_branch["repeats"]
        print(
            f"fan-out overhead: {n:,} branches of sleep(0), cap {CAP}, {rounds} rounds "
            f"(order rotated each round; {repeats} fan-out{'s' if repeats > 1 else ''} per case "
            "per round), traced into an in-memory exporter"
        )
        print(f"  {'':<32} {'wall':>17} {'CPU':>17}   garbage collections per fan-out")
        for name, made in per_branch["collections"].items():
            wall, used = per_branch[name]
            young, middle, full = (f"{c:g}" for c in made)
            print(
                f"  {name:<32} {wall:8.1f} us/branch {used:8.1f} us/branch   "
                f"{young} young, {middle} middle, {full} full"
            )
        for label, _, theirs in PAIRS:
            goal = " (target <= 1.00x)" if label == "traced, same attributes" else ""
            print(f"  median paired ratio, {label}: fanscope / {theirs}{goal}")
            for measure in ("CPU", "wall"):
                mid, low, high = per_branch[f"{label} {measure}"]
                print(f"    {measure:<4} {mid:.2f}x (rounds {low:.2f}-{high:.2f}x)")
        mid, low, high = per_branch["traced, same attributes CPU"]
        wall = per_branch["traced, same attributes wall"]
        target(
            f"fan-out overhead, traced, {n:,} branches",
            mid,
            1.0,
            note=f"CPU, median of {rounds} paired rounds ({low:.2f}-{high:.2f}x); "
            f"wall {wall[0]:.2f}x",
        )

    if "sync" in parts:
        threads = sync_overhead(args.rounds, args.sync_repeats)
        print(
            f"sync path: {BRANCHES:,} branches of time.sleep(0) on {CAP} threads, "
            f"{args.rounds} rounds of {args.sync_repeats} runs each (order rotated each round), "
            "traced into an in-memory exporter"
        )
        for name in SYNC_CASES:
            w, used = threads[name]
            print(f"  {name:<32} {w:8.1f} us/branch wall {used:8.1f} us/branch CPU")
        for label, _, theirs in SYNC_PAIRS:
            goal = " (target <= 1.25x)" if label == "same attributes" else ""
            print(f"  median paired ratio, {label}: fanscope / {theirs}{goal}")
            for measure in ("CPU", "wall"):
                mid, low, high = threads[f"{label} {measure}"]
                print(f"    {measure:<4} {mid:.2f}x (rounds {low:.2f}-{high:.2f}x)")
        print(f"  load average {os.getloadavg()[0]:.1f} after the sync part")
        mid, low, high = threads["same attributes CPU"]
        target(
            f"sync path overhead, traced, {BRANCHES:,} branches",
            mid,
            1.25,
            note=f"CPU, median of {args.rounds} paired rounds ({low:.2f}-{high:.2f}x); "
            f"wall {threads['same attributes wall'][0]:.2f}x",
        )

    if "makespan" in parts:
        rounds = max(3, args.rounds // 3)
        print(f"makespan, traced (both sides into an in-memory exporter), median of {rounds}")
        for name, (wall, hand, ideal) in makespan(rounds).items():
            ok = wall <= ideal * 1.02 + 0.005
            print(
                f"  {name:<30} fanscope {wall * 1000:7.1f} ms ({wall / ideal:.3f}x ideal, "
                f"{'within' if ok else 'OUTSIDE'} 1.02x + 5 ms)  hand-written "
                f"{hand * 1000:7.1f} ms ({hand / ideal:.3f}x)  ideal {ideal * 1000:7.1f} ms  "
                f"fanscope / hand-written {wall / hand:.3f}x"
            )
            short = "200 branches cap 16" if name.startswith("200") else "4 sources"
            target(
                f"makespan, traced, {short}",
                wall * 1000,
                (ideal * 1.02 + 0.005) * 1000,
                unit=" ms",
                digits=1,
                note=f"1.02x ideal + 5 ms; {wall / ideal:.3f}x ideal, hand-written "
                f"{hand / ideal:.3f}x, median of {rounds}",
            )
    if "instructions" in parts:
        counted = [int(s) for s in args.sizes.split(",") if int(s) <= 10_000]
        if shutil.which("valgrind") is None:
            print("instructions: valgrind is not installed (apt-get install valgrind)")
            counted = []
        for n in counted:
            counts = instructions(n)
            ours, theirs = (counts[name] for name in COUNTED)
            print(
                f"instructions per branch, {n:,} branches (cachegrind, 3 runs less 1): "
                f"fanscope traced {ours:,.0f}, hand-written with the same attributes "
                f"{theirs:,.0f}: {ours / theirs:.3f}x"
            )
        if shutil.which("valgrind") is not None and "sync" in parts:
            counts = instructions(BRANCHES, COUNTED_SYNC)
            ours, theirs = (counts[name] for name in COUNTED_SYNC)
            print(
                f"instructions per branch, sync path, {BRANCHES:,} branches (cachegrind, 3 runs "
                f"less 1; valgrind runs one thread at a time, so the hand-overs of the GIL "
                f"between 64 threads are not counted as they happen): fanscope {ours:,.0f}, "
                f"hand-written with the same attributes {theirs:,.0f}: {ours / theirs:.3f}x"
            )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
