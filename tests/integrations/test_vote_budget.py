"""``@vote(budget=...)``: a fresh pot per vote; voters it refuses abstain, and the vote decides
with the answers it has when ``min_votes`` allows. The real client against the stand-in, async
and sync, as ``@parallel(budget=)``."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import BudgetExceeded, vote
from fanscope.analysis import analyze
from fanscope.analysis.report import text
from fanscope.errors import NotEnoughSuccesses, UsageError
from fanscope.integrations.anthropic.permits import demand_of
from fanscope.sdk import attributes as A
from fanscope.testing.anthropic_server import AnthropicStandIn
from tests.genai_spans import calls_under, instrumented_anthropic

MODEL = "claude-haiku-5-5"
QUESTION = "Is this diff safe to merge? It renames one private helper and its two callers."
SHORT, LONG = 20, 4_000  # max_tokens of the voters that fit, and of those that never can


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    with instrumented_anthropic():
        yield


def request(max_tokens: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": QUESTION}],
    }


def vote_spans(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [
        s
        for s in spans
        if (s.attributes or {}).get(A.KIND) == A.KIND_VOTE
        and (s.attributes or {}).get(A.ROLE) == A.ROLE_FANOUT
    ]


def test_each_vote_gets_a_fresh_pot_and_refused_voters_abstain(
    exporter: InMemorySpanExporter,
) -> None:
    """Five voters; the first three of each vote fit the budget together, the last two ask
    for more than the whole budget: refused every time, the vote decides with three."""
    short = demand_of(request(SHORT), usd=True).usd
    long = demand_of(request(LONG), usd=True).usd
    assert short is not None and long is not None
    limit = short * 3.5
    assert long > limit  # the long voters can never fit
    with AnthropicStandIn() as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
        turn = itertools.count()

        @vote(n=5, min_votes=3, budget=fanscope.budget(usd=limit, name="per-vote"))
        async def safe_to_merge(diff: str) -> bool:
            tokens = SHORT if next(turn) % 5 < 3 else LONG
            await client.messages.create(**request(tokens))
            return True

        async def run() -> list[fanscope.Ballot[bool]]:
            async with client:
                return [await safe_to_merge.ballot(QUESTION) for _ in range(2)]

        ballots = asyncio.run(run())
    for ballot in ballots:
        assert ballot.decided and ballot.winner is True
        assert (ballot.answered, ballot.failed) == (3, 2)
        assert all(isinstance(e, BudgetExceeded) for e in ballot.errors)
        assert {e.budget for e in ballot.errors} == {"per-vote"}  # type: ignore[attr-defined]
    spans = list(exporter.get_finished_spans())
    votes = vote_spans(spans)
    assert len(votes) == 2
    for span in votes:  # each vote's own pot: what its own calls cost, never more than it
        attrs = span.attributes or {}
        assert attrs[A.BUDGET_NAME] == "per-vote" and attrs[A.BUDGET_REFUSED] == 2
        assert attrs[A.BUDGET_LIMIT_USD] == pytest.approx(limit)
        own = sum(float((c.attributes or {})[A.COST_AMOUNT]) for c in calls_under(span, spans))  # type: ignore[arg-type]
        assert attrs[A.BUDGET_SPENT_USD] == pytest.approx(own)
        assert 0 < own <= limit
    doc = analyze(spans).to_dict()
    listed = [b for t in doc["traces"] for b in t["budgets"]]
    assert [(b["span"], b["refused"], b["stopped_by"]) for b in listed] == [
        ("vote safe_to_merge", 2, "usd")
    ] * 2
    assert "budget 'per-vote' on vote safe_to_merge: stopped by the budget after $" in (
        text.render(doc)
    )


def test_a_vote_its_budget_leaves_short_of_min_votes_fails_with_the_refusals() -> None:
    short = demand_of(request(SHORT), usd=False)
    limit = (short.input_tokens + SHORT) * 3.5
    with AnthropicStandIn() as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
        turn = itertools.count()

        @vote(n=5, min_votes=4, budget=fanscope.budget(tokens=limit))
        async def safe_to_merge(diff: str) -> bool:
            tokens = SHORT if next(turn) < 3 else LONG
            await client.messages.create(**request(tokens))
            return True

        async def run() -> None:
            async with client:
                await safe_to_merge(QUESTION)

        with pytest.raises(NotEnoughSuccesses) as caught:
            asyncio.run(run())
    refused = [e for e in caught.value.exceptions if isinstance(e, BudgetExceeded)]
    assert len(refused) == 2 and "needed 4 answers" in str(caught.value)
    # once two were refused, four answers could no longer come: the vote stopped at once,
    # cancelling the voters still running; the refused calls were never sent
    assert sum(server.stats.statuses.values()) <= 3


def test_a_sync_vote_takes_a_budget_too(exporter: InMemorySpanExporter) -> None:
    short = demand_of(request(SHORT), usd=False)
    limit = (short.input_tokens + SHORT) * 3.5
    with AnthropicStandIn() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
        turn = itertools.count()
        lock = threading.Lock()
        refusals: list[BudgetExceeded] = []
        both_refused = threading.Event()

        @vote(n=5, min_votes=3, budget=fanscope.budget(tokens=limit, name="sync"))
        def safe_to_merge(diff: str) -> bool:
            with lock:
                tokens = SHORT if next(turn) < 3 else LONG
            if tokens == SHORT:
                # the three that fit answer only once the two that cannot have been refused:
                # otherwise three quick answers end the vote early and may cancel a long voter
                # on its thread before it asks, which is a cancellation, not a refusal
                both_refused.wait(timeout=60)
            try:
                client.messages.create(**request(tokens))
            except BudgetExceeded as refused:
                with lock:
                    refusals.append(refused)
                    if len(refusals) == 2:
                        both_refused.set()
                raise
            return True

        ballot = safe_to_merge.ballot(QUESTION)
        client.close()
    assert ballot.winner is True and (ballot.answered, ballot.failed) == (3, 2)
    assert all(isinstance(e, BudgetExceeded) for e in ballot.errors)
    (span,) = vote_spans(list(exporter.get_finished_spans()))
    attrs = span.attributes or {}
    assert attrs[A.BUDGET_REFUSED] == 2 and attrs[A.BUDGET_SPENT_TOKENS] <= limit  # type: ignore[operator]


def test_vote_among_takes_a_budget_and_a_wrong_one_is_refused_at_once() -> None:
    async def a(q: str) -> str:
        return q

    judged = vote.among(a, a, a, budget=fanscope.budget(tokens=100))
    assert asyncio.run(judged("x")) == "x"  # no model call: the budget takes nothing
    with pytest.raises(UsageError, match=r"budget must be a fanscope.budget\(...\)"):
        vote(n=3, budget=0.5)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"vote\.among budget must be"):
        vote.among(a, a, budget={"usd": 1})  # type: ignore[call-overload]
