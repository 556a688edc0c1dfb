"""Fan-out overhead and makespan, measured side by side in one process.

(1) Microseconds per branch for 2,000 branches of ``await asyncio.sleep(0)`` under a cap of
64: fanscope's ``map`` against a hand-written ``asyncio.gather`` + ``Semaphore`` + one manual
span per branch, both with an SDK TracerProvider and an in-memory exporter, and both without
tracing. Rounds are interleaved and medians reported. Target: fanscope <= 1.25x hand-written.

(2) The sync path: microseconds per branch for 2,000 branches of ``time.sleep(0)`` on 64
threads: fanscope's ``map`` of a plain ``def`` against a hand-written ``ThreadPoolExecutor``
of 64 workers + one manual span per branch (the branch span made current on the worker
thread, under a fan-out span), both traced into an in-memory exporter. Rounds interleaved,
median of the paired ratios. Target: fanscope <= 1.25x hand-written.

(3) Makespan: 200 branches with seeded random sleeps of 5-50 ms under a cap of 16, wall time
over the ideal greedy list-scheduling makespan; and 4 sources of 200/200/200/400 ms, wall
time over 0.4 s. Target: <= 1.02x + 5 ms.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python benchmarks/fanout_overhead.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

import fanscope
from fanscope import parallel
from fanscope.sdk.tracing import use_tracer_provider

BRANCHES = 2000
CAP = 64


def hand_written(tracer: trace.Tracer) -> Callable[[], Awaitable[list[int]]]:
    async def run() -> list[int]:
        sem = asyncio.Semaphore(CAP)

        async def branch(i: int) -> int:
            async with sem:
                with tracer.start_as_current_span("branch"):
                    await asyncio.sleep(0)
                    return i

        with tracer.start_as_current_span("fanout"):
            return list(await asyncio.gather(*(branch(i) for i in range(BRANCHES))))

    return run


@parallel(max_concurrency=CAP)
async def work(i: int) -> int:
    await asyncio.sleep(0)
    return i


def with_fanscope() -> Callable[[], Awaitable[list[int]]]:
    async def run() -> list[int]:
        return await work.map(range(BRANCHES))

    return run


def overhead(rounds: int) -> dict[str, float]:
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    noop = NoOpTracerProvider()
    cases = {
        "hand-written, traced": (sdk, hand_written(sdk.get_tracer("bench"))),
        "fanscope, traced": (sdk, with_fanscope()),
        "hand-written, no tracing": (noop, hand_written(noop.get_tracer("bench"))),
        "fanscope, no tracing": (noop, with_fanscope()),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}

    async def one(provider: trace.TracerProvider, fn: Callable[[], Awaitable[list[int]]]) -> float:
        with use_tracer_provider(provider):
            start = time.perf_counter()
            result = await fn()
            elapsed = time.perf_counter() - start
        assert result == list(range(BRANCHES))
        return elapsed

    async def main() -> None:
        for r in range(rounds + 1):
            for name, (provider, fn) in cases.items():
                elapsed = await one(provider, fn)
                exporter.clear()
                if r:  # round 0 warms up
                    samples[name].append(elapsed)

    asyncio.run(main())
    result = {name: statistics.median(s) / BRANCHES * 1e6 for name, s in samples.items()}
    # paired ratios (same round, back to back) are steadier than a ratio of medians here
    for label, ours, theirs in (
        ("traced", "fanscope, traced", "hand-written, traced"),
        ("untraced", "fanscope, no tracing", "hand-written, no tracing"),
    ):
        pairs = [a / b for a, b in zip(samples[ours], samples[theirs], strict=True)]
        result[f"ratio {label}"] = statistics.median(pairs)
    return result


def sync_hand_written(tracer: trace.Tracer) -> list[int]:
    with tracer.start_as_current_span("fanout"):
        parent = context.get_current()

        def branch(i: int) -> int:
            with tracer.start_as_current_span("branch", context=parent):
                time.sleep(0)
                return i

        with ThreadPoolExecutor(CAP) as pool:
            return list(pool.map(branch, range(BRANCHES)))


@parallel(max_concurrency=CAP)
def sync_work(i: int) -> int:
    time.sleep(0)
    return i


def sync_overhead(rounds: int) -> dict[str, float]:
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = sdk.get_tracer("bench")
    cases: dict[str, Callable[[], list[int]]] = {
        "hand-written threads, traced": lambda: sync_hand_written(tracer),
        "fanscope sync map, traced": lambda: sync_work.map(range(BRANCHES)),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    with use_tracer_provider(sdk):
        for r in range(rounds + 1):
            for name, fn in cases.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                values = fn()
                elapsed = time.perf_counter() - start
                used = time.process_time() - start_cpu  # every thread's CPU time
                assert values == list(range(BRANCHES))
                exporter.clear()
                if r:  # round 0 warms up
                    samples[name].append(elapsed)
                    cpu[name].append(used)
    result = {name: statistics.median(s) / BRANCHES * 1e6 for name, s in samples.items()}
    for name, s in cpu.items():
        result[f"{name} (CPU)"] = statistics.median(s) / BRANCHES * 1e6
    ours, theirs = "fanscope sync map, traced", "hand-written threads, traced"
    paired = zip(samples[ours], samples[theirs], strict=True)
    result["ratio"] = statistics.median([a / b for a, b in paired])
    paired = zip(cpu[ours], cpu[theirs], strict=True)
    result["ratio cpu"] = statistics.median([a / b for a, b in paired])
    return result


def greedy_makespan(durations: list[float], cap: int) -> float:
    """List scheduling in input order onto ``cap`` workers: what a perfect runtime achieves."""
    free = [0.0] * cap
    for d in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + d)
    return max(free)


def makespan() -> dict[str, tuple[float, float]]:
    rng = random.Random(42)
    durations = [rng.uniform(0.005, 0.050) for _ in range(200)]

    @parallel(max_concurrency=16)
    async def sleeper(d: float) -> float:
        await asyncio.sleep(d)
        return d

    async def source(d: float) -> float:
        await asyncio.sleep(d)
        return d

    async def main() -> dict[str, tuple[float, float]]:
        with use_tracer_provider(NoOpTracerProvider()):
            start = time.perf_counter()
            await sleeper.map(durations)
            mapped = time.perf_counter() - start
            start = time.perf_counter()
            await fanscope.gather(
                news=source(0.2), filings=source(0.2), prices=source(0.2), db=source(0.4)
            )
            gathered = time.perf_counter() - start
        return {
            "200 branches, cap 16": (mapped, greedy_makespan(durations, 16)),
            "4 sources 200/200/200/400 ms": (gathered, 0.4),
        }

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    per_branch = overhead(args.rounds)
    print(f"fan-out overhead: {BRANCHES} branches of sleep(0), cap {CAP}, median of {args.rounds}")
    for name, us in per_branch.items():
        if not name.startswith("ratio"):
            print(f"  {name:<28} {us:8.1f} us/branch")
    traced, bare = per_branch["ratio traced"], per_branch["ratio untraced"]
    print(
        f"  median paired ratio, traced:   fanscope / hand-written = {traced:.2f}x "
        "(target <= 1.25x)"
    )
    print(f"  median paired ratio, untraced: fanscope / hand-written = {bare:.2f}x")

    threads = sync_overhead(args.rounds)
    print(
        f"sync path: {BRANCHES} branches of time.sleep(0) on {CAP} threads, median of {args.rounds}"
    )
    for name, us in threads.items():
        if not name.startswith("ratio"):
            print(f"  {name:<36} {us:8.1f} us/branch")
    print(
        f"  median paired ratio, traced:   fanscope / hand-written = {threads['ratio']:.2f}x "
        f"wall, {threads['ratio cpu']:.2f}x CPU (target <= 1.25x)"
    )

    print("makespan: wall time over the ideal")
    for name, (wall, ideal) in makespan().items():
        ratio = wall / ideal
        ok = wall <= ideal * 1.02 + 0.005
        print(
            f"  {name:<30} wall {wall * 1000:7.1f} ms  ideal {ideal * 1000:7.1f} ms  "
            f"ratio {ratio:.3f}x  ({'within' if ok else 'OUTSIDE'} 1.02x + 5 ms)"
        )


if __name__ == "__main__":
    main()
