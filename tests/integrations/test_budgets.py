"""Budgets that hold under concurrency: the real anthropic client against the stand-in, whose
own bill (what it answered, per API key) is the ground truth."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anthropic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import BudgetExceeded, parallel, vote
from fanscope.errors import NotEnoughSuccesses
from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.sdk import attributes as A
from fanscope.testing.anthropic_server import AnthropicStandIn
from fanscope.testing.provider import HiddenLimits

MODEL = "claude-haiku-5-5"
WORDS = [
    "revenue",
    "margin",
    "guidance",
    "cloud",
    "storage",
    "europe",
    "quarter",
    "filing",
    "risk",
    "supply",
]


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    try:
        yield
    finally:
        instrumentor.uninstrument()


def billed(server: AnthropicStandIn, key: str) -> int:
    assert server.provider is not None
    state = server.provider.key_state(key)
    return state.billed_input + state.billed_output


def prompt(i: int, words: int) -> str:
    return f"Item {i}: " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(words))


def test_a_call_that_does_not_fit_is_not_made_and_the_budget_is_spent_to_one_call(
    exporter: InMemorySpanExporter,
) -> None:
    with AnthropicStandIn(limits=HiddenLimits()) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="b1", max_retries=0)

        @parallel(max_concurrency=8)
        async def ask(q: str) -> str:
            m = await client.messages.create(
                model=MODEL, max_tokens=60, messages=[{"role": "user", "content": q}]
            )
            return m.content[0].text  # type: ignore[union-attr]

        async def run() -> list[fanscope.Outcome[str]]:
            async with client:  # closed on the loop it ran on
                with fanscope.budget(tokens=2_000, name="run") as budget:
                    out = await ask.map([prompt(i, 12) for i in range(60)], on_error="collect")
            assert budget.spent_tokens == billed(server, "b1")
            return out  # type: ignore[return-value]

        outcomes = asyncio.run(run())
    spent = billed(server, "b1")
    refused = [o for o in outcomes if isinstance(o.error, BudgetExceeded)]
    assert refused and all(o.ok for o in outcomes if o not in refused)
    assert spent <= 2_000
    worst = max(o.error.needed or 0 for o in refused)  # type: ignore[union-attr]
    assert spent > 2_000 - worst  # a refusal only when even a settled budget cannot take it
    assert server.stats.statuses == {200: len(outcomes) - len(refused)}  # refused: never sent
    spans = exporter.get_finished_spans()
    stops = [e for s in spans for e in s.events if e.name == A.EVENT_BUDGET_STOP]
    assert len(stops) == len(refused) and stops[0].attributes[A.BUDGET_NAME] == "run"  # type: ignore[index]
    chats = [s for s in spans if s.name.startswith("chat ")]
    settled = [e for s in chats for e in s.events if e.name == A.EVENT_PERMIT_SETTLED]
    reserved = [e for s in chats for e in s.events if e.name == A.EVENT_PERMIT_RESERVED]
    assert len(settled) == len(reserved) == len(chats) == 60 - len(refused)
    for event in reserved:
        assert event.attributes[A.PERMIT_OUTPUT_TOKENS] == 60  # type: ignore[index]
        assert event.attributes[A.PERMIT_HOLDERS] == ("run", "ask")  # outermost first  # type: ignore[index]


def test_budget_on_parallel_is_one_fresh_pot_per_fanout_inside_the_enclosing_one(
    exporter: InMemorySpanExporter,
) -> None:
    with AnthropicStandIn(limits=HiddenLimits()) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="b2", max_retries=0)

        @parallel(max_concurrency=4, budget=fanscope.budget(tokens=600, name="per-map"))
        def ask(q: str) -> str:
            m = client.messages.create(
                model=MODEL, max_tokens=40, messages=[{"role": "user", "content": q}]
            )
            return m.content[0].text  # type: ignore[union-attr]

        with fanscope.budget(tokens=1_000, name="outer") as outer:
            first = ask.map([prompt(i, 8) for i in range(30)], on_error="collect")
            second = ask.map([prompt(i, 8) for i in range(30)], on_error="collect")
        assert outer.spent_tokens == billed(server, "b2") <= 1_000
    # the second ran into what the first left of the outer budget, or into its own
    assert not all(o.ok for o in second) and not all(o.ok for o in first)
    fanouts = [
        s
        for s in exporter.get_finished_spans()
        if s.name == "map ask" and s.attributes.get(A.BUDGET_NAME) == "per-map"
    ]
    assert [s.attributes[A.BUDGET_LIMIT_TOKENS] for s in fanouts] == [600.0, 600.0]  # type: ignore[index]
    assert all(s.attributes[A.BUDGET_SPENT_TOKENS] <= 600 for s in fanouts)  # type: ignore[index, operator]


def test_a_call_that_fits_once_others_settle_waits_for_them_instead_of_failing() -> None:
    # one call's worst case is about half the budget: the second waits for the first to settle
    with AnthropicStandIn(limits=HiddenLimits(), latency=0.2) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="b3", max_retries=0)
        ask = [{"role": "user", "content": "short"}]
        with fanscope.budget(tokens=500), ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(
                    contextvars.copy_context().run,  # as OpenTelemetry's threading instrumentation
                    client.messages.create,
                    model=MODEL,
                    max_tokens=200,
                    messages=ask,
                )
                for _ in range(2)
            ]
            assert all(f.result().usage.output_tokens > 0 for f in futures)
        assert server.stats.peak_concurrency == 1


def test_a_usd_budget_refuses_a_model_without_a_price_with_a_clear_message() -> None:
    with AnthropicStandIn() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="b4", max_retries=0)
        with fanscope.budget(usd=1.0), pytest.raises(BudgetExceeded, match="no known price"):
            client.messages.create(
                model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
        assert server.stats.requests == 0


# -- the invariant ----------------------------------------------------------------------------

_shares: list[float] = []


@settings(max_examples=12)
@given(
    limit=st.integers(6_000, 14_000),
    words=st.lists(st.integers(4, 60), min_size=64, max_size=64),
    max_tokens=st.lists(st.integers(8, 80), min_size=64, max_size=64),
    failures=st.sampled_from([0.0, 0.1, 0.3]),
    stream=st.booleans(),
    seed=st.integers(0, 1_000),
)
def test_a_64_way_fanout_and_a_5_voter_vote_under_one_budget_never_overspend(
    limit: int, words: list[int], max_tokens: list[int], failures: float, stream: bool, seed: int
) -> None:
    key = f"inv-{seed}-{limit}"
    server = AnthropicStandIn(
        limits=HiddenLimits(),
        seed=seed,
        server_error_share=failures / 2,
        rate_limit_share=failures / 2,
        stream_error_share=failures if stream else 0.0,
        retry_after=0.001,
    )
    with server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key=key, max_retries=1)

        async def ask(q: str, out: int) -> str:
            messages = [{"role": "user", "content": q}]
            if stream:
                async with client.messages.stream(
                    model=MODEL,
                    max_tokens=out,
                    messages=messages,  # type: ignore[arg-type]
                ) as s:
                    return await s.get_final_text()
            m = await client.messages.create(
                model=MODEL,
                max_tokens=out,
                messages=messages,  # type: ignore[arg-type]
            )
            return m.content[0].text  # type: ignore[union-attr]

        @vote(n=5, min_votes=2, key=lambda a: len(a) % 2)
        async def judge(q: str) -> str:
            return await ask(q, 30)

        @parallel(max_concurrency=16)
        async def branch(i: int) -> str:
            answer = await ask(prompt(i, words[i]), max_tokens[i])
            if i % 16 == 0:
                await judge(answer)  # a vote nested in the branch, under the same budget
            return answer

        async def run() -> tuple[float, int, float]:
            async with client, fanscope.budget(tokens=limit, name="all") as budget:
                await branch.map(range(64), on_error="collect")
                with contextlib.suppress(NotEnoughSuccesses, fanscope.NoConsensus):
                    await judge("Is the plan sound?")
            # the worst case of the last call it refused (in a branch or in a vote)
            needed = max(pot.refused_need for pot in budget._pots)
            return budget.spent_tokens, budget.refused, needed

        accounted, refused, needed = asyncio.run(run())
    spent = billed(server, key)
    assert spent <= limit  # zero overspend, by the stand-in's own bill
    assert spent <= accounted <= limit  # an unknown outcome counts at its worst case
    if refused:  # the work ran out of budget: it was not left unused either
        _shares.append(spent / limit)
        # a call refused only when even a settled budget could not take its worst case (a
        # call cut off, timed out or cancelled by the vote counts at what it could have used)
        assert accounted + needed > limit


def test_the_budget_share_used_is_reported() -> None:
    # after the property test (same module, file order): the shares it saw when work ran out
    if _shares:
        print(f"billed share when the work ran out: min {min(_shares):.1%} over {len(_shares)}")
    assert all(0.0 < s <= 1.0 for s in _shares)


def test_threads_share_one_budget_without_overspending() -> None:
    with AnthropicStandIn(limits=HiddenLimits(), latency=0.01) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="b5", max_retries=0)
        errors: list[BaseException] = []

        def worker(i: int) -> None:
            for j in range(10):
                try:
                    client.messages.create(
                        model=MODEL,
                        max_tokens=50,
                        messages=[{"role": "user", "content": prompt(i * 10 + j, 10)}],
                    )
                except BudgetExceeded as e:
                    errors.append(e)

        with fanscope.budget(tokens=3_000) as budget:
            # each thread starts in the context it was made in, as after fanscope.configure()
            threads = [
                threading.Thread(target=contextvars.copy_context().run, args=(worker, i))
                for i in range(8)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert budget.spent_tokens == billed(server, "b5") <= 3_000
        assert errors
