"""Fan-outs of 1k to 1M branches: peak memory and CPU per branch, in fresh processes.

Each point runs fan-outs of N branches under a cap of 64 in fresh processes. A process
measures its first fan-out's peak resident memory over the process's memory just before it
(after imports), then runs more fan-outs of the same N back to back until it has run about
``--least`` / 3 branches (100 fan-outs of 1,000, 10 of 10,000, one of 100,000 or more), and
prints the median CPU and wall time per branch of its fan-outs; a point is the median of its
processes (3, and one at 1,000,000). The same rule for every size and every implementation:
one fan-out of 1,000 with 1 ms of work lasts about 30 ms, and a single one per process was
decided by noise (the same point swung 22-55 us per branch between processes). Work per
branch: ``await asyncio.sleep(0)`` or ``await asyncio.sleep(0.001)``. Side by side:

* ``hand-written``: ``asyncio.gather`` over one coroutine per item + ``asyncio.Semaphore``
  (every branch task exists from the start).
* ``fanscope map``: ``await work.map(range(N))`` on a ``@parallel(max_concurrency=64)``.
* ``aiometer amap``: ``aiometer.amap(work, range(N), max_at_once=64)``, results collected.
* ``fanscope stream`` / ``aiometer stream``: ``as_completed`` / ``run_on_each``, no result
  kept (memory flat in N).

No tracing (a no-op tracer provider): this is the runtime's own cost; ``fanout_overhead.py``
measures tracing. Results are ints (one per item, about 36 bytes with the list's pointer);
the script measures their size and reports memory over the baseline without them.

Targets (fanscope): memory over the baseline, less the results, at most cap x 8 KB at every
size (so flat from 10k to 1M); CPU per branch flat within 20% across the sizes (the largest
over the smallest at most 1.2x). ``x hand`` columns: the figure over the hand-written one; the
hand-written version's own flatness, measured the same way, is printed beside the target as
context (not a target: its memory grows with the items).

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


def spawn(impl: str, n: int, work: str, fanouts: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--point", impl, str(n), work, "--fanouts", str(fanouts)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def targets(rows: dict[tuple[str, str, int], dict[str, Any]], work: str, sizes: list[int]) -> bool:
    """Print fanscope's targets for one kind of work next to their measurements."""
    print(f"  targets (fanscope, {work})")
    held = True
    for impl in ("fanscope map", "fanscope stream"):
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
        if len(sizes) > 1:
            cpu = [rows[(work, impl, n)]["cpu_us"] for n in sizes]
            held &= target(
                f"scale flatness, {impl}, {work}",
                max(cpu) / min(cpu),
                FLAT,
                digits=3,
                note=f"CPU per branch, largest over smallest from {sizes[0]:,} to {sizes[-1]:,} "
                f"({min(cpu):.1f}-{max(cpu):.1f} us)",
            )
    if len(sizes) > 1:
        cpu = [rows[(work, "hand-written", n)]["cpu_us"] for n in sizes]
        print(
            f"  context (not a target): the hand-written version measured the same way, CPU per "
            f"branch largest over smallest {max(cpu) / min(cpu):.3f}x "
            f"({', '.join(f'{c:.1f}' for c in cpu)} us)"
        )
    return held


PROCESSES = 3  # per point, fewer only where one process runs it all (1,000,000)


def rounds_for(n: int, rounds: int, least: int = 300_000) -> int:
    """Processes for a point of ``n`` branches: 3 (1 at 1,000,000), so that the point runs
    about ``least`` branches in all (the flatness target is a ratio of the largest to the
    smallest point, which one noisy point decides)."""
    return max(rounds, min(PROCESSES, -(-least // n)))


def fanouts_for(n: int, least: int = 300_000) -> int:
    """Fan-outs of ``n`` each process runs back to back: about ``least`` / 3 branches in all
    (100 of 1,000, 10 of 10,000, 1 of 100,000 or more), the same rule for every
    implementation; 1 when ``least`` is 0 (a quick run)."""
    return max(1, least // PROCESSES // n)


def mb(value: float) -> str:
    return f"{value / 1e6:8.1f} MB"


def ratio(row: dict[str, float], hand: dict[str, float], key: str) -> str:
    return f"{row[key] / hand[key]:6.2f}x" if hand[key] > 0 else f"{'-':>7}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--work", default=",".join(WORKS), help="sleep(0), sleep(1 ms)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="processes per point (median); sizes up to 100,000 get 3, so that every "
        "point runs at least about --least branches in all",
    )
    parser.add_argument("--least", type=int, default=300_000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--impls", default=",".join(ALL_IMPLS), help="which of them (hand-written always runs)"
    )
    parser.add_argument("--point", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--fanouts", type=int, default=1, help=argparse.SUPPRESS)
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
    sizes = [int(s) for s in args.sizes.split(",")]
    works = args.work.split(",")
    asked = {"hand-written", *args.impls.split(",")}
    impls: tuple[str, ...] = tuple(i for i in ALL_IMPLS if i in asked)
    try:
        import aiometer  # noqa: F401
    except ImportError:
        print("aiometer is not installed (pip install aiometer): its rows are left out")
        impls = tuple(i for i in impls if not i.startswith("aiometer"))
    load = os.getloadavg()
    print(
        f"fan-out scale: cap {CAP}, no tracing, fresh processes per point, median of "
        f"{', '.join(f'{rounds_for(n, args.rounds, args.least)} at {n:,}' for n in sizes)}, "
        f"each the median of "
        f"{', '.join(f'{fanouts_for(n, args.least)} fan-outs' for n in sizes)} back to back "
        f"(memory: each process's first); "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} at the start"
    )
    print(
        "  over base: peak RSS over the RSS before the fan-out; results: bytes of the result "
        "list; rest = over base - results;\n  x hand: the same figure over the hand-written "
        "version's at the same size (memory: over base)"
    )
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    held = True
    parts = args.parts.split(",")
    for work in works if "time" in parts else []:
        print(f"\n{work}")
        print(
            f"  {'impl':<16} {'branches':>9} {'over base':>11} {'x hand':>7} {'results':>11} "
            f"{'rest':>11} {'CPU/branch':>11} {'x hand':>7} {'wall/branch':>12} {'x hand':>7}"
        )
        for n in sizes:
            samples: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
            for r in range(rounds_for(n, args.rounds, args.least)):
                order = impls[r % len(impls) :] + impls[: r % len(impls)]  # rotated each round
                for impl in order:
                    samples[impl].append(spawn(impl, n, work, fanouts_for(n, args.least)))
            for impl in impls:
                got = samples[impl]
                row = {
                    key: statistics.median(s[key] for s in got)
                    for key in ("over", "results", "cpu_us", "wall_us")
                }
                rows[(work, impl, n)] = row
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
        held &= targets(rows, work, sizes)
    if "instructions" in parts:
        count_table(impls, works, sizes)
    verdict = f"all targets {'hold' if held else 'do not all hold'}; " if "time" in parts else ""
    print(f"\n{verdict}load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
