"""`make demo`: the research agent against the local Anthropic stand-in, sequential then parallel.

Starts the stand-in on 127.0.0.1, runs ``examples/research_agent.py`` twice through the real
``anthropic`` client (one lookup after another, then the four together), prints the
critical-path report of each run, and puts side by side the speed-up the analyzer predicted
from the sequential trace and the speed-up measured, and what each run cost. Trace files go
to ``.fanscope/demo/``. Stops the server it started, whatever happens.

The agent runs from the project's folder, so its trace names lines as
``examples/research_agent.py:64`` and the analyzer reads that source (``--source-root``).
``--latency-scale N`` makes every answer N times slower (the test uses it, so that a loaded
machine's overheads weigh less against the latencies the prediction is about).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # the project: the trace names lines relative to it
sys.path.insert(0, str(HERE))

from _client import DEMO_LATENCY  # noqa: E402

from fanscope.analysis import analyze, read_file  # noqa: E402
from fanscope.analysis.dependencies import Witnesses  # noqa: E402
from fanscope.analysis.report.costs import call_cost  # noqa: E402
from fanscope.cli import main as fanscope_cli  # noqa: E402
from fanscope.testing.anthropic_server import AnthropicStandIn  # noqa: E402

OUT = Path(".fanscope/demo")


def run_agent(server_url: str, trace: Path, sequential: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OTEL_"))}
    env["ANTHROPIC_BASE_URL"] = server_url
    # --warm-up: one untraced call first, so a fresh process's one-time costs (imports, the
    # client's first parse, the first connection) do not land on either run's critical path
    command = [sys.executable, str(HERE / "research_agent.py"), "--trace", str(trace.resolve()),
               "--quiet", "--warm-up"]  # fmt: skip
    if sequential:
        command.append("--sequential")
    subprocess.run(command, check=True, env=env, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-scale", type=float, default=1.0, help="slower answers")
    scale = parser.parse_args().latency_scale
    if not scale > 0:
        parser.error(f"--latency-scale {scale}: give a number above 0, such as 1 or 4")
    latency = {prompt: seconds * scale for prompt, seconds in DEMO_LATENCY.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    traces = {
        "sequential": OUT / "research-sequential.jsonl",
        "parallel": OUT / "research-parallel.jsonl",
    }
    with AnthropicStandIn(latency=0.05 * scale, latency_by_prompt=latency) as server:
        sources = "/".join(f"{latency[p] * 1000:.0f}" for p in ("[news]", "[filings]", "[prices]",
                                                               "[database]"))  # fmt: skip
        print(f"Anthropic stand-in on {server.url}; sources answer in {sources} ms, "
              f"the synthesis in {latency['[synthesis]'] * 1000:.0f} ms\n")  # fmt: skip
        for mode, path in traces.items():
            run_agent(server.url, path, sequential=mode == "sequential")
        requests = server.stats.requests
    # the trace names lines relative to the project: read the source there
    here = Path.cwd().resolve() == ROOT
    root = [] if here else ["--source-root", str(ROOT)]
    for mode, path in traces.items():
        page = path.with_suffix(".html")
        print(f"\n=== {mode} run: fanscope analyze {' '.join([str(path), *root])} --html {page}")
        fanscope_cli(["analyze", str(path), *root, "--html", str(page)])

    witnesses = Witnesses(source_root=ROOT)
    seq = analyze(read_file(traces["sequential"]).spans, witnesses=witnesses).traces[0]
    par = analyze(read_file(traces["parallel"]).spans, witnesses=witnesses).traces[0]
    predicted = seq.duration / seq.whatif
    measured = seq.duration / par.duration
    print("\n=== predicted from the sequential trace vs measured")
    print(f"  {'':<28}{'predicted':>12}{'measured':>12}")
    print(f"  {'parallel run time':<28}{seq.whatif:>11.3f}s{par.duration:>11.3f}s")
    print(f"  {'speed-up over sequential':<28}{predicted:>11.2f}x{measured:>11.2f}x")
    print(f"  prediction error: {abs(predicted / measured - 1) * 100:.1f}%")
    print("\n=== what each run cost (docs/cost.md)")
    for mode, run in (("sequential", seq), ("parallel", par)):
        print(f"  {mode:<12}{call_cost(run.cost) if run.cost else 'no model call'}")
    print(f"\n{requests} requests served; trace files and HTML reports in {OUT}/ "
          f"(for Jaeger UI: 'fanscope convert FILE --to jaeger')")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
