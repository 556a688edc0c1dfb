"""Hedged attempts against stragglers: p99 of a 50-branch fan-out with hedging and without.

Each arm has its own stand-in (``fanscope.testing``), in a process of its own so that serving
does not take the client's CPU. Every stand-in draws each answer's latency from the same
log-normal (median ``--median``, sigma 0.5) in which 2% of answers take 20 times as long (a
stuck replica). A round is one ``map`` of 50 calls through the real ``anthropic`` client; the
arms take turns round by round, in a rotating order, on the same prompts. Before measuring,
each hedged arm runs warm-up rounds, enough for the percentile's samples (none is sent before).

Printed per arm: p50 and p99 of the round's wall time, hedges sent and won, and the tokens each
stand-in billed (input and output, the cancelled losers included: a stand-in bills every answer
it produced, as a provider does). The target: p99 at least 50% lower than without hedging, for
at most 5% more tokens.

    .venv/bin/python benchmarks/hedging.py [--rounds 120] [--median 0.3]

``--model`` runs the same rounds on modelled time instead, in a second or so and whatever the
machine's load: fanscope's own ``Hedge``, call-site percentiles and token bucket, the stand-in's
own latency draw, no client and no clock. Every branch starts at once, so the branches still
running at the delay ask for their tokens together; a hedge wins when the delay plus its own
latency beats the first attempt's. It prints, over ``--blocks`` runs of ``--rounds`` rounds
each (the live run's size), how often the target holds, and shows the rule before the bucket's
floor (``docs/hedging.md``, "How late a hedge goes") beside today's.

    .venv/bin/python benchmarks/hedging.py --model [--blocks 40] [--rounds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
from _targets import target
from opentelemetry.sdk.trace import TracerProvider

from fanscope import Hedge, parallel
from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.sdk import hedge as hedging
from fanscope.sdk import hedge_policy
from fanscope.sdk.tracing import use_tracer_provider
from fanscope.testing import lognormal

BRANCHES = 50
MODEL = "claude-haiku-5-5"
TARGET_P99 = 0.5  # hedged p99 / unhedged p99 at most this
TARGET_TOKENS = 0.05  # extra tokens at most this share

SERVE = """
import json, sys
from fanscope.testing import AnthropicStandIn, lognormal
median, seed = float(sys.argv[1]), int(sys.argv[2])
server = AnthropicStandIn(latency=lognormal(median, 0.5, slow_share=0.02), seed=seed).start()
print(server.url, flush=True)
for line in sys.stdin:
    print(json.dumps(server.stats.as_dict()), flush=True)
server.stop()
"""


class StandIn:
    """A stand-in in a process of its own; ``stats()`` asks it what it billed."""

    def __init__(self, median: float, seed: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(median), str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


@dataclass
class Arm:
    name: str
    hedge: Hedge | None
    server: StandIn
    walls: list[float] = field(default_factory=list)
    fn: Any = None
    client: anthropic.AsyncAnthropic | None = None

    def p(self, q: float) -> float:
        return percentile(self.walls, q)


def make_fn(client: anthropic.AsyncAnthropic, hedge: Hedge | None) -> Any:
    @parallel(max_concurrency=64, hedge=hedge)
    async def summarize(item: str) -> str:
        m = await client.messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": item}]
        )
        return str(m.content[0].text)  # type: ignore[union-attr]

    return summarize


async def one_round(arm: Arm, items: list[str]) -> float:
    started = time.perf_counter()
    await arm.fn.map(items)
    return time.perf_counter() - started


def sites_of(arm: Arm) -> tuple[int, int]:
    """(attempts, hedges) of the arm's call site."""
    found = hedge_policy.sites_of(arm.hedge) if arm.hedge is not None else []
    return sum(s.attempts for s in found), sum(s.hedges for s in found)


async def settle(arms: list[Arm]) -> None:
    """Wait until no stand-in is still working on an answer (cancelled losers included)."""
    for _ in range(600):
        if all(arm.server.stats()["in_flight"] == 0 for arm in arms):
            return
        await asyncio.sleep(0.1)


async def main(rounds: int, median: float) -> int:
    arms = [
        Arm("no hedging", None, StandIn(median, 1)),
        Arm("Hedge('p95')", Hedge("p95", max_extra=0.05), StandIn(median, 2)),
        Arm("Hedge('p98')", Hedge("p98", max_extra=0.05), StandIn(median, 3)),
    ]
    try:
        for arm in arms:
            arm.client = anthropic.AsyncAnthropic(
                base_url=arm.server.url, api_key="bench", max_retries=0
            )
            arm.fn = make_fn(arm.client, arm.hedge)
        # warm-up: connections, and the percentile's samples (not measured, not billed below)
        for arm in arms:
            needed = arm.hedge.min_samples if arm.hedge is not None else BRANCHES
            for w in range(-(-needed // BRANCHES) + 1):
                await one_round(
                    arm, [f"Warm-up {w}.{i}: summarise the filing" for i in range(BRANCHES)]
                )
        await settle(arms)
        billed0 = {arm.name: arm.server.stats() for arm in arms}
        sent0 = {arm.name: sites_of(arm) for arm in arms}
        for r in range(rounds):
            items = [f"Round {r} item {i}: summarise the filing" for i in range(BRANCHES)]
            shift = r % len(arms)
            for arm in arms[shift:] + arms[:shift]:
                arm.walls.append(await one_round(arm, items))
        await settle(arms)
        tokens = {}
        for arm in arms:
            now, before = arm.server.stats(), billed0[arm.name]
            tokens[arm.name] = sum(now[k] - before[k] for k in ("input_tokens", "output_tokens"))
    finally:
        for arm in arms:
            if arm.client is not None:
                await arm.client.close()
            arm.server.close()

    base = arms[0]
    print(
        f"{rounds} rounds of a {BRANCHES}-branch fan-out per arm, median {median * 1000:.0f} ms, "
        f"sigma 0.5, 2% of answers x20; load average {os.getloadavg()[0]:.1f}"
    )
    heads = ("p50 s", 7), ("p99 s", 7), ("p99 ratio", 9), ("hedges", 7), ("tokens", 9), ("extra", 7)
    print(f"{'arm':<14} " + " ".join(f"{h:>{w}}" for h, w in heads))
    for arm in arms:
        attempts, hedges = (a - b for a, b in zip(sites_of(arm), sent0[arm.name], strict=True))
        ratio = arm.p(0.99) / base.p(0.99)
        extra = tokens[arm.name] / tokens[base.name] - 1
        share = f"{hedges / attempts:.1%}" if attempts else "-"
        print(
            f"{arm.name:<14} {arm.p(0.5):7.3f} {arm.p(0.99):7.3f} {ratio:9.2f} {share:>7} "
            f"{tokens[arm.name]:9d} {extra:+7.1%}"
        )
        if arm.hedge is not None:
            ok = ratio <= TARGET_P99 and extra <= TARGET_TOKENS
            print(
                f"  target p99 <= {TARGET_P99:.0%} of no hedging, tokens <= +{TARGET_TOKENS:.0%}: "
                f"measured {ratio:.0%}, {extra:+.1%}: {'holds' if ok else 'does not hold'}"
            )
            target(f"hedging, {arm.name}, p99 over no hedging", ratio, TARGET_P99,
                   note=f"{rounds} rounds of {BRANCHES} branches")  # fmt: skip
            target(f"hedging, {arm.name}, extra tokens", extra * 100, TARGET_TOKENS * 100,
                   unit="%", digits=1, note="over no hedging")  # fmt: skip
    print("p50 ratios: " + ", ".join(f"{a.name} {a.p(0.5) / base.p(0.5):.2f}" for a in arms[1:]))
    return 0


# -- the same rounds on modelled time ------------------------------------------------------------


def model_rounds(hedge: Hedge | None, rounds: int, seed: int) -> tuple[list[float], int, int]:
    """Round times (in medians) of ``rounds`` fan-outs after the warm-up; attempts, hedges."""
    draw = lognormal(1.0, 0.5, slow_share=0.02)
    rng = random.Random(seed)
    site = hedge_policy.Site(hedge) if hedge is not None else None
    warm = -(-hedge.min_samples // BRANCHES) + 1 if hedge is not None else 0
    walls: list[float] = []
    attempts = hedges = 0
    for r in range(warm + rounds):
        firsts = [draw(MODEL, rng) for _ in range(BRANCHES)]
        ends = list(firsts)
        if site is not None:
            scope = hedging.Scope(site)
            for _ in firsts:
                scope.earn()  # every branch starts at once
            delay = site.delay(None)
            for i, first in enumerate(firsts):
                if delay is None or first <= delay or not scope.take(first=True):
                    site.record(None, first)
                    continue
                scope.sending()
                hedges += r >= warm
                second = draw(MODEL, rng)
                if delay + second < first:  # the hedge answers first
                    ends[i] = delay + second
                    site.record(None, second)
                    site.record(None, ends[i])  # the first attempt, cut
                else:
                    site.record(None, first)
            scope.close()
        if r >= warm:
            walls.append(max(ends))
            attempts += BRANCHES
    return walls, attempts, hedges


def before_the_floor() -> Hedge:
    """``Hedge("p95")`` as it was before the bucket's floor: the delay at the p95 itself."""
    hedge = Hedge("p95", max_extra=0.05, min_samples=100)
    hedge.quantile = 0.95
    return hedge


def model(blocks: int, rounds: int) -> int:
    arms: dict[str, Callable[[], Hedge]] = {
        "p95, no floor": before_the_floor,
        "Hedge('p95')": lambda: Hedge("p95", max_extra=0.05),
        "Hedge('p98')": lambda: Hedge("p98", max_extra=0.05),
    }
    print(
        f"modelled time: {blocks} runs of {rounds} rounds of a {BRANCHES}-branch fan-out per arm, "
        "log-normal sigma 0.5, 2% of answers x20, every branch started at once; "
        "times in medians"
    )
    heads = ("delay", 6), ("p99 ratio", 9), ("10%-90%", 11), ("holds", 7), ("hedges", 7)
    print(f"{'arm':<14} " + " ".join(f"{h:>{w}}" for h, w in heads))
    for name, make in arms.items():
        ratios: list[float] = []
        sent = tried = 0
        for b in range(blocks):
            base, _, _ = model_rounds(None, rounds, seed=2 * b)
            walls, attempts, hedges = model_rounds(make(), rounds, seed=2 * b + 1)
            ratios.append(percentile(walls, 0.99) / percentile(base, 0.99))
            sent, tried = sent + hedges, tried + attempts
        deciles = statistics.quantiles(ratios, n=10, method="inclusive")
        holds = sum(r <= TARGET_P99 for r in ratios)
        quantile = make().quantile or 0.0
        print(
            f"{name:<14} {f'p{quantile * 100:g}':>6} {statistics.median(ratios):9.2f} "
            f"{f'{deciles[0]:.2f}-{deciles[-1]:.2f}':>11} {f'{holds}/{blocks}':>7} "
            f"{sent / tried:7.1%}"
        )
    return 0


def percentile(walls: list[float], q: float) -> float:
    ordered = sorted(walls)
    return ordered[max(0, int(q * len(ordered) + 0.5) - 1)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--median", type=float, default=0.3, help="median latency, seconds")
    parser.add_argument("--model", action="store_true", help="modelled time, no client")
    parser.add_argument("--blocks", type=int, default=40, help="runs of the model per arm")
    args = parser.parse_args()
    if args.model:
        raise SystemExit(model(args.blocks, args.rounds))
    with use_tracer_provider(TracerProvider()):
        AnthropicInstrumentor().instrument()
        raise SystemExit(asyncio.run(main(args.rounds, args.median)))
