"""Run every benchmark in this folder, one process each, and say which targets hold.

``make bench`` runs this. Each benchmark prints its own figures, measured side by side in one
run, and one ``target:`` line per target it measures (``_targets.py``); at the end this script
prints every target next to its measurement, and whether it holds. Nothing here asserts a
wall-clock time: the machine may be shared, so the load average is printed with the table.

``--quick`` runs each benchmark with tiny sizes (``tests/test_bench.py`` runs it, so that no
benchmark can stop running unnoticed). Its figures are too small to judge a target by: a quick
run checks that every benchmark runs and prints its targets, not that they hold.

To add a benchmark: put the script here and print its targets with ``_targets.target``; then
add a :class:`Benchmark` entry below with its quick arguments and the names of its targets, so
that a target the script stops printing is reported as not measured. A script with no entry
still runs, with no arguments (and is skipped by ``--quick``).

Exit status: 1 when a benchmark failed to run or a registered target was not printed (in a
full run); whether targets hold does not change it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _targets import FAILS, HOLDS, PREFIX

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    """How ``run_all.py`` runs one script, and the targets it must print."""

    script: str
    #: what the targets are for (the issue that set them)
    why: str
    #: arguments of the full run (``make bench``)
    full: tuple[str, ...] = ()
    #: arguments of the quick run; ``None``: not run by ``--quick`` (say why in ``why``)
    quick: tuple[str, ...] | None = ()
    #: the targets a full run prints (``_targets.target`` names)
    targets: tuple[str, ...] = ()
    #: the quick run prints some of them (``False``: only sizes a quick run skips do)
    quick_targets: bool = True


def _overhead_targets() -> tuple[str, ...]:
    sizes = ("200", "2,000", "100,000")
    return (
        *(f"fan-out overhead, traced, {n} branches" for n in sizes),
        "sync path overhead, traced, 2,000 branches",
        "makespan, traced, 200 branches cap 16",
        "makespan, traced, 4 sources",
    )


def _scale_targets() -> tuple[str, ...]:
    return tuple(
        f"{what}, {impl}, {work}"
        for work in ("sleep(0)", "sleep(1 ms)")
        for impl in ("fanscope map", "fanscope stream")
        for what in ("scale memory", "scale flatness")
    )


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "fanout_overhead.py",
        "issue 12 (traced overhead, makespan), issue 10 (sync path)",
        full=("--rounds", "9", "--sizes", "200,2000,100000"),
        quick=("--rounds", "1", "--sizes", "200", "--sync-repeats", "1", "--per-round", "200"),
        targets=_overhead_targets(),
    ),
    Benchmark(
        "fanout_scale.py",
        "issue 12 (memory bounded by the cap, cost per branch flat from 1k to 1M)",
        quick=("--sizes", "500,1000", "--least", "0", "--impls", "fanscope map,fanscope stream"),
        targets=_scale_targets(),
    ),
    Benchmark(
        "file_export.py",
        "issue 12 (every span kept in a burst)",
        full=("--branches", "10000", "--rounds", "5"),
        quick=("--branches", "300", "--rounds", "1"),
        targets=("file export, every branch span in the file",),
    ),
    Benchmark(
        "vote_early_stop.py",
        "issue 3 (early stop: same winner; no number set, so: never slower than waiting)",
        quick=("--votes", "10"),
        targets=(
            "vote early stop, the same winner both ways",
            "vote early stop, p50 over waiting for all",
            "vote early stop, p95 over waiting for all",
        ),
    ),
    Benchmark(
        "adaptive_limits.py",
        "issue 14 (adaptive limits)",
        quick=("--seconds", "20"),
        targets=tuple(
            f"adaptive, {case}, {what}"
            for case in ("concurrency 32, knee 24", "600k ITPM, concurrency 64")
            for what in (
                "auto from 4 reaches 90%",
                "auto from 200 reaches 90%",
                "most sent at once",
                "429s",
            )
        ),
    ),
    Benchmark(
        "agent_speedup.py",
        "issue 5 (research agent: parallel near ideal, prediction within 10%)",
        quick=("--rounds", "1"),
        targets=("agent speed-up, parallel over ideal", "agent speed-up, predicted over measured"),
    ),
    Benchmark(
        "analyzer_scale.py",
        "issue 4 (1M spans in 15 s and 2 GB; both formats in 1.2 GB)",
        quick=("--sizes", "2000", "--no-formats", "--junk-mb", "1"),
        targets=("analyzer, 1M spans, seconds", "analyzer, 1M spans, peak memory"),
        quick_targets=False,
    ),
    Benchmark(
        "dataflow_truth.py",
        "issue 9 (never call a dependent pair independent; recall at least 90%)",
        quick=("--only", "p01"),
        targets=(
            "dataflow truth, precision of independent (combined)",
            "dataflow truth, recall of independent (combined)",
        ),
    ),
    Benchmark(
        "hedging.py",
        "issue 13 (hedged stragglers: p99 at least 50% lower for at most 5% extra tokens)",
        quick=("--rounds", "3", "--median", "0.02"),
        targets=tuple(
            f"hedging, {arm}, {what}"
            for arm in ("Hedge('p95')", "Hedge('p98')")
            for what in ("p99 over no hedging", "extra tokens")
        ),
    ),
    Benchmark(
        "shared_limits.py",
        "issue 14 (a cap shared through Redis is never exceeded; 8 processes)",
        quick=(
            *("--seconds", "2", "--processes", "2", "--warmup", "0.5", "--rounds", "20"),
            *("--runs", "shared cap 32 (Redis)"),
        ),
        targets=("shared limits, peak at the server under the shared cap",),
        quick_targets=False,  # none without redis-server
    ),
    Benchmark("redis_acquire.py", "figures only", quick=("--rounds", "1", "--ops", "200")),
    Benchmark("analyzer_cost.py", "figures only", quick=("--branches", "500", "--rounds", "1")),
    Benchmark(
        "fingerprint_cost.py",
        "figures only",
        quick=("--rounds", "1", "--longest", "2000", "--branches", "20"),
    ),
)


@dataclass
class Line:
    """One ``target:`` line a benchmark printed."""

    script: str
    name: str
    measured: str
    bound: str
    verdict: str
    note: str


def parse(script: str, output: str) -> tuple[list[Line], list[str]]:
    """The target lines of ``output``, and the lines that start like one but are malformed."""
    lines, bad = [], []
    for raw in output.splitlines():
        if not raw.startswith(PREFIX):
            continue
        fields = [f.strip() for f in raw[len(PREFIX) :].split("|")]
        if len(fields) != 5 or fields[3] not in (HOLDS, FAILS):
            bad.append(raw)
            continue
        lines.append(Line(script, *fields))
    return lines, bad


def run(script: Path, args: tuple[str, ...]) -> tuple[int, str, float]:
    """Run one benchmark, echoing its output as it comes; its exit code, output and CPU."""
    print(f"== {script.name} {' '.join(args)}".rstrip(), flush=True)
    before = os.times()
    with subprocess.Popen(
        [sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        out = []
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out.append(line)
        code = process.wait()
    after = os.times()
    cpu = after.children_user + after.children_system - before.children_user
    cpu -= before.children_system
    print(flush=True)
    return code, "".join(out), cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does each one run?")
    parser.add_argument("--only", action="append", help="scripts whose name starts so")
    parser.add_argument("--dir", type=Path, default=HERE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    known = {b.script: b for b in BENCHMARKS}
    scripts = sorted(
        p
        for p in args.dir.glob("*.py")
        if not p.name.startswith("_") and p.name != Path(__file__).name
    )
    if args.only:
        scripts = [p for p in scripts if any(p.name.startswith(o) for o in args.only)]
    load = os.getloadavg()
    started = time.perf_counter()
    print(
        f"{'quick run: tiny sizes, targets not judged' if args.quick else 'benchmarks'}; "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
        flush=True,
    )
    failed: list[str] = []
    missing: list[tuple[str, str]] = []
    lines: list[Line] = []
    skipped: list[str] = []
    for script in scripts:
        bench = known.get(script.name)
        if args.quick and (bench is None or bench.quick is None):
            skipped.append(script.name)
            continue
        chosen = (bench.quick if args.quick else bench.full) if bench else ()
        code, output, cpu = run(script, chosen or ())
        found, bad = parse(script.name, output)
        lines.extend(found)
        if code or bad:
            failed.append(f"{script.name} (exit {code}, {len(bad)} malformed target lines)")
        printed = {line.name for line in found}
        for name in bench.targets if bench else ():
            if name not in printed:
                missing.append((script.name, name))
        print(f"   ({script.name}: {cpu:.1f} s CPU)", flush=True)
    report(lines, missing, quick=args.quick)
    load = os.getloadavg()
    print(
        f"{len(scripts) - len(skipped)} benchmarks in {time.perf_counter() - started:.0f} s; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end"
    )
    if skipped:
        print(f"not run by --quick (no quick arguments): {', '.join(skipped)}")
    if failed:
        print(f"benchmarks that failed to run: {', '.join(failed)}", file=sys.stderr)
    if missing and not args.quick:
        print(f"targets not printed: {len(missing)}", file=sys.stderr)
    return 1 if failed or (missing and not args.quick) else 0


def report(lines: list[Line], missing: list[tuple[str, str]], *, quick: bool) -> None:
    """Every target next to its measurement, and whether it holds."""
    print("== targets" + (" (quick run: sizes too small to judge; shown to check they print)"
                          if quick else ""))  # fmt: skip
    width = max((len(line.name) for line in lines), default=10)
    for line in lines:
        verdict = line.verdict if not quick else f"({line.verdict})"
        print(
            f"  {line.name:<{width}}  {line.measured:>10}  {line.bound:<12} {verdict:<15} "
            f"{line.note}"
        )
    for script, name in missing:
        print(f"  {name:<{width}}  {'-':>10}  {'':<12} {'not measured':<15} ({script})")
    held = sum(line.verdict == HOLDS for line in lines)
    print(
        f"  {held} of {len(lines)} targets hold"
        + (f", {len(missing)} not measured" if missing else "")
        + (" (quick run)" if quick else "")
    )


if __name__ == "__main__":
    sys.exit(main())
