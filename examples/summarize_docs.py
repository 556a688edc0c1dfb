"""Forty documents summarized with ``@parallel(max_concurrency=8)``.

    python examples/summarize_docs.py

Runs offline against the bundled stand-in, or live when ANTHROPIC_API_KEY is set. Writes its
trace file and prints the analyzer's report: the fan-out, its slowest branch, and the time the
branches spent waiting in line behind the cap of 8.
"""

from __future__ import annotations

import argparse
import time

import anthropic
from _client import MODEL, anthropic_client, print_report, text_of, traced_run

from fanscope import Retry, parallel

DOCS = [
    f"Quarterly note {i}: segment {i % 5} grew {3 + i % 7}% on cloud demand." for i in range(40)
]
client: anthropic.AsyncAnthropic


@parallel(max_concurrency=8, retry=Retry(attempts=4), timeout=60)
async def summarize(doc: str) -> str:
    message = await client.messages.create(
        model=MODEL,
        max_tokens=200,
        messages=[{"role": "user", "content": f"[summary] Summarize in 3 bullets:\n{doc}"}],
    )
    return text_of(message)


async def run() -> tuple[list[str], float]:
    global client
    with anthropic_client() as client:
        start = time.perf_counter()
        summaries = await summarize.map(DOCS)
        elapsed = time.perf_counter() - start
        await client.close()
    return summaries, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default=".fanscope/summarize.jsonl")
    args = parser.parse_args()
    summaries, elapsed = traced_run("summarize-docs", args.trace, run)
    print(f"{len(summaries)} summaries in {elapsed:.2f}s; trace in {args.trace}")
    print_report(args.trace)


if __name__ == "__main__":
    main()
