"""What calls cost, on their GenAI spans and added up every fanscope span above them: the real
client over HTTP to the stand-in, with the SDK's own span borrowed and with fanscope's own."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Retry, gather, parallel, traced, vote
from fanscope.integrations.anthropic import semconv as G
from fanscope.sdk import attributes as A
from fanscope.sdk import prices
from fanscope.testing.anthropic_server import AnthropicStandIn
from tests.genai_spans import descendants, instrumented_anthropic, is_genai

MODEL = "claude-haiku-5-5"
SDK_SETTINGS = [True, False]
IDS = ["sdk-spans-on", "sdk-spans-off"]


@pytest.fixture(scope="module")
def server() -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    with instrumented_anthropic():
        yield


def client_for(server: AnthropicStandIn, sdk_telemetry: bool) -> anthropic.AsyncAnthropic:
    options: Any = {"traces": {"enabled": sdk_telemetry}}
    return anthropic.AsyncAnthropic(
        base_url=server.url, api_key="test", open_telemetry=options, max_retries=0
    )


def by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans}  # type: ignore[union-attr]


def check_rollups(spans: list[ReadableSpan]) -> int:
    """Every fanscope span's cost is the sum of the GenAI spans under it, each counted once;
    returns how many fanscope spans had calls under them."""
    checked = 0
    for span in spans:
        attrs = span.attributes or {}
        if A.ROLE not in attrs:
            continue
        calls = [s for s in descendants(span, spans) if is_genai(s)]
        if not calls:
            assert A.COST_CALLS not in attrs, span.name
            continue
        checked += 1
        amounts = [(c.attributes or {}).get(A.COST_AMOUNT) for c in calls]
        priced = [a for a in amounts if isinstance(a, float)]
        assert attrs[A.COST_CALLS] == len(calls), span.name
        assert attrs[A.COST_USD] == pytest.approx(sum(priced), rel=1e-9), span.name
        assert attrs.get(A.COST_UNPRICED_CALLS, 0) == len(amounts) - len(priced), span.name
        tokens = sum(int((c.attributes or {}).get(G.USAGE_INPUT_TOKENS, 0)) for c in calls)  # type: ignore[arg-type]
        if any((c.attributes or {}).get(A.COST_ESTIMATED) for c in calls):
            # a call cut before the API reported its usage is charged an estimate of its
            # input, which its GenAI span does not carry as gen_ai.usage.input_tokens
            assert attrs[A.COST_INPUT_TOKENS] >= tokens, span.name
        else:
            assert attrs[A.COST_INPUT_TOKENS] == tokens, span.name
    return checked


@pytest.mark.parametrize("sdk_telemetry", SDK_SETTINGS, ids=IDS)
def test_each_call_is_priced_from_its_usage_and_model(
    server: AnthropicStandIn, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    async def run() -> None:
        client = client_for(server, sdk_telemetry)
        await client.messages.create(
            model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "Price me"}]
        )
        async for _ in await client.messages.create(
            model=MODEL, max_tokens=50, stream=True, messages=[{"role": "user", "content": "Now"}]
        ):
            pass
        await client.close()

    asyncio.run(run())
    calls = [s for s in exporter.get_finished_spans() if is_genai(s)]
    assert len(calls) == 2
    for span in calls:
        attrs = span.attributes or {}
        usage = prices.Usage(
            input_tokens=int(attrs[G.USAGE_INPUT_TOKENS]),  # type: ignore[arg-type]
            output_tokens=int(attrs[G.USAGE_OUTPUT_TOKENS]),  # type: ignore[arg-type]
        )
        assert attrs[A.COST_AMOUNT] == pytest.approx(prices.cost(MODEL, usage))
        assert attrs[A.COST_AMOUNT] > 0  # type: ignore[operator]
        assert (attrs[A.COST_CURRENCY], attrs[A.COST_SOURCE]) == ("USD", "local")
        assert not attrs.get(A.COST_ESTIMATED)


@pytest.mark.parametrize("sdk_telemetry", SDK_SETTINGS, ids=IDS)
def test_a_fanout_carries_every_attempt_failed_and_retried_ones_included(
    server: AnthropicStandIn, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    client = client_for(server, sdk_telemetry)
    tried: set[str] = set()

    @parallel(retry=Retry(attempts=2, initial=0.001, retry_on=ValueError))
    async def summarize(topic: str) -> str:
        message = await client.messages.create(
            model=MODEL, max_tokens=40, messages=[{"role": "user", "content": f"About {topic}"}]
        )
        if topic == "flaky" and topic not in tried:  # its first answer is thrown away
            tried.add(topic)
            raise ValueError("unparseable answer")
        if topic == "broken":
            raise ValueError("never parses")
        return str(message.content[0].text)  # type: ignore[union-attr]

    @traced
    async def research() -> None:
        await summarize.map(["a", "flaky", "broken"], on_error="collect")

    async def run() -> None:
        await research()
        await client.close()

    asyncio.run(run())
    spans = list(exporter.get_finished_spans())
    assert len([s for s in spans if is_genai(s)]) == 1 + 2 + 2
    assert check_rollups(spans) == 5  # the step, the fan-out and its three branches
    step = next(s for s in spans if s.name == "research")
    assert (step.attributes or {})[A.COST_CALLS] == 5


def test_cancelled_voters_are_charged_what_they_used(
    server: AnthropicStandIn, exporter: InMemorySpanExporter
) -> None:
    """A vote decided early cancels its slow voters; their streams were cut after the input
    was read, so each is charged its input and the output it sent (an estimate, marked)."""
    slow = AnthropicStandIn(stream_chunk_delay=0.2)
    with slow:
        client = client_for(slow, sdk_telemetry=False)
        started = itertools.count()

        @vote(n=3, quorum=2)
        async def judge(question: str) -> bool:
            i = next(started)
            if i < 2:  # two quick voters agree
                await client.messages.create(
                    model=MODEL, max_tokens=20, messages=[{"role": "user", "content": question}]
                )
                return True
            async with client.messages.stream(
                model=MODEL, max_tokens=200, messages=[{"role": "user", "content": question * 9}]
            ) as stream:
                await stream.get_final_text()  # slow: cancelled when the vote is decided
            return False

        async def run() -> None:
            await judge("Is this safe to merge? ")
            await client.close()

        asyncio.run(run())
    spans = list(exporter.get_finished_spans())
    check_rollups(spans)
    cut = [s for s in spans if is_genai(s) and (s.attributes or {}).get(A.COST_ESTIMATED)]
    assert cut, "the cancelled voter's call has an estimated cost"
    assert all((s.attributes or {})[A.COST_AMOUNT] > 0 for s in cut)  # type: ignore[operator]
    fanout = next(s for s in spans if (s.attributes or {}).get(A.ROLE) == A.ROLE_FANOUT)
    assert (fanout.attributes or {})[A.COST_ESTIMATED_CALLS] >= 1  # type: ignore[operator]


def test_the_reasons_a_call_has_no_cost_are_on_its_span(
    server: AnthropicStandIn, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ask(client: anthropic.AsyncAnthropic, model: str) -> None:
        await client.messages.create(
            model=model, max_tokens=20, messages=[{"role": "user", "content": "hello"}]
        )

    @traced
    async def agent(client: anthropic.AsyncAnthropic) -> None:
        await gather(known=ask(client, MODEL), unknown=ask(client, "claude-from-the-future-9"))

    async def run() -> None:
        client = client_for(server, sdk_telemetry=False)
        await agent(client)
        prices.set_prices({"ours": prices.Price(input=1.0, output=1.0)})
        # a cache write, which the user's price has no price for
        cached = {"type": "text", "text": "cached " * 50, "cache_control": {"type": "ephemeral"}}
        await client.messages.create(
            model="ours",
            max_tokens=20,
            system=[cached],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "hello"}],
        )
        prices.set_prices(None)
        monkeypatch.setattr(prices, "_table", False)  # as without the prices extra
        await ask(client, "claude-opus-5")
        await client.close()

    try:
        asyncio.run(run())
    finally:
        prices.set_prices(None)
    spans = list(exporter.get_finished_spans())
    reasons = sorted(str((s.attributes or {}).get(A.COST_UNKNOWN)) for s in spans if is_genai(s))
    expected = [A.COST_UNKNOWN_MODEL, A.COST_NO_TABLE, A.COST_UNPRICED_USAGE, "None"]
    assert reasons == sorted(expected)
    step = next(s for s in spans if s.name == "agent")
    assert (step.attributes or {})[A.COST_UNPRICED_CALLS] == 1
    assert (step.attributes or {})[A.COST_CALLS] == 2


# -- the roll-up invariant over random shapes ------------------------------------------------

Shape = Any  # an int (that many calls) or a list of shapes (a fan-out of them)
shapes: st.SearchStrategy[Shape] = st.recursive(
    st.integers(0, 2), lambda inner: st.lists(inner, min_size=1, max_size=3), max_leaves=8
)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shapes, sdk_telemetry=st.booleans(), fail_at=st.integers(-1, 3))
def test_a_parent_costs_the_sum_of_its_genai_descendants_counted_once(
    server: AnthropicStandIn,
    exporter: InMemorySpanExporter,
    shape: Shape,
    sdk_telemetry: bool,
    fail_at: int,
) -> None:
    exporter.clear()
    client = client_for(server, sdk_telemetry)
    made = [0]

    async def call(label: str) -> None:
        made[0] += 1
        await client.messages.create(
            model=MODEL, max_tokens=30, messages=[{"role": "user", "content": f"Topic {label}"}]
        )
        if made[0] == fail_at:
            raise ValueError("this branch fails after its call")

    @parallel
    async def node(part: Shape, label: str) -> None:
        if isinstance(part, int):
            for i in range(part):
                await call(f"{label}.{i}")
            return
        await node.starmap([(p, f"{label}.{i}") for i, p in enumerate(part)], on_error="collect")

    @traced
    async def root() -> None:
        await node(shape, "r") if not isinstance(shape, int) else await call("r")

    async def run() -> None:
        with contextlib.suppress(ValueError):
            await root()
        await client.close()

    asyncio.run(run())
    spans = list(exporter.get_finished_spans())
    assert len([s for s in spans if is_genai(s)]) == made[0]
    check_rollups(spans)
