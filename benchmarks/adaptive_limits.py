"""Adaptive concurrency against a provider's hidden limits, in simulated time.

The provider is the stand-in's own (:class:`fanscope.testing.provider.Provider`, on a simulated
clock): hidden requests and input tokens per minute, a concurrency limit that answers 429
past it, and latency that grows past a knee. The client behaves as the anthropic client under a
fanscope Limiter: a 429 holds its slot for the ``retry-after`` and then retries, and pauses every
new call of the limiter for as long. The work is an endless backlog.

Each policy runs the same work side by side:

* ``auto``: fanscope's :class:`~fanscope.Adaptive` controller (from a start of 4 and of 200);
* a static cap set right (the allowed rate times the latency there), too low (4) and too
  high (200);
* AIMD as the plain baseline (Netflix's ``AIMDLimit``: +1 per answer while the limit is in
  use, x0.9 on a 429).

The controllers are compared alone: no policy here paces by tokens or by the headers (what a
``Limiter`` adds on top, ``tests/integrations/test_token_limits.py``); each sees only the 429s,
their ``retry-after`` and the latency. Printed first: the CPU the metering costs per model call.

Printed: the time to reach 90% of the throughput the hidden limits allow (first 10 s window at
or above it), the throughput over the last 4 minutes as a share of what they allow, the share
of requests answered 429, and the most calls the client sent at once (the provider never admits
more than its limit; more sent is more 429s).

    .venv/bin/python benchmarks/adaptive_limits.py [--seconds 300]
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from _targets import target

from fanscope import Adaptive
from fanscope.testing.provider import HiddenLimits, Provider


class Policy(Protocol):
    @property
    def value(self) -> int: ...

    def success(self, now: float, latency: float, in_flight: int, room: float = 1.0) -> object: ...

    def overload(
        self, now: float, sent_at: float, in_flight: int, *, timeout: bool = False
    ) -> object: ...


class Static:
    def __init__(self, cap: int) -> None:
        self.value = cap

    def success(self, now: float, latency: float, in_flight: int, room: float = 1.0) -> None:
        return None

    def overload(
        self, now: float, sent_at: float, in_flight: int, *, timeout: bool = False
    ) -> None:
        return None


class AIMD:
    """Netflix concurrency-limits' AIMDLimit, the plain baseline."""

    def __init__(self, initial: int = 20, low: int = 1, high: int = 256) -> None:
        self.limit, self.low, self.high = float(initial), low, high

    @property
    def value(self) -> int:
        return int(self.limit)

    def success(self, now: float, latency: float, in_flight: int, room: float = 1.0) -> None:
        if in_flight * 2 >= self.limit:
            self.limit = min(self.high, self.limit + 1)

    def overload(
        self, now: float, sent_at: float, in_flight: int, *, timeout: bool = False
    ) -> None:
        self.limit = max(self.low, self.limit * 0.9)


@dataclass
class Result:
    to_90: float | None
    share: float
    rejected: float
    most_sent: int


@dataclass(frozen=True)
class Case:
    name: str
    limits: HiddenLimits
    input_tokens: int
    allowed: float  # requests per second the hidden limits allow
    right: int  # the static cap that is right for it: allowed x the latency there


def run(policy: Policy, case: Case, seconds: float, seed: int = 1) -> Result:
    rng = random.Random(seed)
    clock = [0.0]
    provider = Provider(case.limits, clock=lambda: clock[0], wall=lambda: clock[0])
    flying: list[tuple[float, int, float, str, float]] = []  # (due, id, sent, kind, latency)
    paused_until, held, serial = 0.0, 0, 0
    answered: list[float] = []
    refused = sent_total = most = 0

    def send(now: float) -> None:
        nonlocal held, serial, refused, sent_total, most, paused_until
        serial += 1
        sent_total += 1
        admission = provider.admit("bench", case.input_tokens, 64)
        if not admission.ok:
            refused += 1
            # the client sleeps the retry-after in its slot, then sends again
            paused_until = max(paused_until, now + admission.retry_after)
            heapq.heappush(flying, (now + 0.02, serial, now, "429", admission.retry_after))
            return
        latency = rng.lognormvariate(0, 0.3) * admission.latency_factor
        heapq.heappush(flying, (now + latency, serial, now, "ok", latency))

    now = 0.0
    while now < seconds:
        while held < policy.value and now >= paused_until:
            held += 1
            send(now)
            most = max(most, held)
        if not flying:
            now = paused_until
            continue
        now, _, sent, kind, extra = heapq.heappop(flying)
        clock[0] = now
        if kind == "ok":
            provider.finish(
                "bench", max_tokens=64, input_tokens=case.input_tokens, output_tokens=40
            )
            answered.append(now)
            policy.success(now, now - sent, held)
            held -= 1
        elif kind == "429":
            policy.overload(now, sent, held)
            heapq.heappush(flying, (now + extra, serial, now, "retry", 0.0))
        else:  # the retry after the sleep, in the same slot
            held -= 1
            held += 1
            send(now)
    windows = [0] * (int(seconds // 10) + 1)
    for t in answered:
        windows[int(t // 10)] += 1
    to_90 = next(
        (i * 10.0 + 10 for i, n in enumerate(windows) if n / 10 >= 0.9 * case.allowed), None
    )
    tail = [t for t in answered if t >= seconds - 240]
    return Result(to_90, len(tail) / 240 / case.allowed, refused / max(1, sent_total), most)


CASES = [
    # concurrency-bound: 32 at once, latency grows past 24 in flight (base ~1 s): 24/s
    Case("concurrency 32, knee 24", HiddenLimits(max_concurrency=32, knee=24), 500, 24.0, 24),
    # token-bound: 600k input tokens a minute at 1,000 a request: 10/s
    Case(
        "600k ITPM, concurrency 64",
        HiddenLimits(input_tokens_per_minute=600_000, max_concurrency=64, knee=48),
        1_000,
        10.0,
        10,
    ),
]


def policies(case: Case) -> list[tuple[str, Callable[[], Policy]]]:
    return [
        ("auto from 4", lambda: Adaptive(initial=4)),
        ("auto from 200", lambda: Adaptive(initial=200)),
        (f"static right ({case.right})", lambda: Static(case.right)),
        ("static too low (4)", lambda: Static(4)),
        ("static too high (200)", lambda: Static(200)),
        ("AIMD (Netflix) from 20", lambda: AIMD(20)),
    ]


def per_call_cost(rounds: int = 20_000) -> None:
    """CPU per model call of the metering itself: the input bound of a 4 KB request, and a
    reservation settled against one token rate, and against a rate and a budget."""
    from fanscope import Limiter, budget
    from fanscope.integrations.anthropic.permits import input_bound
    from fanscope.sdk import permits
    from fanscope.sdk.permits import Demand, Spent

    kwargs = {"messages": [{"role": "user", "content": "revenue margin guidance " * 170}]}
    limiter = Limiter(tokens_per_minute=1e12, follow_headers=False)
    pot = budget(tokens=1e15)
    demand, spent = Demand(input_tokens=1000, output_tokens=200), Spent(300, 40)
    print(f"## per model call (CPU, {rounds:,} calls, median of 5 rounds)")
    for name, holders in (("bound of a 4 KB request", None), ("rate", (limiter,)),
                          ("rate + budget", (pot, limiter))):  # fmt: skip
        times = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(rounds):
                if holders is None:
                    input_bound(kwargs)
                    continue
                res = permits.reserve_sync(demand, holders)
                assert res is not None
                res.settle(spent)
            times.append((time.process_time() - start) / rounds * 1e6)
        print(f"{name:<24} {sorted(times)[2]:>6.1f} us")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="simulated seconds per run")
    args = parser.parse_args()
    per_call_cost()
    for case in CASES:
        print(f"## {case.name}: {case.allowed:g} requests/s allowed, {args.seconds:g} s simulated")
        print(f"{'policy':<24} {'to 90%':>8} {'last 4 min':>11} {'429s':>7} {'most sent':>10}")
        autos: list[tuple[str, Result]] = []
        for name, make in policies(case):
            r = run(make(), case, args.seconds)
            reach = f"{r.to_90:.0f} s" if r.to_90 is not None else "never"
            print(f"{name:<24} {reach:>8} {r.share:>10.0%} {r.rejected:>7.2%} {r.most_sent:>10}")
            if name.startswith("auto"):
                autos.append((name, r))
        for name, r in autos:
            target(
                f"adaptive, {case.name}, {name} reaches 90%",
                r.to_90 if r.to_90 is not None else float("inf"),
                60.0,
                unit=" s",
                digits=0,
                note=f"simulated seconds to 90% of {case.allowed:g}/s, of {args.seconds:g} s run",
            )
        ceiling = case.limits.max_concurrency
        most = max(autos, key=lambda named: named[1].most_sent)
        if ceiling is not None:
            # the provider admits none past its ceiling; what auto may send past it is its
            # probe (one request, answered 429): anything more is a controller that overshoots
            target(
                f"adaptive, {case.name}, most sent at once",
                most[1].most_sent,
                ceiling + 1,
                unit="",
                digits=0,
                note=f"the ceiling of {ceiling} plus auto's one probe past it, "
                f"worst of the auto runs ({most[0]})",
            )
        worst = max(autos, key=lambda named: named[1].rejected)
        target(
            f"adaptive, {case.name}, 429s",
            worst[1].rejected * 100,
            1.0,
            unit="%",
            note=f"share of requests answered 429, worst of the auto runs ({worst[0]})",
        )
        print()


if __name__ == "__main__":
    main()
