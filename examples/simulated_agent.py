"""The essay's research agent with simulated I/O: four independent lookups, then a synthesis.

Runs offline with no API key. ``--sequential`` runs the naive version (one lookup after
another); the default runs the lookups together with ``fanscope.gather``. Spans go to the
trace file given with ``--trace`` (OTLP JSON lines), which ``fanscope analyze`` reads.

    python examples/simulated_agent.py --trace .fanscope/simulated.jsonl
    python examples/simulated_agent.py --sequential --trace .fanscope/simulated-seq.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import time

import fanscope
from fanscope import parallel, traced

LATENCY = {"news": 0.20, "filings": 0.25, "prices": 0.10, "db": 0.15}


@parallel(max_concurrency=8)
async def lookup(source: str, question: str) -> str:
    await asyncio.sleep(LATENCY[source])  # stands in for an API call
    return f"{source} says: {question} is up eleven percent on strong demand this quarter"


@traced
async def synthesize(parts: list[str]) -> str:
    await asyncio.sleep(0.05)
    return " / ".join(p.split(":")[0] for p in parts)


@traced
async def research(question: str, sequential: bool) -> str:
    if sequential:
        parts = [await lookup(source, question) for source in LATENCY]
    else:
        answers = await fanscope.gather(
            news=lookup("news", question),
            filings=lookup("filings", question),
            prices=lookup("prices", question),
            db=lookup("db", question),
        )
        parts = list(answers)
    return await synthesize(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", action="store_true", help="run the naive version")
    parser.add_argument("--trace", default=".fanscope/simulated.jsonl", help="trace file")
    args = parser.parse_args()
    provider = fanscope.configure(service_name="simulated-agent", trace_file=args.trace)
    start = time.perf_counter()
    answer = asyncio.run(research("ACME", args.sequential))
    elapsed = time.perf_counter() - start
    provider.force_flush()
    mode = "sequential" if args.sequential else "parallel"
    print(f"{mode}: {elapsed:.2f}s  answer: {answer}")
    print(f"trace written to {args.trace}")


if __name__ == "__main__":
    main()
