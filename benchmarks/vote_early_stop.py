"""What early stopping saves a vote: wall time, voter calls and voter time, measured side by side.

Five voters per vote (``@vote(n=5)``, majority), each answering ``True`` with probability
``--agree`` after a log-normal latency (median 20 ms, sigma 0.8: a long tail, as LLM calls
have). Every vote's draws are seeded and replayed two ways, interleaved so that both see the
same machine: with early stop (the default: the remaining voters are cancelled once the
winner cannot change) and with ``early_stop=False`` (waiting for all five). Prints p50 and
p95 wall time of each and their ratios, the share of voter calls cancelled, and voter time
spent (the time voters ran before answering or being cancelled: what a streaming model bills
output tokens for), and checks that both ways picked the same winner every time.

Run: ``make bench`` or ``.venv/bin/python benchmarks/vote_early_stop.py`` (about 15 s).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from _targets import check, target
from opentelemetry.trace import NoOpTracerProvider

from fanscope import vote
from fanscope.sdk.tracing import use_tracer_provider

MODES = ("early stop", "wait for all")
N = 5


@dataclass
class Figures:
    walls: list[float] = field(default_factory=list)  # seconds per vote
    cancelled: int = 0  # voter calls cancelled
    busy: float = 0.0  # seconds voters ran, summed over voters
    winners: list[object] = field(default_factory=list)

    def p(self, q: int) -> float:
        return statistics.quantiles(self.walls, n=100, method="inclusive")[q - 1]


async def run(votes: int, seed: int, agree: float) -> dict[str, Figures]:
    rng = random.Random(seed)
    plans = [
        [(rng.lognormvariate(-3.9, 0.8), rng.random() < agree) for _ in range(N)]
        for _ in range(votes)
    ]
    draws: dict[int, Iterator[tuple[float, bool]]] = {}
    busy = 0.0

    async def voter(k: int) -> bool:
        nonlocal busy
        delay, answer = next(draws[k])  # each voter of vote k takes the next seeded draw
        started = time.perf_counter()
        try:
            await asyncio.sleep(delay)
        finally:
            busy += time.perf_counter() - started
        return answer

    judges = {MODES[0]: vote(n=N)(voter), MODES[1]: vote(n=N, early_stop=False)(voter)}
    figures = {mode: Figures() for mode in MODES}
    for k, plan in enumerate(plans):
        for mode in MODES if k % 2 == 0 else MODES[::-1]:  # neither way always runs first
            draws[k] = iter(plan)
            busy = 0.0
            started = time.perf_counter()
            ballot = await judges[mode].ballot(k)
            f = figures[mode]
            f.walls.append(time.perf_counter() - started)
            f.cancelled += ballot.cancelled
            f.busy += busy
            f.winners.append(ballot.winner)
    if figures[MODES[0]].winners != figures[MODES[1]].winners:
        raise SystemExit("early stop changed a winner: this is a bug in @vote")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--votes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--agree", type=float, default=0.8, help="P(a voter answers True)")
    args = parser.parse_args()
    with use_tracer_provider(NoOpTracerProvider()):
        figures = asyncio.run(run(args.votes, args.seed, args.agree))
    calls = args.votes * N
    print(
        f"vote early stop: {args.votes} votes of {N} log-normal voters (median 20 ms, "
        f"P(True)={args.agree:g}), seed {args.seed}; the same winner both ways in every vote"
    )
    print(f"  {'':<13} {'p50':>9} {'p95':>9}  {'calls cancelled':>15}  {'voter time':>10}")
    for mode, f in figures.items():
        print(
            f"  {mode:<13} {f.p(50) * 1000:6.1f} ms {f.p(95) * 1000:6.1f} ms  "
            f"{f.cancelled / calls:>15.0%}  {f.busy:>8.2f} s"
        )
    early, full = figures[MODES[0]], figures[MODES[1]]
    print(
        f"  early stop / wait for all: p50 {early.p(50) / full.p(50):.2f}x, "
        f"p95 {early.p(95) / full.p(95):.2f}x, voter time {early.busy / full.busy:.2f}x"
    )
    same = early.winners == full.winners  # run() stops the script before, if not
    check(
        "vote early stop, the same winner both ways",
        same,
        f"{args.votes}/{args.votes}" if same else "differs",
        "every vote",
    )
    for q in (50, 95):
        target(
            f"vote early stop, p{q} over waiting for all",
            early.p(q) / full.p(q),
            1.0,
            note=f"{early.p(q) * 1000:.1f} ms against {full.p(q) * 1000:.1f} ms; "
            "no number set: never slower than waiting",
        )


if __name__ == "__main__":
    main()
