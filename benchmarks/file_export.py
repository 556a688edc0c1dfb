"""The trace file in a burst: what back-pressure costs per branch, and what it keeps.

Side by side, one fresh process per run, rounds interleaved so load hits all alike:

* ``no export``: an SDK provider with no processor (the floor: spans made, none written);
* ``batch (lossy)``: OpenTelemetry's ``BatchSpanProcessor`` in front of the same file
  exporter (what ``configure()`` used before: its 2,048-span queue drops in a burst);
* ``fanscope file``: ``configure()``'s :class:`FileSpanProcessor` (bounded queue,
  back-pressure, nothing dropped).

Each run is a ``@parallel`` map of N ``sleep(0)`` branches under a cap of 64; the time counts
the fan-out and the flush of every span to the file (the process's own work, not its start).

    python benchmarks/file_export.py [--branches 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

from _targets import check

RUN = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    import fanscope
    from fanscope.exporters.files import OTLPJsonFileExporter
    from fanscope.exporters.processors import FileSpanProcessor

    mode, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    if mode == "batch":
        provider.add_span_processor(BatchSpanProcessor(OTLPJsonFileExporter(path)))
    elif mode == "fanscope":
        provider.add_span_processor(
            FileSpanProcessor(OTLPJsonFileExporter(path), ("file", path), provider.resource)
        )
    trace.set_tracer_provider(provider)

    @fanscope.parallel(max_concurrency=64)
    async def branch(i: int) -> int:
        await asyncio.sleep(0)
        return i

    asyncio.run(branch.map(range(100)))  # warm up
    provider.force_flush()
    start = time.perf_counter()
    asyncio.run(branch.map(range(n)))
    provider.force_flush()
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed}))
    """
)

MODES = {"no export": "none", "batch (lossy)": "batch", "fanscope file": "fanscope"}


def spans_in(path: str) -> int:
    if not os.path.exists(path):
        return 0
    total = 0
    with open(path) as handle:
        for line in handle:
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    total += sum(1 for s in ss["spans"] if s["name"] == "branch")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--branches", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.branches
    times: dict[str, list[float]] = {name: [] for name in MODES}
    kept: dict[str, list[int]] = {name: [] for name in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            order = list(MODES)
            order = order[round_no % len(order) :] + order[: round_no % len(order)]
            for name in order:
                path = os.path.join(tmp, f"{MODES[name]}-{round_no}.jsonl")
                done = subprocess.run(
                    [sys.executable, "-c", RUN, MODES[name], path, str(n)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times[name].append(json.loads(done.stdout.splitlines()[-1])["seconds"])
                kept[name].append(spans_in(path) - 100)  # less the warm-up's branches
    floor = statistics.median(times["no export"])
    print(f"{n:,} sleep(0) branches, cap 64, {args.rounds} interleaved rounds (median)")
    print(f"{'':16}{'us/branch':>10}{'x no export':>13}{'branch spans in file':>22}")
    for name in MODES:
        per = statistics.median(times[name]) / n * 1e6
        ratio = statistics.median(times[name]) / floor
        spans = "-" if name == "no export" else f"{min(kept[name]):,} / {n:,}"
        print(f"{name:16}{per:10.1f}{ratio:13.2f}{spans:>22}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}")
    least = min(kept["fanscope file"])
    check(
        "file export, every branch span in the file",
        least == n,
        f"{least:,}/{n:,}",
        f"{n:,}/{n:,}",
        note=f"fewest of {args.rounds} runs; x no export "
        f"{statistics.median(times['fanscope file']) / floor:.2f}",
    )


if __name__ == "__main__":
    main()
