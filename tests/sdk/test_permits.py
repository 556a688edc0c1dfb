"""Permits: token and request rates that pace, budgets that refuse, reserved atomically against
every limiter and budget in force, settled to what a call really used."""

from __future__ import annotations

import asyncio
import contextvars
import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import BudgetExceeded, Limiter, parallel
from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk import permits
from fanscope.sdk.meters import Rate
from fanscope.sdk.permits import Demand, Observation, Spent


def test_a_rate_lets_a_full_bucket_go_then_paces_by_the_amount_taken() -> None:
    rate = Rate("r", "tokens", 600, per=60)  # 10 tokens a second
    assert rate.check(600, 100.0) == 0.0
    rate.take(600, 100.0)
    assert rate.check(50, 100.0) == pytest.approx(5.0)
    rate.settle(600, 100, 100.0)  # the call used 100 of the 600 it reserved: 500 come back
    assert rate.check(500, 100.0) == 0.0
    assert rate.check(510, 100.0) == pytest.approx(1.0)


def test_what_the_provider_says_remains_is_never_exceeded() -> None:
    limiter = Limiter(name="provider")
    limiter.observe(Observation(status=200, remaining={"requests": (60, 0)}))
    now = time.monotonic()
    ((_, meter),) = limiter.meters(Demand(requests=1))
    assert meter.check(1, now) == pytest.approx(1.0, abs=0.05)  # one request a second refills
    limiter.observe(Observation(status=200, remaining={"requests": (60, 60)}))
    assert meter.check(1, time.monotonic()) > 0  # more remaining than we know of: no effect


def test_calls_still_in_flight_are_taken_from_what_the_provider_says_remains() -> None:
    """An answer's ``remaining`` counts the requests the provider had received when it wrote
    it; calls of this process sent and not yet answered may have reached it later, so they
    come off ``remaining`` too (a loaded machine had a 429 from this, rarely)."""
    limiter = Limiter(name="provider")
    ask = Demand(input_tokens=400, output_tokens=30)
    sent = [permits.reserve_sync(ask, (limiter,)) for _ in range(2)]  # nothing heard yet
    assert all(res is not None and res.in_flight for res in sent)
    limiter.observe(Observation(status=200, remaining={"input_tokens": (12_000, 1_000)}))
    ((_, meter),) = limiter.meters(ask)
    now = time.monotonic()
    assert meter.available(now) == pytest.approx(1_000 - 2 * 400, abs=5)
    for res in sent:
        assert res is not None
        res.settle(Spent(400, 30))
        res.settle(Spent(400, 30))  # once only
    assert limiter.pacing.in_flight["input_tokens"] == 0
    later = Limiter(name="provider")
    later.observe(Observation(status=200, remaining={"input_tokens": (12_000, 1_000)}))
    ((_, meter),) = later.meters(ask)
    assert meter.available(time.monotonic()) == pytest.approx(1_000, abs=5)


def test_only_calls_sent_after_the_one_answered_come_off_what_remains() -> None:
    """The provider counted the call it answers and those sent before it: they do not come
    off its ``remaining`` again; those sent after it do, whatever order they settle in."""
    limiter = Limiter(name="provider")
    asks = [Demand(input_tokens=n) for n in (100, 200, 400, 800)]
    first, answered, third, fourth = (permits.reserve_sync(a, (limiter,)) for a in asks)
    assert first and answered and third and fourth and first.seq < answered.seq < third.seq
    third.settle(Spent(400, 0))  # over before the answer is read: no longer in flight
    answered.settle(Spent(200, 0))
    answered.observe(Observation(status=200, remaining={"input_tokens": (12_000, 10_000)}))
    ((_, meter),) = limiter.meters(asks[0])
    assert meter.available(time.monotonic()) == pytest.approx(10_000 - 800, abs=5)
    first.observe(Observation(status=429, remaining={"input_tokens": (12_000, 5_000)}))
    # an answer to the first call (a retried attempt's): of the calls sent after it only the
    # fourth is still in flight, and the first itself was counted
    assert meter.available(time.monotonic()) == pytest.approx(5_000 - 800, abs=5)
    limiter.observe(Observation(status=200, remaining={"input_tokens": (12_000, 1_000)}))
    # an answer to no known call: every call in flight comes off
    assert meter.available(time.monotonic()) == pytest.approx(1_000 - 100 - 800, abs=5)
    for res in (first, fourth):
        res.settle(Spent(0, 0))


def test_headers_are_ignored_when_follow_headers_is_off() -> None:
    limiter = Limiter(follow_headers=False)
    limiter.observe(Observation(status=200, remaining={"tokens": (1000, 0)}))
    assert list(limiter.meters(Demand(input_tokens=10))) == []


def test_a_429_with_retry_after_pauses_every_model_call_under_the_limiter() -> None:
    limiter = Limiter(tokens_per_minute=1e9)
    limiter.observe(Observation(status=429, retry_after=30.0))
    assert limiter.paused_for() == pytest.approx(30.0, abs=1)
    wait, whose, _ = permits._attempt(
        [(ledger, m, 1.0) for ledger, m in limiter.meters(Demand(input_tokens=1))]
    )
    assert whose is not None and wait == pytest.approx(30.0, abs=1)


def test_a_reservation_is_atomic_across_limiters_and_budgets() -> None:
    limiter = Limiter(tokens_per_minute=10_000, name="tpm")
    with fanscope.budget(tokens=500) as budget, permits.scope(limiter):
        with pytest.raises(BudgetExceeded, match="stopped by the budget 'budget'"):
            permits.reserve_sync(Demand(input_tokens=300, output_tokens=300))
        # the refusal took nothing from the limiter's rate: a whole bucket is still free
        ((_, rate),) = limiter.meters(Demand())
        assert rate.check(10_000, time.monotonic()) == 0.0
        res = permits.reserve_sync(Demand(input_tokens=100, output_tokens=300))
        assert res is not None
        res.settle(Spent(input_tokens=40, output_tokens=10))
    assert budget.spent_tokens == 50
    assert budget.refused == 1


def test_a_call_whose_outcome_is_unknown_keeps_its_worst_case_spent() -> None:
    with fanscope.budget(tokens=1000) as budget:
        res = permits.reserve_sync(Demand(input_tokens=100, output_tokens=200))
        assert res is not None
        res.settle(None)
    assert budget.spent_tokens == 300


@settings(max_examples=25, deadline=None)
@given(
    limit=st.integers(200, 5000),
    calls=st.lists(st.tuples(st.integers(1, 300), st.integers(1, 300)), min_size=1, max_size=80),
    seed=st.integers(0, 2**16),
)
def test_concurrent_calls_never_overspend_a_nested_budget_and_use_it_up(
    limit: int, calls: list[tuple[int, int]], seed: int
) -> None:
    rng = random.Random(seed)
    outer, inner = fanscope.budget(tokens=limit, name="outer"), fanscope.budget(tokens=limit * 3)
    refusals: list[int] = []

    def call(worst_in: int, worst_out: int) -> None:
        try:
            res = permits.reserve_sync(Demand(input_tokens=worst_in, output_tokens=worst_out))
        except BudgetExceeded as error:
            refusals.append(int(error.needed or 0))
            return
        assert res is not None
        time.sleep(rng.random() / 500)
        if rng.random() < 0.1:
            res.settle(None)  # cut off: the worst case stays spent
        else:
            res.settle(Spent(rng.randint(0, worst_in), rng.randint(0, worst_out)))

    with outer, inner:
        # each thread starts in a copy of this context: the budgets are in force there too
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(call, *c)) for c in calls
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert outer.spent_tokens <= limit
    # nothing refused that would have fit: each refusal needed more than what was left
    for needed in refusals:
        assert outer.spent_tokens + needed > limit


async def test_async_calls_wait_for_settlements_rather_than_being_refused() -> None:
    async def call(budget: fanscope.Budget) -> None:
        res = await permits.reserve(Demand(input_tokens=60, output_tokens=40))
        assert res is not None
        await asyncio.sleep(0.01)
        res.settle(Spent(input_tokens=10, output_tokens=10))

    # only three worst cases fit at once; the others wait for settlements (each gives 80 back)
    # instead of being refused, since they fit once the calls in flight have settled
    with fanscope.budget(tokens=300) as budget:
        await asyncio.gather(*(call(budget) for _ in range(8)))
    assert budget.spent_tokens == 160
    assert budget.refused == 0


def test_bad_limits_are_one_line_errors() -> None:
    with pytest.raises(ConfigurationError, match="tokens_per_minute must be a number > 0"):
        Limiter(tokens_per_minute=0)
    with pytest.raises(ConfigurationError, match="a budget needs a limit"):
        fanscope.budget()
    with pytest.raises(ConfigurationError, match="max_concurrency must be a whole number"):
        Limiter(max_concurrency="fast")  # type: ignore[arg-type]


async def test_a_budget_on_parallel_is_a_fresh_pot_per_fan_out_recorded_on_its_span(
    exporter: InMemorySpanExporter,
) -> None:

    @parallel(max_concurrency=2, budget=fanscope.budget(tokens=250, name="per-fan-out"))
    async def ask(i: int) -> int:
        # what the Anthropic integration does around a model call
        res = await permits.reserve(Demand(input_tokens=50, output_tokens=50))
        assert res is not None
        await asyncio.sleep(0.001)
        res.settle(Spent(input_tokens=50, output_tokens=50))
        return i

    first = await ask.map(range(4), on_error="collect")
    second = await ask.map(range(4), on_error="collect")
    for results in (first, second):  # each fan-out has its own 250 tokens: two calls fit
        assert sorted(o.value for o in results if o.status == "ok") == [0, 1]
        assert {type(o.error) for o in results if o.status == "error"} == {BudgetExceeded}
    fanouts = [s for s in exporter.get_finished_spans() if s.attributes.get(A.BUDGET_NAME)]
    assert len(fanouts) == 2
    for span in fanouts:
        assert span.attributes[A.BUDGET_SPENT_TOKENS] == 200  # type: ignore[index]
        assert span.attributes[A.BUDGET_LIMIT_TOKENS] == 250  # type: ignore[index]
        assert span.attributes[A.BUDGET_REFUSED] == 2  # type: ignore[index]
