"""How the analyzer scales: seconds and peak memory to analyse 10k, 100k and 1M spans.

Side by side for each size: ``fanscope analyze`` of the OTLP JSON-lines file and of the same
spans as Jaeger JSON (one document), and ``fanscope convert`` both ways (memory targets at 1M
spans: 1.2 GB to analyse either format, 1.2 GB to convert). Then junk on standard input, a
gigabyte of it at most, of several kinds: the time and the bytes read until it is refused
(target: under a second).

Synthetic OTLP JSON-lines files shaped like agent traces (a root step; a loop of 1,000
sequential steps, every other one using the previous answer; sequential steps with data-flow
fingerprints; fan-outs of 100 branches under a cap, each branch with a child call) are
written once to a temporary folder, then each is analysed by ``fanscope analyze --format
json`` in its own process, which reports its wall-clock and CPU seconds and its peak resident
memory. Target: 1M spans in at most 15 s and 2 GB on a 2-core machine, and close to linear
growth (the ratio of time per span between sizes near 1).

Run: ``make bench`` or ``.venv/bin/python benchmarks/analyzer_scale.py [--sizes 10000,100000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _targets import target

SPANS_PER_TRACE = 10_000


def _attr(key: str, value: object) -> dict[str, object]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {
            "key": key,
            "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}},
        }
    return {"key": key, "value": {"stringValue": str(value)}}


def write_trace(handle: object, rng: random.Random, trace_no: int, spans: int) -> None:
    trace_id = f"{trace_no + 1:032x}"
    next_id = iter(range(1, 10**9))
    out: list[dict[str, object]] = []
    t0 = 1_700_000_000_000_000_000

    def add(name: str, parent: str | None, start: int, end: int, **attrs: object) -> str:
        sid = f"{next(next_id):016x}"
        span: dict[str, object] = {
            "traceId": trace_id, "spanId": sid, "name": name, "kind": 1,
            "startTimeUnixNano": str(t0 + start), "endTimeUnixNano": str(t0 + end),
            "attributes": [_attr(k.replace("__", "."), v) for k, v in attrs.items()],
        }  # fmt: skip
        if parent:
            span["parentSpanId"] = parent
        out.append(span)
        return sid

    root = add("agent", None, 0, 10**12, fanscope__role="step")
    clock = 1000
    # a long sequential loop: 1,000 steps one after another under one step, every other one
    # using the previous one's answer (the what-if must stay linear in the number of steps)
    loop, loop_at = add("review", root, clock, clock, fanscope__role="step"), len(out)
    previous = f"{rng.getrandbits(64):016x}"
    for i in range(min(1000, spans // 10)):
        end = clock + rng.randint(10**5, 10**7)
        answer = f"{rng.getrandbits(64):016x}"
        question = previous if i % 2 else f"{rng.getrandbits(64):016x}"
        prints = {"fanscope__dataflow__inputs": [question], "fanscope__dataflow__outputs": [answer]}
        add("check", loop, clock, end, fanscope__role="step", **prints)
        previous, clock = answer, end + 1000
    out[loop_at]["endTimeUnixNano"] = str(t0 + clock)
    clock += 1000
    while len(out) < spans:
        # a sequential step, then a fan-out of 100 branches under a cap of 16
        step_end = clock + rng.randint(10**6, 10**8)
        add("plan", root, clock, step_end, fanscope__role="step",
            fanscope__dataflow__inputs=[f"{rng.getrandbits(64):016x}"],
            fanscope__dataflow__outputs=[f"{rng.getrandbits(64):016x}"])  # fmt: skip
        clock = step_end + 1000
        fanout = add("map summarize", root, clock, clock + 1, fanscope__role="fanout",
                     fanscope__kind="map", fanscope__fanout__max_concurrency=16)  # fmt: skip
        slots = [clock] * 16
        for i in range(100):
            slots.sort()
            start = slots[0]
            end = start + int(rng.lognormvariate(17, 0.5))
            slots[0] = end
            branch = add("summarize", fanout, start, end, fanscope__role="branch",
                         fanscope__branch__index=i)  # fmt: skip
            add("messages.create", branch, start + 1000, end - 1000)
        fanout_end = max(slots)
        add("fan-in summarize", fanout, fanout_end, fanout_end + 1000, fanscope__role="fanin")
        out[-202]["endTimeUnixNano"] = str(t0 + fanout_end + 1000)  # the fan-out span
        clock = fanout_end + 2000
    out[0]["endTimeUnixNano"] = str(t0 + clock)
    for chunk in range(0, len(out), 2000):  # batches, as a BatchSpanProcessor writes them
        scope = {"scope": {"name": "fanscope"}, "spans": out[chunk : chunk + 2000]}
        resource = {"attributes": [_attr("service.name", "bench")]}
        request = {"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}
        handle.write(json.dumps(request, separators=(",", ":")) + "\n")  # type: ignore[attr-defined]


def make_file(directory: Path, total: int, per_trace: int = SPANS_PER_TRACE) -> Path:
    path = directory / f"spans-{total}.jsonl"
    rng = random.Random(total)
    with open(path, "w") as handle:
        for trace_no in range(max(1, total // per_trace)):
            write_trace(handle, rng, trace_no, min(total, per_trace))
    return path


CHILD = """
import resource, sys, time
from fanscope.cli import main
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
start, cpu_start = time.perf_counter(), cpu()
code = main(sys.argv[1:])
elapsed, used = time.perf_counter() - start, cpu() - cpu_start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(f"{elapsed} {used} {peak} {code}", file=sys.stderr)
"""


def measure(path: Path, *command: str) -> tuple[float, float, int]:
    """Wall-clock seconds, CPU seconds and peak resident bytes of one command (an analysis).

    The clock starts after ``import fanscope.cli``, so the growth ratios compare analysis
    time alone; CPU seconds are what to read on a busy machine, where wall-clock time also
    counts the time other processes had the cores.
    """
    argv = list(command) or ["analyze", str(path), "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    elapsed, cpu, peak, code = done.stderr.strip().splitlines()[-1].split()
    assert code == "0", done.stderr[-2000:]
    return float(elapsed), float(cpu), int(peak)


JUNK = {
    "random bytes": (b"", None),
    "a brace, then text": (b"{", b"abcdefgh" * 8192),
    "other JSON, then binary": (b'{"name": "left-pad"}\n', None),
    "nesting without end": (b"", b"[" * 65536),
}


def junk(limit: int) -> None:
    """Feed up to ``limit`` bytes of junk to ``fanscope analyze -``: time and bytes read."""
    print(f"  junk on standard input (up to {limit >> 20} MB of each kind), until refused:")
    for label, (first, filler) in JUNK.items():
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD, "analyze", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stderr is not None
        block = filler if filler is not None else os.urandom(1 << 16) * 16
        written, started = 0, time.perf_counter()
        try:
            process.stdin.write(first)
            while written < limit:
                process.stdin.write(block)
                written += len(block)
            process.stdin.close()
        except BrokenPipeError:
            pass
        process.wait()
        taken = time.perf_counter() - started
        lines = process.stderr.read().decode().strip().splitlines()
        process.stderr.close()
        elapsed, cpu, peak, code = lines[-1].split()
        print(
            f"    {label:<24} exit {code} after {float(elapsed):4.2f} s ({float(cpu):4.2f} s CPU; "
            f"{taken:4.2f} s with the interpreter's start), {written / 1e6:6.1f} MB taken in, "
            f"peak {int(peak) / 1e6:5.1f} MB: {lines[0][:60]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--formats",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also convert to Jaeger JSON, analyse that and convert back (default: on)",
    )
    parser.add_argument(
        "--junk-mb", type=int, default=1024, help="junk fed to the reader, at most (0: none)"
    )
    parser.add_argument(
        "--spans-per-trace",
        type=int,
        default=SPANS_PER_TRACE,
        help="spans in each trace (1000000: one huge trace, the slower case for the tables)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load = os.getloadavg()[0]
    print(
        f"analyzer scale ({os.cpu_count()} cores, load average {load:.1f} at the start, "
        f"{args.spans_per_trace:,} spans per trace)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            started = time.perf_counter()
            path = make_file(Path(tmp), size, args.spans_per_trace)
            made = time.perf_counter() - started
            elapsed, cpu, peak = measure(path)
            mb = path.stat().st_size / 1e6
            rows.append((size, elapsed, cpu, peak))
            print(
                f"  {size:>9,} spans  file {mb:6.1f} MB (written in {made:4.1f} s)  "
                f"analysed in {elapsed:6.2f} s ({cpu:6.2f} s CPU)  peak {peak / 1e6:7.1f} MB  "
                f"{cpu / size * 1e6:5.1f} us CPU/span"
            )
            if args.formats:
                jaeger = path.with_suffix(".jaeger.json")
                back = path.with_suffix(".back.jsonl")
                steps = [
                    ("convert to Jaeger JSON", ["convert", str(path), "--to", "jaeger"]),
                    ("analyse the Jaeger JSON", ["analyze", str(jaeger), "--format", "json"]),
                    ("convert back to OTLP", ["convert", str(jaeger), "--to", "otlp"]),
                ]
                steps[0][1].extend(["-o", str(jaeger)])
                steps[2][1].extend(["-o", str(back)])
                for label, command in steps:
                    e, c, p = measure(path, *command)
                    print(
                        f"  {'':>9}        {label:<24} {e:6.2f} s ({c:6.2f} s CPU)  "
                        f"peak {p / 1e6:7.1f} MB  ({p / peak:4.2f}x the OTLP analysis)"
                    )
                print(f"  {'':>9}        Jaeger JSON file {jaeger.stat().st_size / 1e6:.1f} MB")
                jaeger.unlink()
                back.unlink()
    base_size, _, base_cpu, _ = rows[0]
    for size, _elapsed, cpu, _peak in rows[1:]:
        growth = (cpu / size) / (base_cpu / base_size)
        print(f"  CPU time per span, {size:,} vs {base_size:,}: {growth:.2f}x (1.00 = linear)")
    if args.junk_mb:
        junk(args.junk_mb << 20)
    size, elapsed, cpu, peak = rows[-1]
    if size >= 1_000_000:
        ok = elapsed <= 15 and peak <= 2e9
        print(
            f"  1M spans: {elapsed:.1f} s ({cpu:.1f} s CPU) of 15 s, {peak / 1e9:.2f} GB of 2 GB "
            f"({'within' if ok else 'OUTSIDE'} target)"
        )
        target(
            "analyzer, 1M spans, seconds",
            elapsed,
            15.0,
            unit=" s",
            digits=1,
            note=f"wall time; {cpu:.1f} s CPU; {size:,} spans",
        )
        target("analyzer, 1M spans, peak memory", peak / 1e9, 2.0, unit=" GB", note="peak RSS")


if __name__ == "__main__":
    main()
