"""The analyzer's "hedges that lost": a real hedged run through the real client to the stand-in,
whose script decides who wins (no clock), read back by the analyzer."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Hedge, parallel, traced
from fanscope.analysis import analyze
from fanscope.analysis.costs import _walk, waste_kind
from fanscope.analysis.readers import from_readable_spans
from fanscope.analysis.report import markdown, text
from fanscope.analysis.tree import build_traces
from fanscope.sdk import attributes as A
from fanscope.testing import AnthropicStandIn
from tests.genai_spans import instrumented_anthropic
from tests.hedge_race import Attempts, Race

MODEL = "claude-haiku-5-5"


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    with instrumented_anthropic():
        yield


def run(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    done = threading.Event()
    stuck, slow, broken = Race(done), Race(done), Race(done)
    with AnthropicStandIn() as server:
        # the hedge wins; the first answer wins; the hedge's answer does not parse
        server.script(r"^Stuck", stuck(stuck.never('{"n": 0}'), lambda: '{"n": 1}'))
        server.script(r"^Slow", slow(slow.after_hedge('{"n": 2}'), slow.never()))
        server.script(r"^Broken", broken(broken.after_hedge('{"n": 3}'), lambda: "not JSON"))
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)

        attempts = Attempts()

        @parallel(hedge=Hedge(after=0.005, max_extra=1.0))
        async def extract(q: str) -> int:
            m = await client.messages.create(
                model=MODEL,
                max_tokens=40,
                system=attempts.system(q),
                messages=[{"role": "user", "content": q}],
            )
            return int(json.loads(m.content[0].text)["n"])  # type: ignore[union-attr]

        @traced
        async def research() -> list[int]:
            return await extract.map(["Stuck one", "Slow one", "Broken one"])

        async def main() -> None:
            async with client:
                assert await research() == [1, 2, 3]

        try:
            asyncio.run(main())
        finally:
            done.set()
    return list(exporter.get_finished_spans())


def test_calls_that_lost_to_a_hedge_or_were_a_losing_hedge_are_wasted_as_hedges(
    exporter: InMemorySpanExporter,
) -> None:
    spans = run(exporter)
    by_id = {s.context.span_id: s for s in spans if s.context is not None}

    def parent(s: ReadableSpan) -> ReadableSpan | None:
        return by_id.get(s.parent.span_id) if s.parent is not None else None

    def amount(s: ReadableSpan) -> float:
        value = (s.attributes or {}).get(A.COST_AMOUNT)
        return float(value) if isinstance(value, int | float) else 0.0

    def lost(call: ReadableSpan) -> bool:
        """Structurally: under a losing or failed hedge, or the first attempt's call of a
        branch whose hedge won (one call per attempt, no retries here)."""
        up = parent(call)
        attrs = dict(up.attributes or {}) if up is not None else {}
        if attrs.get(A.ROLE) == A.ROLE_HEDGE:
            return attrs.get(A.HEDGE_OUTCOME) in (A.HEDGE_OUTCOME_LOST, A.HEDGE_OUTCOME_FAILED)
        return attrs.get(A.HEDGE_WINNER) == A.HEDGE_WINNER_HEDGE

    calls = [s for s in spans if "gen_ai.operation.name" in (s.attributes or {})]
    losers = [c for c in calls if lost(c)]
    assert len(losers) >= 3  # at least the stuck first attempt, the slow hedge, the broken one
    assert all(amount(c) > 0 for c in losers)
    doc = analyze(spans).to_dict()
    (trace,) = doc["traces"]
    cost = trace["cost"]
    assert cost is not None
    assert cost["wasted_hedges"] == pytest.approx(sum(amount(c) for c in losers))
    assert cost["wasted"] == pytest.approx(
        cost["wasted_retries"]
        + cost["wasted_failures"]
        + cost["wasted_cancelled"]
        + cost["wasted_hedges"]
    )
    (fanout,) = trace["fanouts"]
    assert fanout["cost"] is not None
    assert fanout["cost"]["wasted_hedges"] == pytest.approx(cost["wasted_hedges"])
    span = next(s for s in spans if s.name == "map extract")
    sent, won = (
        (span.attributes or {})[A.FANOUT_HEDGES],
        (span.attributes or {})[A.FANOUT_HEDGES_WON],
    )
    assert fanout["hedges"] == sent >= 3 and fanout["hedges_won"] == won >= 1

    terminal = text.render(doc)
    assert "hedges that lost $" in terminal
    assert re.search(rf"{sent} hedges sent, {won} won", terminal)
    assert "hedges that lost \\$" in markdown.render(doc)


def test_walking_up_from_each_call_classifies_it_as_the_walk_down_does(
    exporter: InMemorySpanExporter,
) -> None:
    spans = list(from_readable_spans(run(exporter)))
    (trace,) = build_traces(spans)
    found = _walk(trace)
    assert found
    kinds = {sid: f.kind for sid, f in found.items()}
    assert "hedges" in kinds.values()
    for sid in found:
        assert waste_kind(trace, trace.spans[sid]) == kinds[sid]
