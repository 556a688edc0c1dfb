"""The research agent against the stand-in: sequential vs parallel, measured and predicted.

Sources answer in 200/250/100/150 ms and the synthesis in 50 ms (fixed latencies), so the
ideal parallel run is the slowest source plus the synthesis: 300 ms. Each mode runs as its own
process, several rounds interleaved; times are the ``research`` root span's duration from the
trace; each process makes one untraced warm-up call first, so that one-time set-up (the
first request's connection and the client's first parse) is not counted. Targets: the
parallel time within 5% of 300 ms, and the speed-up the analyzer predicts
from the sequential trace within 10% of the one measured.

Run: ``make bench`` or ``.venv/bin/python benchmarks/agent_speedup.py --rounds 5``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from _client import DEMO_LATENCY  # noqa: E402
from _targets import check, target  # noqa: E402

from fanscope.analysis import analyze, read_file  # noqa: E402
from fanscope.testing.anthropic_server import AnthropicStandIn  # noqa: E402

IDEAL = max(DEMO_LATENCY[k] for k in ("[news]", "[filings]", "[prices]", "[database]"))
IDEAL += DEMO_LATENCY["[synthesis]"]


def run(url: str, trace: Path, sequential: bool) -> tuple[float, float]:
    """(duration, what-if) of one run of the agent, from its trace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OTEL_"))}
    env["ANTHROPIC_BASE_URL"] = url
    command = [sys.executable, str(ROOT / "examples" / "research_agent.py"), "--quiet", "--warm-up",
               "--trace", str(trace), *(["--sequential"] if sequential else [])]  # fmt: skip
    subprocess.run(command, check=True, env=env, capture_output=True)
    report = analyze(read_file(trace).spans).traces[0]
    return report.duration, report.whatif


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    seq, par, predicted = [], [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        AnthropicStandIn(latency=0.05, latency_by_prompt=DEMO_LATENCY) as server,
    ):
        for r in range(args.rounds):
            s, whatif = run(server.url, Path(tmp) / f"seq{r}.jsonl", sequential=True)
            p, _ = run(server.url, Path(tmp) / f"par{r}.jsonl", sequential=False)
            seq.append(s)
            par.append(p)
            predicted.append(s / whatif)
    s, p = statistics.median(seq), statistics.median(par)
    measured = s / p
    guess = statistics.median(predicted)
    print(f"research agent vs the stand-in, median of {args.rounds} rounds")
    print(f"  sequential {s * 1000:7.1f} ms   parallel {p * 1000:7.1f} ms   "
          f"ideal parallel {IDEAL * 1000:.0f} ms")  # fmt: skip
    print(f"  parallel / ideal           = {p / IDEAL:.3f}x (target <= 1.05x)")
    print(f"  speed-up measured          = {measured:.2f}x")
    print(f"  speed-up predicted         = {guess:.2f}x (from the sequential trace)")
    print(f"  predicted / measured       = {guess / measured:.3f} (target within 0.90-1.10)")
    target(
        "agent speed-up, parallel over ideal",
        p / IDEAL,
        1.05,
        digits=3,
        note=f"{p * 1000:.1f} ms against {IDEAL * 1000:.0f} ms, median of {args.rounds}",
    )
    check(
        "agent speed-up, predicted over measured",
        0.9 <= guess / measured <= 1.1,
        f"{guess / measured:.3f}",
        "0.90-1.10",
        note=f"predicted {guess:.2f}x, measured {measured:.2f}x",
    )


if __name__ == "__main__":
    main()
