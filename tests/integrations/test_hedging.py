"""Hedged attempts through the real anthropic client against the stand-in.

Who answers first is decided by the stand-in's script, not by the clock: a scripted answer
waits (in the server's thread) until the other attempt's request has arrived, or until the
test ends. The only delays are the hedge's own (a few milliseconds), which nothing races.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import Hedge, parallel
from fanscope.sdk import attributes as A
from fanscope.sdk.hedge_policy import sites_of
from fanscope.testing import AnthropicStandIn
from tests.genai_spans import instrumented_anthropic
from tests.hedge_race import Attempts, Race

MODEL = "claude-haiku-5-5"
SOON = {"after": 0.005, "max_extra": 1.0}  # a hedge for any attempt past 5 ms


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    with instrumented_anthropic():
        yield


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (found,) = [s for s in spans if s.name == name]
    return found


def ask_with(client: anthropic.AsyncAnthropic, **options: Any) -> Any:
    attempts = Attempts()

    @parallel(**options)
    async def ask(q: str) -> str:
        m = await client.messages.create(
            model=MODEL,
            max_tokens=64,
            system=attempts.system(q),
            messages=[{"role": "user", "content": q}],
        )
        return m.content[0].text  # type: ignore[union-attr]

    return ask


async def test_a_stuck_answer_is_hedged_the_hedge_wins_and_the_loser_is_cancelled_and_costed(
    exporter: InMemorySpanExporter,
) -> None:
    race = Race()
    with AnthropicStandIn() as server:
        server.script(r"^Stuck", race(race.never(), lambda: "the hedge's answer"))
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="h1", max_retries=0)
        ask = ask_with(client, hedge=Hedge(**SOON))
        try:
            async with client:
                answers = await ask.map(["Stuck question", "Other question"])
        finally:
            race.done.set()
    assert answers[0] == "the hedge's answer"
    spans = list(exporter.get_finished_spans())
    branch = next(s for s in spans if s.name == "ask" and s.attributes[A.BRANCH_INDEX] == 0)
    assert branch.attributes[A.HEDGE_WINNER] == A.HEDGE_WINNER_HEDGE
    (hedge,) = [s for s in children(spans, branch) if s.name == "hedge ask"]
    assert hedge.attributes[A.HEDGE_OUTCOME] == A.HEDGE_OUTCOME_WON
    # the first attempt's call: a child of the branch, cancelled, charged an estimate
    (lost,) = [s for s in children(spans, branch) if s.name == f"chat {MODEL}"]
    assert lost.attributes.get(A.COST_ESTIMATED) is True
    assert lost.attributes["gen_ai.usage.cost.amount"] > 0
    (won,) = [s for s in children(spans, hedge) if s.name == f"chat {MODEL}"]
    assert "gen_ai.usage.cost.amount" in won.attributes
    # the hedge span says what the loser cost; the branch counts both calls
    assert hedge.attributes[A.HEDGE_LOSER_CALLS] == 1
    assert hedge.attributes[A.HEDGE_LOSER_USD] == pytest.approx(
        lost.attributes["gen_ai.usage.cost.amount"]
    )
    assert branch.attributes[A.COST_CALLS] == 2
    assert hedge.attributes[A.COST_CALLS] == 1
    fanout = one(spans, "map ask")
    assert fanout.attributes[A.FANOUT_HEDGES_WON] >= 1


async def test_the_first_answer_arriving_while_the_hedge_runs_wins_and_the_hedge_is_cancelled(
    exporter: InMemorySpanExporter,
) -> None:
    race = Race()

    with AnthropicStandIn() as server:
        server.script(r"^Slow", race(race.after_hedge("the first answer"), race.never()))
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="h2", max_retries=0)
        ask = ask_with(client, hedge=Hedge(**SOON))
        try:
            async with client:
                answer = await ask("Slow question")  # a lone call
        finally:
            race.done.set()
    assert answer == "the first answer"
    spans = list(exporter.get_finished_spans())
    branch = one(spans, "ask")
    hedge = one(spans, "hedge ask")
    assert branch.attributes[A.HEDGE_WINNER] == A.HEDGE_WINNER_PRIMARY
    assert hedge.attributes[A.HEDGE_OUTCOME] == A.HEDGE_OUTCOME_LOST
    (cancelled,) = children(spans, hedge)
    assert cancelled.attributes.get(A.COST_ESTIMATED) is True
    assert hedge.attributes[A.HEDGE_LOSER_CALLS] == 1
    assert hedge.attributes[A.COST_CALLS] == 1


async def test_a_failing_hedge_does_not_fail_the_branch_when_the_first_attempt_answers(
    exporter: InMemorySpanExporter,
) -> None:
    race = Race()
    hedge_failed = threading.Event()

    def after_the_hedge_failed() -> str:
        # answering once the hedge's request arrived is not enough: both answers would then
        # race to the client, and the first attempt's could be read before the hedge's
        while not (hedge_failed.wait(timeout=0.05) or race.done.is_set()):
            pass
        return '{"answer": 42}'

    with AnthropicStandIn() as server:
        server.script(r"^Plan", race(after_the_hedge_failed, lambda: "not JSON"))
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="h3", max_retries=0)

        attempts = Attempts()

        @parallel(hedge=Hedge(**SOON))
        async def plan(q: str) -> int:
            import json

            m = await client.messages.create(
                model=MODEL,
                max_tokens=64,
                system=attempts.system(q),
                messages=[{"role": "user", "content": q}],
            )
            try:
                return int(json.loads(m.content[0].text)["answer"])  # type: ignore[union-attr]
            except ValueError:
                hedge_failed.set()
                raise

        try:
            async with client:
                assert await plan.map(["Plan the work"]) == [42]
        finally:
            race.done.set()
    spans = list(exporter.get_finished_spans())
    hedge = one(spans, "hedge plan")
    assert hedge.attributes[A.HEDGE_OUTCOME] == A.HEDGE_OUTCOME_FAILED
    assert hedge.attributes[A.ERROR_TYPE] == "json.decoder.JSONDecodeError"
    assert one(spans, "plan").attributes[A.BRANCH_OUTCOME] == A.OUTCOME_OK


async def test_a_budget_counts_the_hedge_it_waits_for_the_first_call_to_settle(
    exporter: InMemorySpanExporter,
) -> None:
    from fanscope.integrations.anthropic.permits import input_bound

    race = Race()
    hedge_calls = threading.Event()
    question = "Budgeted question"
    attempts = Attempts()
    request = {
        "model": MODEL,
        "system": "attempt 1",  # as long as "attempt 2"
        "messages": [{"role": "user", "content": question}],
    }
    worst = input_bound(request) + 64

    def after_the_hedge_called() -> str:
        hedge_calls.wait(timeout=60)
        return "the first answer"

    with AnthropicStandIn() as server:
        server.script(r"^Budgeted", race(after_the_hedge_called, lambda: "hedge"))
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="h4", max_retries=0)

        @parallel(hedge=Hedge(**SOON))
        async def ask(q: str) -> str:
            system = attempts.system(q)
            if system != "attempt 1":  # the hedge: its call reserves in this same step, waits
                hedge_calls.set()
            m = await client.messages.create(
                model=MODEL,
                max_tokens=64,
                system=system,
                messages=[{"role": "user", "content": q}],
            )
            return m.content[0].text  # type: ignore[union-attr]

        try:
            async with client:
                # room for one call's worst case, not for two at once
                with fanscope.budget(tokens=worst * 1.5, name="hedged") as budget:
                    assert await ask.map([question]) == ["the first answer"]
        finally:
            race.done.set()
    assert server.stats.peak_concurrency == 1  # never both calls in flight
    assert budget.spent_tokens <= worst * 1.5
    spans = list(exporter.get_finished_spans())
    hedge = one(spans, "hedge ask")
    waits = [  # of this trace: a call an earlier test left behind may end during this one
        s
        for s in spans
        if s.name == "queue wait"
        and s.attributes[A.QUEUE_REASON] == A.QUEUE_REASON_BUDGET
        and s.context.trace_id == hedge.context.trace_id
    ]
    assert waits and all(w.parent and w.parent.span_id == hedge.context.span_id for w in waits)


# -- the bucket, over any latencies --------------------------------------------------------------

# every attempt past 5 ms is due a hedge: the bucket alone decides how many are sent
BUCKET = Hedge(0.005, max_extra=0.2, burst=1)


@settings(max_examples=8)
@given(latencies=st.lists(st.sampled_from([0.0, 0.002, 0.01, 0.03, 0.08]), min_size=4, max_size=12))
def test_hedges_never_pass_max_extra_of_the_attempts_whatever_the_latencies(
    latencies: list[float],
) -> None:
    import asyncio

    from tests.conftest import _EXPORTER

    by_prompt = {f"Q{i} ": seconds for i, seconds in enumerate(latencies)}
    with AnthropicStandIn(latency_by_prompt=by_prompt) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="h5", max_retries=0)
        ask = ask_with(client, max_concurrency=4, hedge=BUCKET)

        async def run() -> list[str]:
            async with client:
                return list(await ask.map([f"Q{i} question" for i in range(len(latencies))]))

        _EXPORTER.clear()
        assert len(asyncio.run(run())) == len(latencies)
    spans = list(_EXPORTER.get_finished_spans())
    hedges = [s for s in spans if s.name == "hedge ask"]
    branches = [s for s in spans if s.name == "ask"]
    attempts = sum(int(b.attributes.get(A.BRANCH_ATTEMPTS, 1)) for b in branches)
    # this fan-out: its own share plus what earlier fan-outs saved (at most burst)
    assert len(hedges) <= BUCKET.max_extra * attempts + BUCKET.burst
    # a hedge cancelled right after it was sent may not have reached the stand-in
    assert attempts <= server.stats.requests <= attempts + len(hedges)
    # the call site over every example so far: never more than max_extra of its attempts
    (site,) = sites_of(BUCKET)
    assert site.hedges <= BUCKET.max_extra * site.attempts + 1e-9
