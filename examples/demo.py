"""`make demo`, first version: the simulated research agent, sequential then parallel.

Runs offline with simulated I/O, writes both trace files under ``.fanscope/demo/`` and prints
where the time went in each run, read back from the spans: each lookup's own time, the time
the run took, and the speed-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = Path(".fanscope/demo")


def spans_in(path: Path) -> list[dict[str, object]]:
    spans: list[dict[str, object]] = []
    for line in path.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                spans.extend(ss["spans"])
    return spans


def where_time_went(path: Path) -> None:
    spans = spans_in(path)
    for span in sorted(spans, key=lambda s: int(str(s["startTimeUnixNano"]))):
        seconds = (int(str(span["endTimeUnixNano"])) - int(str(span["startTimeUnixNano"]))) / 1e9
        print(f"    {span['name']!s:<16} {seconds * 1000:7.1f} ms")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    times = {}
    for mode in ("sequential", "parallel"):
        path = OUT / f"simulated-{mode}.jsonl"
        path.unlink(missing_ok=True)
        flags = ["--sequential"] if mode == "sequential" else []
        command = [sys.executable, str(HERE / "simulated_agent.py"), "--trace", str(path), *flags]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times[mode] = time.perf_counter() - start
        print(f"{mode}: {times[mode]:.2f}s (process), trace in {path}")
        where_time_went(path)
    print(f"speed-up, whole processes: {times['sequential'] / times['parallel']:.2f}x")


if __name__ == "__main__":
    main()
