"""Hedged attempts (``@parallel(hedge=Hedge(...))``): who wins, what is cancelled, what the spans
say, when no hedge is sent. Outcomes are decided by events between the attempts, never by how
long something took."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import fanscope
from fanscope import Hedge, Retry, parallel
from fanscope.errors import ConfigurationError, UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk import hedge as hedging
from fanscope.sdk import hedge_policy
from tests.conftest import spans_named

ALWAYS = {"after": 0.001, "max_extra": 1.0}  # a hedge for every attempt past 1 ms


class Attempts:
    """Numbers each attempt of each item, and lets one attempt wait for another to start."""

    def __init__(self) -> None:
        self.turns: dict[Any, int] = {}
        self.started: dict[Any, asyncio.Event] = {}
        self.cancelled: list[Any] = []

    def next(self, item: Any) -> tuple[int, asyncio.Event]:
        turn = self.turns[item] = self.turns.get(item, 0) + 1
        return turn, self.started.setdefault(item, asyncio.Event())

    async def forever(self, item: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(item)
            raise


@pytest.mark.parametrize(
    ("options", "wrong"),
    [
        ({"after": "p100"}, "percentile"),
        ({"after": "95"}, "percentile"),
        ({"after": 0}, "seconds > 0"),
        ({"after": True}, "percentile"),
        ({"after": float("inf")}, "seconds > 0"),
        ({"max_extra": 0}, "max_extra"),
        ({"max_extra": 1.5}, "max_extra"),
        ({"burst": -1}, "burst"),
        ({"window": 0}, "window"),
        ({"min_samples": 0}, "min_samples"),
        ({"min_samples": 50, "window": 10}, "window=50"),
    ],
)
def test_a_wrong_setting_is_a_one_line_error_that_says_what_to_pass(
    options: dict[str, Any], wrong: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Hedge(**options)
    message = str(caught.value)
    assert wrong in message and "\n" not in message


def test_hedge_must_be_a_hedge() -> None:
    with pytest.raises(UsageError, match=r"fanscope\.Hedge\('p95'\)"):
        parallel(hedge="p95")  # type: ignore[call-overload]


def test_the_default_samples_leave_five_answers_above_the_percentile() -> None:
    assert Hedge("p95", max_extra=0.1).min_samples == 100
    assert Hedge("p95").min_samples == 200  # the delay is p97.5 at the default 5%
    assert Hedge("p99").min_samples == 500
    assert Hedge("p50", max_extra=1.0).min_samples == 20
    assert Hedge(0.5).seconds == 0.5


def test_the_percentile_is_never_below_what_half_the_budget_pays_for() -> None:
    assert Hedge("p95").quantile == pytest.approx(0.975)
    assert Hedge("p95", max_extra=0.1).quantile == pytest.approx(0.95)
    assert Hedge("p99").quantile == pytest.approx(0.99)
    assert Hedge("p50", max_extra=0.02).quantile == pytest.approx(0.99)
    assert Hedge(0.5).quantile is None  # a fixed delay is taken as given


def test_the_repr_shows_the_percentile_used_not_only_the_one_asked_for() -> None:
    assert repr(Hedge("p95")) == (
        "Hedge(after='p95', quantile=0.975, max_extra=0.05, burst=10.0, min_samples=200, "
        "window=1000)"
    )
    assert "quantile=0.95," in repr(Hedge("p95", max_extra=0.1))
    assert "quantile=0.995," in repr(Hedge("p50", max_extra=0.01))
    assert "quantile" not in repr(Hedge(0.8))  # a fixed delay is taken as given


def test_a_percentile_whose_default_samples_outgrow_the_window_says_so() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Hedge("p99.9")
    message = str(caught.value)
    assert message.startswith("Hedge(after='p99.9') needs 5000 answers before it hedges")
    assert "pass window=5000 or more" in message and "\n" not in message
    assert Hedge("p99.9", window=5000).min_samples == 5000


@settings(max_examples=200, deadline=None)
@given(
    after=st.integers(50, 99),
    max_extra=st.floats(0.001, 1.0),
    samples=st.lists(st.floats(0.0, 1e4), min_size=1, max_size=300),
)
def test_no_more_than_half_the_budget_s_share_of_the_samples_is_past_the_delay(
    after: int, max_extra: float, samples: list[float]
) -> None:
    policy = Hedge(f"p{after}", max_extra=max_extra, min_samples=1, window=300)
    site = hedge_policy.Site(policy)
    for seconds in samples:
        site.record(None, seconds)
    delay = site.delay(None)
    assert delay is not None and delay in samples
    past = sum(seconds > delay for seconds in samples)
    assert past <= max_extra / 2 * len(samples) + 1e-9  # the bucket's share of attempts, halved
    assert past <= (1 - after / 100) * len(samples) + 1e-9  # never earlier than asked
    # and it is the percentile asked for when the budget can pay for it
    if 1 - after / 100 < max_extra / 2 - 1e-9:
        ordered = sorted(samples)
        assert delay == ordered[max(0, math.ceil(after / 100 * len(ordered)) - 1)]


async def test_a_stuck_attempt_is_hedged_the_hedge_wins_and_the_stuck_one_is_cancelled(
    exporter: InMemorySpanExporter,
) -> None:
    seen = Attempts()

    @parallel(hedge=Hedge(**ALWAYS))
    async def ask(item: str) -> str:
        turn, _ = seen.next(item)
        if turn == 1:
            await seen.forever(item)
        return f"{item} from attempt {turn}"

    assert await ask.map(["q"]) == ["q from attempt 2"]
    assert seen.cancelled == ["q"]
    (hedge,) = spans_named(exporter, "hedge ask")
    (branch,) = spans_named(exporter, "ask")
    (fanout,) = spans_named(exporter, "map ask")
    assert hedge.attributes[A.ROLE] == A.ROLE_HEDGE
    assert hedge.attributes[A.HEDGE_OUTCOME] == A.HEDGE_OUTCOME_WON
    assert hedge.parent is not None and hedge.parent.span_id == branch.context.span_id
    assert branch.attributes[A.HEDGE_WINNER] == A.HEDGE_WINNER_HEDGE
    assert branch.attributes[A.BRANCH_OUTCOME] == A.OUTCOME_OK
    assert fanout.attributes[A.FANOUT_HEDGES] == 1
    assert fanout.attributes[A.FANOUT_HEDGES_WON] == 1
    # the hedged attempt had run its delay when the hedge went: it began that long before
    delay = hedge.attributes[A.HEDGE_DELAY]
    assert isinstance(delay, float) and delay >= 0.001
    assert hedge.start_time is not None and branch.start_time is not None
    assert hedge.start_time - int(delay * 1e9) >= branch.start_time - 1_000_000


async def test_the_first_attempt_answering_while_the_hedge_runs_wins_and_the_hedge_is_lost(
    exporter: InMemorySpanExporter,
) -> None:
    seen = Attempts()

    @parallel(hedge=Hedge(**ALWAYS))
    async def ask(item: str) -> str:
        turn, started = seen.next(item)
        if turn == 1:
            await started.wait()  # answers once the hedge runs
            return "first"
        started.set()
        await seen.forever(item)
        return "hedge"

    assert await ask("q") == "first"  # a lone call is hedged too
    assert seen.cancelled == ["q"]
    (hedge,) = spans_named(exporter, "hedge ask")
    (branch,) = spans_named(exporter, "ask")
    assert hedge.attributes[A.HEDGE_OUTCOME] == A.HEDGE_OUTCOME_LOST
    assert branch.attributes[A.HEDGE_WINNER] == A.HEDGE_WINNER_PRIMARY


async def test_a_failing_hedge_does_not_fail_the_branch_when_the_first_attempt_answers(
    exporter: InMemorySpanExporter,
) -> None:
    seen = Attempts()

    @parallel(hedge=Hedge(**ALWAYS))
    async def ask(item: str) -> str:
        turn, started = seen.next(item)
        if turn == 1:
            await started.wait()
            return "first"
        started.set()
        raise ValueError("the hedge broke")

    assert await ask.map(["q"]) == ["first"]
    (hedge,) = spans_named(exporter, "hedge ask")
    assert hedge.attributes[A.HEDGE_OUTCOME] == A.HEDGE_OUTCOME_FAILED
    assert hedge.status.status_code == StatusCode.ERROR
    (branch,) = spans_named(exporter, "ask")
    assert branch.attributes[A.BRANCH_OUTCOME] == A.OUTCOME_OK


async def test_a_failing_first_attempt_does_not_fail_the_branch_when_the_hedge_answers(
    exporter: InMemorySpanExporter,
) -> None:
    seen = Attempts()

    @parallel(hedge=Hedge(**ALWAYS))
    async def ask(item: str) -> str:
        turn, started = seen.next(item)
        if turn == 1:
            await started.wait()
            raise ValueError("the first attempt broke")
        started.set()
        await asyncio.sleep(0)
        return "hedge"

    assert await ask.map(["q"]) == ["hedge"]
    (branch,) = spans_named(exporter, "ask")
    assert branch.attributes[A.HEDGE_WINNER] == A.HEDGE_WINNER_HEDGE


async def test_both_attempts_failing_is_one_failed_attempt_and_the_retry_policy_decides(
    exporter: InMemorySpanExporter,
) -> None:
    seen = Attempts()

    @parallel(hedge=Hedge(**ALWAYS), retry=Retry(attempts=2, initial=0, retry_on=ValueError))
    async def ask(item: str) -> str:
        turn, started = seen.next(item)
        if turn == 1:
            await started.wait()
            raise ValueError("first attempt")
        if turn == 2:
            started.set()
            raise KeyError("its hedge")
        return "the retry"

    assert await ask.map(["q"]) == ["the retry"]
    (branch,) = spans_named(exporter, "ask")
    assert branch.attributes[A.BRANCH_ATTEMPTS] == 2
    retry = [e for e in branch.events if e.name == A.EVENT_RETRY]
    assert retry and retry[0].attributes is not None
    assert retry[0].attributes[A.ERROR_TYPE] == "ValueError"  # the first attempt's error


async def test_no_hedge_before_the_call_site_has_its_samples(
    exporter: InMemorySpanExporter,
) -> None:
    policy = Hedge("p50", min_samples=20, max_extra=1.0)
    seen = Attempts()

    @parallel(hedge=policy)
    async def ask(item: int) -> int:
        turn, _ = seen.next(item)
        if item == -1 and turn == 1:
            await seen.forever(item)
        return item

    def site() -> hedge_policy.Site:
        (found,) = hedge_policy.sites_of(policy)
        return found

    async def run(items: list[int]) -> list[int]:
        return await ask.map(items)  # one call site: this line

    await run(list(range(19)))
    assert site().samples() == 19 and site().delay(None) is None
    await run([19])
    assert site().delay(None) is not None
    assert spans_named(exporter, "hedge ask") == []
    assert await run([-1]) == [-1]  # stuck, and now hedged
    assert len(spans_named(exporter, "hedge ask")) == 1


@pytest.mark.parametrize(("max_extra", "hedged"), [(0.05, False), (0.2, True)])
async def test_a_straggler_past_p95_waits_for_the_percentile_its_budget_pays_for(
    exporter: InMemorySpanExporter, max_extra: float, hedged: bool
) -> None:
    # the call site learned p95 = 1 ms and p97.5 = an hour: at 5% the delay is the hour; at 20%
    # the budget pays for p90, so the p95 asked for holds and the stuck attempt is hedged
    policy = Hedge("p95", max_extra=max_extra, min_samples=100)
    seen = Attempts()

    @parallel(hedge=policy)
    async def ask(item: int) -> int:
        turn, _ = seen.next(item)
        if item == -1 and turn == 1:
            if hedged:
                await seen.forever(item)  # only a hedge can answer
            await asyncio.sleep(0.05)  # an hour early: not hedged
        return item

    async def run(items: list[int]) -> list[int]:
        return await ask.map(items)  # one call site: this line

    await run(list(range(25)))  # 25 attempts save more than one token, at 5% as at 20%
    (site,) = hedge_policy.sites_of(policy)
    for seconds in [0.001] * 71 + [3600.0] * 4:
        site.record(None, seconds)
    assert await run([-1]) == [-1]
    assert len(spans_named(exporter, "hedge ask")) == (1 if hedged else 0)
    assert seen.turns[-1] == (2 if hedged else 1)


async def test_an_empty_bucket_refuses_the_hedge_until_other_attempts_earn_a_token(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = Attempts()
    release = asyncio.Event()
    take = hedging.Scope.take

    def refused_then_release(self: hedging.Scope, first: bool) -> bool:
        granted = take(self, first)
        if not granted:
            release.set()  # item 1 held the other slot until a hedge was refused
        return granted

    monkeypatch.setattr(hedging.Scope, "take", refused_then_release)

    @parallel(max_concurrency=2, hedge=Hedge(after=0.001, max_extra=0.25, burst=0))
    async def ask(item: int) -> int:
        turn, _ = seen.next(item)
        if item == 0 and turn == 1:
            await seen.forever(item)
        if item == 1:
            await release.wait()
        return item

    assert await ask.map(range(8)) == list(range(8))
    (fanout,) = spans_named(exporter, "map ask")
    # 2 attempts had earned half a token when item 0 (and item 1, held) were due: refused; the
    # 4th attempt earned a token, and item 0 got its hedge then
    assert fanout.attributes[A.FANOUT_HEDGES_DENIED] >= 1
    assert seen.turns[0] == 2
    assert 1 <= fanout.attributes[A.FANOUT_HEDGES] <= 0.25 * 8


async def test_a_hedge_takes_a_slot_of_the_cap(exporter: InMemorySpanExporter) -> None:
    seen = Attempts()
    running = 0
    peak = 0

    @parallel(max_concurrency=2, hedge=Hedge(**ALWAYS))
    async def ask(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            turn, _ = seen.next(item)
            if item == 0 and turn == 1:
                await seen.forever(item)
            await asyncio.sleep(0)
            return item
        finally:
            running -= 1

    assert await ask.map(range(6)) == list(range(6))
    assert peak <= 2
    assert seen.turns[0] == 2


def test_a_sync_function_is_hedged_on_a_thread_of_its_own(
    exporter: InMemorySpanExporter,
) -> None:
    lock = threading.Lock()
    turns: dict[str, int] = {}
    stuck = threading.Event()

    @parallel(hedge=Hedge(**ALWAYS))
    def ask(item: str) -> str:
        with lock:
            turn = turns[item] = turns.get(item, 0) + 1
        if turn == 1:
            stuck.wait(timeout=60)  # abandoned when the hedge wins; freed below
            return "first"
        return "hedge"

    try:
        assert ask.map(["q"]) == ["hedge"]
    finally:
        stuck.set()
    (hedge,) = spans_named(exporter, "hedge ask")
    assert hedge.attributes[A.HEDGE_OUTCOME] == A.HEDGE_OUTCOME_WON


def test_hedge_is_exported() -> None:
    assert fanscope.Hedge is Hedge
