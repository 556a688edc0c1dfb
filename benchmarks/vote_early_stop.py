"""What early stopping saves a vote: wall time and voter calls, with seeded long-tailed voters.

Five voters per vote, each answering ``True`` with probability 0.8 after a log-normal latency
(median 20 ms, sigma 0.8: a long tail, as LLM calls have). The same seeded draws are run two
ways, interleaved: ``@vote(n=5)`` (majority, stops as soon as the winner cannot change) and a
vote that waits for all five (the same majority computed by a callable aggregation, which
never stops early). Prints p50 and p95 wall time of each, their ratio, and the share of voter
calls cancelled (tokens not spent).

Run: ``make bench`` or ``.venv/bin/python benchmarks/vote_early_stop.py --votes 200``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter
from typing import Any

from opentelemetry.trace import NoOpTracerProvider

from fanscope import Ballot, vote
from fanscope.sdk.tracing import use_tracer_provider


def majority_of_all(ballot: Ballot[bool]) -> bool | None:
    counts = Counter(o.value for o in ballot.outcomes if o.ok)
    (winner, votes), *_ = counts.most_common()
    return winner if votes > sum(counts.values()) / 2 else None


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def run(votes: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    plans = [
        [(rng.lognormvariate(-3.9, 0.8), rng.random() < 0.8) for _ in range(5)]
        for _ in range(votes)
    ]
    current: list[list[tuple[float, bool]]] = []

    async def voter(i: int) -> bool:
        delay, answer = current[0].pop()
        await asyncio.sleep(delay)
        return answer

    early = vote(n=5)(voter)
    waits = vote(n=5, aggregate=majority_of_all)(voter)
    walls: dict[str, list[float]] = {"early stop": [], "wait for all": []}
    cancelled = {"early stop": 0, "wait for all": 0}
    for plan in plans:
        for name, judge in (("early stop", early), ("wait for all", waits)):
            current[:] = [list(plan)]
            start = time.perf_counter()
            ballot = await judge.ballot(0)
            walls[name].append(time.perf_counter() - start)
            cancelled[name] += ballot.cancelled
    return {"walls": walls, "cancelled": cancelled, "calls": votes * 5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with use_tracer_provider(NoOpTracerProvider()):
        result = asyncio.run(run(args.votes, args.seed))
    walls = result["walls"]
    print(f"vote early stop: {args.votes} votes of 5 log-normal voters (median 20 ms)")
    for name, values in walls.items():
        share = result["cancelled"][name] / result["calls"]
        p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
        print(f"  {name:<13} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  calls cancelled {share:.0%}")
    for q in (50, 95):
        ratio = percentile(walls["early stop"], q) / percentile(walls["wait for all"], q)
        print(f"  p{q} early stop / wait for all = {ratio:.2f}x")


if __name__ == "__main__":
    main()
