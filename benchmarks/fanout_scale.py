"""Fan-outs of 1k to 1M branches: peak memory, and CPU per branch measured side by side.

Fan-outs of N branches under a cap of 64, no tracing (a no-op tracer provider: the runtime's
own cost; ``fanout_overhead.py`` measures tracing). Work per branch: ``await
asyncio.sleep(0)`` or ``await asyncio.sleep(0.001)``. Side by side:

* ``hand-written``: ``asyncio.gather`` over one coroutine per item + ``asyncio.Semaphore``
  (every branch task exists from the start).
* ``fanscope map``: ``await work.map(range(N))`` on a ``@parallel(max_concurrency=64)``.
* ``aiometer amap``: ``aiometer.amap(work, range(N), max_at_once=64)``, results collected.
* ``fanscope stream`` / ``aiometer stream``: ``as_completed`` / ``run_on_each``, no result
  kept (memory flat in N).

Two parts for each kind of work:

1. **Memory, one fresh process per point.** A process measures its first fan-out's peak
   resident memory over the process's memory just before it (after imports and a warm-up
   fan-out of 128 branches of the same work), then runs a few more fan-outs of the same N
   (about ``--least`` / 5 branches in all); it also prints the median CPU and wall time per
   branch of its fan-outs, as context. Results are ints (one per item, about 36 bytes with
   the list's pointer); the script measures their size and reports memory over the baseline
   without them.
2. **CPU per branch at N over at the smallest size, side by side in one process.** This
   machine's speed drifts over seconds: the same 1,000-branch point moved 15-28 us per branch
   between back-to-back processes, and from block to block inside one process, so a ratio of
   points measured in separate processes was decided by the drift. For each size N past the
   smallest, each process runs the reference (fan-outs of the smallest size) and fan-outs of
   N around the same moment: half the reference, the N block (about ``--least`` branches, at
   least one fan-out), the other half (the reference runs as many branches as the N block);
   in every other process, where the N block has two fan-outs or more, half the N block, the
   reference, the other half. Its ratio is the CPU per branch over the N block over the CPU
   per branch over the reference. A size's ratio is the median of 3 processes (2 at
   1,000,000, where each runs 2,000,000 branches); the implementations take turns.

Targets (fanscope): memory over the baseline, less the results, at most cap x 8 KB at every
size (so flat from 10k to 1M); CPU per branch flat within 20% across the sizes: the largest
over the smallest of 1 (the smallest size against itself) and each size's paired ratio at
most 1.2x. ``x hand`` columns: the figure over the hand-written one; the hand-written
version's own flatness, measured the same way, is printed beside the target as context (not
a target: its memory grows with the items).

With ``--parts time,instructions`` (needs ``valgrind``) it also counts, for the sizes up to 100,000,
the instructions per branch (cachegrind: a process running two fan-outs less one running
one) and the event loop's iterations per branch in that run: what each side executes per
branch, whatever the load and the clock (valgrind runs everything about 50x slower, so every
timer is late and the loop never idles: the counts are those of a busy loop).

Run: ``.venv/bin/python benchmarks/fanout_scale.py`` (``--sizes 1000,10000`` for a quick run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _targets import target

CAP = 64
SIZES = (1_000, 10_000, 100_000, 1_000_000)
WORKS = {"sleep(0)": 0.0, "sleep(1 ms)": 0.001}
ALL_IMPLS = ("hand-written", "fanscope map", "aiometer amap", "fanscope stream", "aiometer stream")
FANSCOPE = ("fanscope map", "fanscope stream")
PER_SLOT = 8 * 1024  # "a few KB" per slot of the cap
FLAT = 1.20


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> None:
    """Start the peak resident size (VmHWM) afresh, so imports do not count in it."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def results_size(results: list[Any]) -> int:
    """Bytes the results hold: the list and every int not cached by the interpreter, each
    rounded up as the allocator rounds it (16 bytes: a 28-byte int takes 32)."""
    ints = sum(-(-sys.getsizeof(v) // 16) * 16 for v in results if not -5 <= v <= 256)
    return sys.getsizeof(results) + ints


def make_point(impl: str, n: int, delay: float) -> Callable[[], Awaitable[list[Any]]]:
    async def work(i: int) -> int:
        await asyncio.sleep(delay)
        return i

    if impl == "hand-written":

        async def hand_written() -> list[Any]:
            sem = asyncio.Semaphore(CAP)

            async def branch(i: int) -> int:
                async with sem:
                    return await work(i)

            return list(await asyncio.gather(*(branch(i) for i in range(n))))

        return hand_written
    if impl.startswith("fanscope"):
        from fanscope import parallel

        bounded = parallel(max_concurrency=CAP)(work)
        if impl == "fanscope map":

            async def fanscope_map() -> list[Any]:
                return await bounded.map(range(n))

            return fanscope_map

        async def fanscope_stream() -> list[Any]:
            async for _ in bounded.as_completed(range(n)):
                pass
            return []

        return fanscope_stream
    import aiometer

    if impl == "aiometer amap":

        async def aiometer_amap() -> list[Any]:
            out = []
            async with aiometer.amap(work, range(n), max_at_once=CAP) as results:
                async for value in results:
                    out.append(value)
            return out

        return aiometer_amap

    async def aiometer_stream() -> list[Any]:
        await aiometer.run_on_each(work, range(n), max_at_once=CAP)
        return []

    return aiometer_stream


def point(impl: str, n: int, work: str, fanouts: int = 1) -> dict[str, Any]:
    """``fanouts`` fan-outs of ``n`` in this process; the figures as a dict: the first one's
    memory, and the median of the fan-outs' CPU and wall time per branch."""
    from opentelemetry.trace import NoOpTracerProvider

    from fanscope.sdk.tracing import use_tracer_provider

    run = make_point(impl, n, WORKS[work])

    async def main() -> dict[str, Any]:
        await run_small()  # warm the code paths once (imports, first-call set-up)
        import gc

        cpus, walls = [], []
        base = over = kept = 0
        for i in range(fanouts):
            gc.collect()  # every fan-out starts from the same collector state
            if i == 0:
                reset_peak()
                base = rss_now()
            cpu, wall = time.process_time(), time.perf_counter()
            results = await run()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            cpus.append(cpu / n * 1e6)
            walls.append(wall / n * 1e6)
            if i == 0:  # the memory of the process's first fan-out, its results held
                over = max(0, peak_rss() - base)
                kept = results_size(results) if results else 0
            if impl.endswith("stream"):
                assert results == []
            else:
                assert sorted(results) == list(range(n)), "every item once"
            del results
        return {
            "impl": impl,
            "n": n,
            "work": work,
            "over": over,
            "results": kept,
            "cpu_us": statistics.median(cpus),
            "wall_us": statistics.median(walls),
            "fanouts": fanouts,
        }

    # the same work as the measured fan-out (a timer per branch for 1 ms): its first use sets
    # up what the rest reuse, and would otherwise land on the smallest point alone
    small = make_point(impl, 2 * CAP, WORKS[work])

    async def run_small() -> None:
        await small()

    with use_tracer_provider(NoOpTracerProvider()):
        return asyncio.run(main())


def plan(n: int, ref: int, least: int, pattern: int) -> list[tuple[str, int, int]]:
    """The blocks of a paired process, as (which, size, fan-outs): about ``least`` branches
    in fan-outs of ``n`` (at least one), and as many in fan-outs of ``ref`` (the reference),
    interleaved so that both sides sit around the same moments of the process and a drift of
    the machine's speed over seconds weighs on both alike. With one fan-out of ``n``: half the
    reference, the fan-out, the other half. With more: each fan-out of ``n`` beside as many
    branches of the reference, the reference first (pattern 0) or the fan-out of ``n`` first
    (pattern 1: the order turned round in every other process)."""
    per = max(1, least // n)
    group = max(1, n // ref)  # fan-outs of ``ref`` beside one fan-out of ``n``
    if per == 1:
        half = max(1, group // 2)
        return [("ref", ref, half), ("n", n, 1), ("ref", ref, group - half or 1)]
    pair = [("ref", ref, group), ("n", n, 1)]
    return (pair if pattern == 0 else pair[::-1]) * per


def paired(impl: str, n: int, ref: int, work: str, least: int, pattern: int) -> dict[str, Any]:
    """Fan-outs of ``ref`` and of ``n`` interleaved in this process (:func:`plan`); CPU per
    branch of each side over all its fan-outs, and their ratio."""
    import gc

    from opentelemetry.trace import NoOpTracerProvider

    from fanscope.sdk.tracing import use_tracer_provider

    runs = {"n": make_point(impl, n, WORKS[work]), "ref": make_point(impl, ref, WORKS[work])}
    small = make_point(impl, 2 * CAP, WORKS[work])

    async def main() -> dict[str, Any]:
        await small()
        cpu = {"n": 0.0, "ref": 0.0}
        done = {"n": 0, "ref": 0}
        blocks: list[tuple[str, float]] = []
        for which, size, fanouts in plan(n, ref, least, pattern):
            gc.collect()  # each block starts from the same collector state; within a block
            # the collector runs as it would for a user (no collection between fan-outs)
            spent = 0.0
            for _ in range(fanouts):
                start = time.process_time()
                results = await runs[which]()
                spent += time.process_time() - start
                if not impl.endswith("stream"):
                    assert sorted(results) == list(range(size)), "every item once"
                del results
            cpu[which] += spent
            done[which] += size * fanouts
            blocks.append((which, round(spent / (size * fanouts) * 1e6, 2)))
        n_us, ref_us = cpu["n"] / done["n"] * 1e6, cpu["ref"] / done["ref"] * 1e6
        return {
            "impl": impl,
            "n": n,
            "ref": ref,
            "pattern": pattern,
            "n_us": n_us,
            "ref_us": ref_us,
            "ratio": n_us / ref_us,
            "blocks": blocks,
        }

    with use_tracer_provider(NoOpTracerProvider()):
        return asyncio.run(main())


def count(impl: str, n: int, work: str, reps: int) -> None:
    """Run ``reps`` fan-outs of ``n`` in this process (what ``--instructions`` counts) and
    print the event loop's iterations per branch."""
    import gc

    from opentelemetry.trace import NoOpTracerProvider

    from fanscope.sdk.tracing import use_tracer_provider

    run = make_point(impl, n, WORKS[work])
    small = make_point(impl, 2 * CAP, WORKS[work])
    steps = [0]
    loop_class: Any = asyncio.base_events.BaseEventLoop
    once = loop_class._run_once

    def counted(self: Any) -> None:
        steps[0] += 1
        once(self)

    async def main() -> None:
        await small()
        gc.collect()
        gc.freeze()  # what the imports made is not walked again by each run's collection
        steps[0] = 0
        for _ in range(reps):
            await run()
            gc.collect()
        print(json.dumps({"iterations": steps[0] / (reps * n)}))

    loop_class._run_once = counted
    with use_tracer_provider(NoOpTracerProvider()):
        asyncio.run(main())


def instructions(impl: str, n: int, work: str) -> tuple[float, float]:
    """Instructions per branch (two fan-outs less one, cachegrind) and loop iterations per
    branch (in the run of two)."""
    got = []
    for reps in (1, 2):
        done = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no",
             "--cachegrind-out-file=/dev/null", sys.executable, __file__,
             "--count", impl, str(n), work, str(reps)],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        refs = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        assert refs is not None, done.stderr[-500:]
        steps = json.loads(done.stdout.strip().splitlines()[-1])["iterations"]
        got.append((int(refs.group(1).replace(",", "")), steps))
    return (got[1][0] - got[0][0]) / n, got[1][1]


def count_table(impls: tuple[str, ...], works: list[str], sizes: list[int]) -> None:
    """Print the instructions and loop iterations per branch of every implementation."""
    sizes = [n for n in sizes if n <= 100_000]
    if shutil.which("valgrind") is None:
        print("\ninstructions: valgrind is not installed (apt-get install valgrind)")
        return
    for work in works:
        print(f"\ninstructions per branch, {work} (cachegrind, two fan-outs less one, busy loop)")
        print(f"  {'impl':<16} {'branches':>9} {'instructions':>13} {'x hand':>7} {'loop it.':>9}")
        per: dict[tuple[str, int], float] = {}
        for n in sizes:
            for impl in impls:
                per[(impl, n)], steps = instructions(impl, n, work)
                hand = per[("hand-written", n)]
                print(
                    f"  {impl:<16} {n:>9,} {per[(impl, n)]:>13,.0f} "
                    f"{per[(impl, n)] / hand:>6.3f}x {steps:>9.3f}",
                    flush=True,
                )
        if len(sizes) > 1:
            for impl in impls:
                got = [per[(impl, n)] for n in sizes]
                print(f"  {impl}: largest over smallest {max(got) / min(got):.3f}x")


def spawn(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def memory_targets(
    rows: dict[tuple[str, str, int], dict[str, Any]], work: str, sizes: list[int]
) -> bool:
    """Print fanscope's memory targets for one kind of work next to their measurements."""
    held = True
    for impl in (i for i in FANSCOPE if (work, i, sizes[0]) in rows):
        worst = max(rows[(work, impl, n)]["over"] - rows[(work, impl, n)]["results"] for n in sizes)
        held &= target(
            f"scale memory, {impl}, {work}",
            worst / 1e6,
            CAP * PER_SLOT / 1e6,
            unit=" MB",
            digits=3,
            note=f"peak RSS over base less results, worst of {', '.join(f'{n:,}' for n in sizes)}"
            " (cap x 8 KB)",
        )
    return held


def flatness(ratios: dict[str, dict[int, list[float]]], impl: str) -> tuple[float, str]:
    """Largest over smallest of 1.0 (the reference) and each size's median paired ratio."""
    medians = {n: statistics.median(got) for n, got in ratios[impl].items()}
    spread = max(1.0, *medians.values()) / min(1.0, *medians.values())
    return spread, ", ".join(f"{n:,}: {m:.3f}" for n, m in medians.items())


def flatness_targets(ratios: dict[str, dict[int, list[float]]], work: str, ref: int) -> bool:
    """Print fanscope's flatness targets for one kind of work, and the hand-written version's
    figure measured the same way as context."""
    held = True
    for impl in (i for i in FANSCOPE if i in ratios):
        spread, each = flatness(ratios, impl)
        held &= target(
            f"scale flatness, {impl}, {work}",
            spread,
            FLAT,
            digits=3,
            note=f"CPU per branch at N over at {ref:,} measured side by side in one process, "
            f"median of the processes; largest over smallest of 1 and {each}",
        )
    spread, each = flatness(ratios, "hand-written")
    print(
        f"  context (not a target): the hand-written version measured the same way, "
        f"{spread:.3f}x ({each})"
    )
    return held


PROCESSES = 3  # paired processes per size; fewer where one N block is a million branches


def paired_processes(n: int, rounds: int, least: int) -> int:
    """Paired processes for a size: 3, 2 from 1,000,000 (each runs 2,000,000 branches there);
    1 when ``least`` is 0 (a quick run)."""
    if least == 0:
        return max(1, rounds)
    return max(rounds, PROCESSES if n < 1_000_000 else 2)


def fanouts_for(n: int, least: int) -> int:
    """Fan-outs of ``n`` in a process of the per-point table: about ``least`` / 5 branches
    (20 of 1,000, 2 of 10,000, one of 100,000 or more); 1 when ``least`` is 0."""
    return max(1, least // 5 // n)


def mb(value: float) -> str:
    return f"{value / 1e6:8.1f} MB"


def ratio(row: dict[str, float], hand: dict[str, float], key: str) -> str:
    return f"{row[key] / hand[key]:6.2f}x" if hand[key] > 0 else f"{'-':>7}"


def per_point(
    impls: tuple[str, ...], work: str, sizes: list[int], least: int
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """One fresh process per point: its first fan-out's memory, and (context) the median CPU
    and wall per branch of its fan-outs."""
    print(f"\n{work}: memory and CPU per branch, one fresh process per point")
    print(
        f"  {'impl':<16} {'branches':>9} {'over base':>11} {'x hand':>7} {'results':>11} "
        f"{'rest':>11} {'CPU/branch':>11} {'x hand':>7} {'wall/branch':>12} {'x hand':>7}"
    )
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for k, n in enumerate(sizes):
        order = impls[k % len(impls) :] + impls[: k % len(impls)]  # rotated from size to size
        for impl in order:
            rows[(work, impl, n)] = spawn(
                "--point", impl, str(n), work, "--fanouts", str(fanouts_for(n, least))
            )
        hand = rows[(work, "hand-written", n)]
        for impl in impls:
            row = rows[(work, impl, n)]
            rest = row["over"] - row["results"]
            print(
                f"  {impl:<16} {n:>9,} {mb(row['over'])} {ratio(row, hand, 'over')} "
                f"{mb(row['results'])} {mb(rest)} {row['cpu_us']:8.1f} us "
                f"{ratio(row, hand, 'cpu_us')} {row['wall_us']:9.1f} us "
                f"{ratio(row, hand, 'wall_us')}",
                flush=True,
            )
    return rows


def side_by_side(
    impls: tuple[str, ...], work: str, sizes: list[int], rounds: int, least: int
) -> dict[str, dict[int, list[float]]]:
    """For each size past the smallest, processes that interleave fan-outs of the smallest
    size (the reference) and of N (:func:`plan`); the implementations' order and the pattern
    rotated from process to process. Returns each implementation's ratios, by size."""
    ref = sizes[0]
    print(
        f"\n{work}: CPU per branch at N over at {ref:,}, side by side in one process "
        f"(N block: {f'about {least:,} branches or ' if least else ''}one fan-out, "
        "the reference as many branches)"
    )
    print(
        f"  {'impl':<16} {'branches':>9} {'ref/branch':>11} {'N/branch':>10} {'ratio':>7}  "
        "per process"
    )
    ratios: dict[str, dict[int, list[float]]] = {impl: {} for impl in impls}
    k = 0
    for n in sizes[1:]:
        got: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
        for r in range(paired_processes(n, rounds, least)):
            order = impls[k % len(impls) :] + impls[: k % len(impls)]
            k += 1
            for impl in order:
                got[impl].append(
                    spawn("--paired", impl, str(n), str(ref), work, str(least), str(r % 2))
                )
        for impl in impls:
            each = [g["ratio"] for g in got[impl]]
            ratios[impl][n] = each
            print(
                f"  {impl:<16} {n:>9,} {statistics.median(g['ref_us'] for g in got[impl]):8.1f} us "
                f"{statistics.median(g['n_us'] for g in got[impl]):7.1f} us "
                f"{statistics.median(each):6.3f}x  {', '.join(f'{x:.3f}' for x in each)}",
                flush=True,
            )
        refs = [g["ref_us"] for impl in impls for g in got[impl]]
        within = [
            max(us for which, us in g["blocks"] if which == "ref")
            / min(us for which, us in g["blocks"] if which == "ref")
            for impl in impls
            for g in got[impl]
        ]
        print(
            f"  drift at {n:,}: the reference's CPU per branch {min(refs):.1f}-{max(refs):.1f} us "
            f"from process to process ({max(refs) / min(refs):.2f}x); its blocks in one process "
            f"up to {max(within):.2f}x apart",
            flush=True,
        )
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--work", default=",".join(WORKS), help="sleep(0), sleep(1 ms)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="at least this many paired processes per size (3 by default, 2 at 1,000,000)",
    )
    parser.add_argument("--least", type=int, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--impls", default=",".join(ALL_IMPLS), help="which of them (hand-written always runs)"
    )
    parser.add_argument("--point", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--fanouts", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--paired", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--count", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument(
        "--parts",
        default="time",
        help="time (memory and CPU per branch, the targets), instructions (instructions and "
        "loop iterations per branch, valgrind; sizes up to 100,000), or both: time,instructions",
    )
    args = parser.parse_args()
    if args.count:
        impl, n, work, reps = args.count
        count(impl, int(n), work, int(reps))
        return 0
    if args.point:
        impl, n, work = args.point
        print(json.dumps(point(impl, int(n), work, args.fanouts)))
        return 0
    if args.paired:
        impl, n, ref, work, least, pattern = args.paired
        print(json.dumps(paired(impl, int(n), int(ref), work, int(least), int(pattern))))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    works = args.work.split(",")
    asked = {"hand-written", *args.impls.split(",")}
    impls: tuple[str, ...] = tuple(i for i in ALL_IMPLS if i in asked)
    try:
        import aiometer  # noqa: F401
    except ImportError:
        print("aiometer is not installed (pip install aiometer): its rows are left out")
        impls = tuple(i for i in impls if not i.startswith("aiometer"))
    load = os.getloadavg()
    started = time.perf_counter()
    print(
        f"fan-out scale: cap {CAP}, no tracing; "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} at the start"
    )
    print(
        "  over base: peak RSS over the RSS before the process's first fan-out; results: bytes "
        "of the result list;\n  rest = over base - results; x hand: the same figure over the "
        "hand-written version's at the same size (memory: over base)"
    )
    held = True
    parts = args.parts.split(",")
    for work in works if "time" in parts else []:
        rows = per_point(impls, work, sizes, args.least)
        ratios: dict[str, dict[int, list[float]]] = {}
        if len(sizes) > 1:  # fanscope's target and the hand-written context; not aiometer
            paired_impls = tuple(i for i in impls if not i.startswith("aiometer"))
            ratios = side_by_side(paired_impls, work, sizes, args.rounds, args.least)
        print(f"  targets (fanscope, {work})")
        held &= memory_targets(rows, work, sizes)
        if ratios:
            held &= flatness_targets(ratios, work, sizes[0])
    if "instructions" in parts:
        count_table(impls, works, sizes)
    verdict = f"all targets {'hold' if held else 'do not all hold'}; " if "time" in parts else ""
    print(
        f"\n{verdict}load average {os.getloadavg()[0]:.1f} at the end; "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
