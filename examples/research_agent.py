"""The essay's research agent: four independent sources, then a synthesis that uses them.

    python examples/research_agent.py              # the four lookups run together
    python examples/research_agent.py --sequential # the naive version, one after another

Runs offline against the bundled stand-in, or live when ANTHROPIC_API_KEY is set. Writes its
trace file (``--trace``) and prints the analyzer's report of it.
"""

from __future__ import annotations

import argparse
import time

import anthropic
from _client import MODEL, anthropic_client, print_report, text_of, traced_run

import fanscope
from fanscope import Limiter, Retry, parallel, traced

# Every call to the provider shares one budget, whichever source makes it.
PROVIDER = Limiter(max_concurrency=8, name="anthropic")
RETRY = Retry(attempts=4)
client: anthropic.AsyncAnthropic  # set in run()


async def ask(prompt: str, max_tokens: int = 300) -> str:
    message = await client.messages.create(
        model=MODEL, max_tokens=max_tokens, messages=[{"role": "user", "content": prompt}]
    )
    return text_of(message)


@parallel(limiter=PROVIDER, retry=RETRY, timeout=60)
async def search_news(q: str) -> str:
    return await ask(f"[news] Summarize this week's news coverage of {q} in three bullets.")


@parallel(limiter=PROVIDER, retry=RETRY, timeout=60)
async def fetch_filings(q: str) -> str:
    return await ask(f"[filings] Summarize {q}'s latest regulatory filings in three bullets.")


@parallel(limiter=PROVIDER, retry=RETRY, timeout=60)
async def price_feed(q: str) -> str:
    return await ask(f"[prices] Describe {q}'s share price moves this month in two sentences.")


@parallel(limiter=PROVIDER, retry=RETRY, timeout=60)
async def query_db(q: str) -> str:
    return await ask(f"[database] Summarize our internal notes on {q} in three bullets.")


@parallel(limiter=PROVIDER, retry=RETRY, timeout=60)
async def synthesize(q: str, notes: dict[str, str]) -> str:
    text = "\n\n".join(f"{name}: {note}" for name, note in notes.items())
    return await ask(f"[synthesis] Write a brief on {q} from these notes:\n\n{text}")


@traced
async def research(q: str, sequential: bool = False) -> str:
    if sequential:  # the naive version: each lookup waits for the one before
        notes = {
            "news": await search_news(q),
            "filings": await fetch_filings(q),
            "prices": await price_feed(q),
            "db": await query_db(q),
        }
    else:
        answers = await fanscope.gather(
            news=search_news(q), filings=fetch_filings(q), prices=price_feed(q), db=query_db(q)
        )
        notes = answers.as_dict()
    return await synthesize(q, notes)


async def warm_up() -> None:
    """One untraced call before the run: a process's first request pays one-time set-up."""
    from opentelemetry.trace import NoOpTracerProvider

    from fanscope.sdk.tracing import use_tracer_provider

    quiet = client.with_options(open_telemetry=False)
    with use_tracer_provider(NoOpTracerProvider()):
        await quiet.messages.create(
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "[warm-up] ping"}]
        )


async def run(question: str, sequential: bool, warm: bool = False) -> tuple[str, float]:
    global client
    with anthropic_client() as client:
        if warm:
            await warm_up()
        start = time.perf_counter()
        brief = await research(question, sequential)
        elapsed = time.perf_counter() - start
        await client.close()
    return brief, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", action="store_true", help="one lookup after another")
    parser.add_argument("--question", default="ACME Corp")
    parser.add_argument("--trace", default=".fanscope/research.jsonl", help="trace file")
    parser.add_argument("--quiet", action="store_true", help="no report, only the timing")
    parser.add_argument("--warm-up", action="store_true", help="one untraced call first")
    args = parser.parse_args()
    brief, elapsed = traced_run(
        "research-agent", args.trace, lambda: run(args.question, args.sequential, args.warm_up)
    )
    mode = "sequential" if args.sequential else "parallel"
    print(f"{mode} research agent: {elapsed:.2f}s; trace in {args.trace}")
    print(f"brief: {brief[:100]}...")
    if not args.quiet:
        print_report(args.trace)


if __name__ == "__main__":
    main()
