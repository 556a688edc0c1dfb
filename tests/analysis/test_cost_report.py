"""Cost beside time in the analyzer: per trace, per fan-out, per operation, wasted spend and what
an early stop saved, in every report format, gates and ``fanscope diff``."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Retry, parallel, traced, vote
from fanscope.analysis import analyze
from fanscope.analysis.diff import compare_costs
from fanscope.analysis.gates import evaluate, parse_gate
from fanscope.analysis.model import Span
from fanscope.analysis.report import html, markdown, text
from fanscope.analysis.schema import ReportDoc
from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.testing.anthropic_server import AnthropicStandIn
from tests.analysis.builders import span
from tests.genai_spans import calls_under, instrumented_anthropic

MODEL = "claude-haiku-5-5"


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    with instrumented_anthropic():
        yield


def amount(s: ReadableSpan) -> float:
    value = (s.attributes or {}).get(A.COST_AMOUNT)
    return float(value) if isinstance(value, int | float) else 0.0


def run_agent(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """A step with a retried fan-out (one branch retried once, one failing twice) and a vote
    that cancels its slow voter mid-stream, all through the real client to the stand-in."""
    slow = AnthropicStandIn(stream_chunk_delay=0.2)
    with AnthropicStandIn() as server, slow:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
        slow_client = anthropic.AsyncAnthropic(base_url=slow.url, api_key="k", max_retries=0)
        tried: set[str] = set()
        started = itertools.count()
        streaming = asyncio.Event()

        @parallel(retry=Retry(attempts=2, initial=0.001, retry_on=ValueError))
        async def summarize(topic: str) -> str:
            message = await client.messages.create(
                model=MODEL, max_tokens=40, messages=[{"role": "user", "content": f"On {topic}"}]
            )
            if topic == "flaky" and topic not in tried:
                tried.add(topic)
                raise ValueError("unparseable answer")
            if topic == "broken":
                raise ValueError("never parses")
            return str(message.content[0].text)  # type: ignore[union-attr]

        @vote(n=3, quorum=2)
        async def judge(question: str) -> bool:
            if next(started) < 2:
                # the two quick voters answer once the third is reading its stream, so the
                # vote is decided while that stream runs, however slow the machine is
                await streaming.wait()
                await client.messages.create(
                    model=MODEL, max_tokens=60, messages=[{"role": "user", "content": question}]
                )
                return True
            async with slow_client.messages.stream(
                model=MODEL, max_tokens=300, messages=[{"role": "user", "content": question}]
            ) as stream:
                async for _ in stream.text_stream:
                    streaming.set()
                    await asyncio.Event().wait()  # a slow reader: cancelled when decided
            return False

        @traced
        async def research() -> None:
            await summarize.map(["plain", "flaky", "broken"], on_error="collect")
            await judge("Is the summary of the filings faithful to them? " * 4)

        async def run() -> None:
            await research()
            await client.close()
            await slow_client.close()

        asyncio.run(run())
    return list(exporter.get_finished_spans())


def test_a_run_reports_its_cost_its_waste_and_what_the_early_stop_saved(
    exporter: InMemorySpanExporter,
) -> None:
    spans = run_agent(exporter)
    calls = [s for s in spans if "gen_ai.operation.name" in (s.attributes or {})]
    assert len(calls) == 1 + 2 + 2 + 3
    doc = analyze(spans).to_dict()
    (trace,) = doc["traces"]
    cost = trace["cost"]
    assert cost is not None
    assert cost["calls"] == 8 and cost["unpriced_calls"] == 0, cost["unpriced"]
    assert cost["usd"] == pytest.approx(sum(amount(s) for s in calls), rel=1e-9)
    assert cost["usd"] > 0

    def branch(name: str) -> ReadableSpan:  # the map's branches, by index
        index = ["plain", "flaky", "broken"].index(name)
        return next(
            s
            for s in spans
            if s.name == "summarize"
            and (s.attributes or {}).get(A.ROLE) == A.ROLE_BRANCH
            and (s.attributes or {}).get(A.BRANCH_INDEX) == index
        )

    first = {
        n: min(calls_under(branch(n), spans), key=lambda s: s.start_time or 0)
        for n in ("flaky", "broken")
    }
    last_broken = max(calls_under(branch("broken"), spans), key=lambda s: s.start_time or 0)
    cancelled = [s for s in calls if (s.attributes or {}).get(A.COST_ESTIMATED) is True]
    assert len(cancelled) == 1
    assert cost["wasted_retries"] == pytest.approx(amount(first["flaky"]) + amount(first["broken"]))
    assert cost["wasted_failures"] == pytest.approx(amount(last_broken))
    assert cost["wasted_cancelled"] == pytest.approx(amount(cancelled[0]))
    assert cost["wasted"] == pytest.approx(
        cost["wasted_retries"] + cost["wasted_failures"] + cost["wasted_cancelled"]
    )

    fanouts = {f["kind"]: f for f in trace["fanouts"]}
    mapped, voted = fanouts["map"]["cost"], fanouts["vote"]["cost"]
    assert mapped is not None and voted is not None
    assert mapped["calls"] == 5 and voted["calls"] == 3
    assert mapped["usd"] + voted["usd"] == pytest.approx(cost["usd"])
    assert voted["wasted_cancelled"] == pytest.approx(cost["wasted_cancelled"])
    assert mapped["early_stop_saved"] is None
    answered = [b["usd"] for b in voted["branches"] if b["outcome"] == A.OUTCOME_OK]
    assert len(answered) == 2
    saved = max(0.0, sum(answered) / 2 - amount(cancelled[0]))
    assert voted["early_stop_saved"] == pytest.approx(saved)
    assert cost["early_stop_saved"] == pytest.approx(saved)
    assert sum(cost["by_operation"].values()) == pytest.approx(cost["usd"])
    chat = "chat claude-haiku-5-5"
    assert set(cost["by_operation"]) == {f"summarize > {chat}", f"judge > {chat}"}

    assert doc["cost"] is not None and doc["cost"]["usd"] == pytest.approx(cost["usd"])
    terminal = text.render(doc)
    assert re.search(r"cost: \$[0-9.e-]+ for 8 calls", terminal)
    assert "retried attempts $" in terminal and "failed branches $" in terminal
    assert "cancelled voters $" in terminal
    md = markdown.render(doc)
    assert "Cost: \\$" in md and re.search(r"(?<!\\)\$", md) is None  # never a bare dollar
    page = html.render(doc, [])
    assert '"cost_amount":"$' in page


def test_cost_gates_per_trace_and_total_and_unpriced_calls_fail_them(
    exporter: InMemorySpanExporter,
) -> None:
    spans = run_agent(exporter)
    doc = analyze(spans).to_dict()
    assert doc["traces"][0]["cost"] is not None
    spent = doc["traces"][0]["cost"]["usd"]
    assert evaluate(doc, [parse_gate(f"cost > ${spent * 2:.6f}")]) == []
    (line,) = evaluate(doc, [parse_gate(f"cost > ${spent / 2:.9f}")])
    assert line.startswith("gate failed: cost > $") and "research" in line
    assert evaluate(doc, [parse_gate(f"total_cost > {spent * 2:.6f} usd")]) == []
    assert evaluate(doc, [parse_gate(f"total_cost >= {spent / 2:.9f}")])

    # one call of another model the table does not know: the gate can no longer say "under"
    stranger = next(s for s in analyze_spans(spans) if A.COST_AMOUNT in s.attributes)
    del stranger.attributes[A.COST_AMOUNT]
    stranger.attributes[A.COST_UNKNOWN] = A.COST_UNKNOWN_MODEL
    blind = analyze([stranger, *others(spans, stranger)]).to_dict()
    (line,) = evaluate(blind, [parse_gate("cost > $100")])
    assert "cannot be checked" in line and "unknown model" in line and "prices" in line
    (line,) = evaluate(blind, [parse_gate("total_cost > $100")])
    assert "cannot be checked" in line
    assert "at least $" in text.render(blind)


_converted: dict[int, list[Span]] = {}


def analyze_spans(spans: list[ReadableSpan]) -> list[Span]:
    from fanscope.analysis.readers import from_readable_spans

    key = id(spans)
    if key not in _converted:
        _converted[key] = list(from_readable_spans(spans))
    return _converted[key]


def others(spans: list[ReadableSpan], one: Span) -> list[Span]:
    return [s for s in analyze_spans(spans) if s is not one]


@pytest.mark.parametrize(
    ("gate", "hint"),
    [
        ("cost > bash.50", "single quotes"),  # "cost > $0.50" in double quotes, after the shell
        ("cost > 50%", "US dollars"),
        ("critical_path > $5", "not an amount"),
    ],
)
def test_a_cost_gate_that_cannot_be_read_says_what_to_write(gate: str, hint: str) -> None:
    with pytest.raises(ConfigurationError, match=hint):
        parse_gate(gate)


# -- hand-built traces: the invariants ------------------------------------------------------

OUTCOMES = [A.OUTCOME_OK, A.OUTCOME_ERROR, A.OUTCOME_CANCELLED, A.OUTCOME_TIMEOUT]


@st.composite
def fanout_traces(draw: st.DrawFn) -> list[Span]:
    """A step with fan-outs of branches, each with calls priced, unpriced or without a cost;
    some branches retried (a retry event between their calls)."""
    step = span("agent", 0, 1000, **{"fanscope.role": "step"})
    spans = [step]
    for f in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from([A.KIND_MAP, A.KIND_VOTE]))
        fanout = span(f"fan{f}", 0, 1000, step, fanscope__role="fanout", fanscope__kind=kind)
        spans.append(fanout)
        for b in range(draw(st.integers(1, 5))):
            outcome = draw(st.sampled_from(OUTCOMES))
            branch = span(
                f"fan{f}", 0, 900, fanout, fanscope__role="branch", fanscope__branch__index=b
            )
            branch.attributes[A.BRANCH_OUTCOME] = outcome
            spans.append(branch)
            n = draw(st.integers(0, 3))
            for c in range(n):
                attrs: dict[str, Any] = {"gen_ai.operation.name": "chat"}
                price = draw(st.one_of(st.none(), st.floats(0, 1, allow_nan=False)))
                if price is not None:
                    attrs[A.COST_AMOUNT] = price
                elif draw(st.booleans()):
                    attrs[A.COST_UNKNOWN] = A.COST_UNKNOWN_MODEL
                spans.append(span("chat m", 100 * c, 100 * c + 50, branch, **attrs))
            if n >= 2 and draw(st.booleans()):
                branch.events.append((120 * 1_000_000, A.EVENT_RETRY, {}))
    return spans


@given(fanout_traces())
def test_every_call_is_counted_once_and_waste_never_exceeds_the_spend(spans: list[Span]) -> None:
    calls = [s for s in spans if "gen_ai.operation.name" in s.attributes]
    doc = analyze(spans).to_dict()
    (trace,) = doc["traces"]
    if not calls:
        assert trace["cost"] is None and doc["cost"] is None
        return
    cost = trace["cost"]
    assert cost is not None
    priced = [s.attributes[A.COST_AMOUNT] for s in calls if A.COST_AMOUNT in s.attributes]
    assert cost["calls"] == len(calls)
    assert cost["unpriced_calls"] == len(calls) - len(priced)
    assert sum(cost["unpriced"].values()) == cost["unpriced_calls"]
    assert cost["usd"] == pytest.approx(sum(priced))
    assert 0 <= cost["wasted"] <= cost["usd"] + 1e-9
    with_cost = [f["cost"] for f in trace["fanouts"] if f["cost"] is not None]
    assert sum(c["calls"] for c in with_cost) == len(calls)  # fan-outs are not nested here
    assert sum(c["usd"] for c in with_cost) == pytest.approx(cost["usd"])
    assert sum(c["wasted"] for c in with_cost) == pytest.approx(cost["wasted"])
    for f in trace["fanouts"]:
        c = f["cost"]
        if c is not None:
            assert sum(b["calls"] for b in c["branches"]) == c["calls"]
            assert c["early_stop_saved"] is None or (
                f["kind"] == A.KIND_VOTE and c["early_stop_saved"] >= 0
            )
    assert sum(cost["by_operation"].values()) == pytest.approx(cost["usd"])
    for rendered in (text.render(doc), markdown.render(doc)):
        if cost["unpriced_calls"]:
            assert "unpriced" in rendered
            assert "at least" in rendered or "unknown" in rendered


def _doc(spans: list[Span]) -> ReportDoc:
    return analyze(spans).to_dict()


def _priced_step(trace: str, usd: float, name: str = "chat m") -> list[Span]:
    step = span("agent", 0, 100, trace=trace, fanscope__role="step")
    call = span(name, 0, 50, step, trace=trace, gen_ai__operation__name="chat")
    call.attributes[A.COST_AMOUNT] = usd
    return [step, call]


def test_per_operation_cost_is_p50_and_p95_over_the_traces_where_it_ran() -> None:
    spans: list[Span] = []
    for i, usd in enumerate([0.01, 0.02, 0.03, 0.04, 1.0]):
        spans += _priced_step(f"{i + 1:032x}", usd)
    spans += [span("agent", 0, 100, trace=f"{9:032x}", fanscope__role="step")]  # no call
    doc = _doc(spans)
    ops = doc["operation_costs"]
    assert list(ops) == ["agent > chat m"]
    stats = ops["agent > chat m"]
    assert stats["traces"] == 5
    assert stats["p50"] == pytest.approx(0.03)
    assert 0.04 < stats["p95"] <= 1.0
    assert stats["total"] == pytest.approx(1.1)
    assert doc["cost"] is not None and doc["cost"]["calls"] == 5
    assert "per operation, its cost in a trace" in text.render(doc)


def test_diff_shows_the_cost_change_per_operation(tmp_path: Path) -> None:
    base = _doc(_priced_step(f"{1:032x}", 0.01) + _priced_step(f"{2:032x}", 0.01, "chat x"))
    head = _doc(_priced_step(f"{3:032x}", 0.03) + _priced_step(f"{4:032x}", 0.01, "chat x"))
    changes = {c.operation: c for c in compare_costs(base, head)}
    assert changes["agent > chat m"].base == pytest.approx(0.01)
    assert changes["agent > chat m"].head == pytest.approx(0.03)
    assert changes["agent > chat x"].delta == pytest.approx(0.0)
    assert next(iter(changes)) == "(total)"
    assert compare_costs(_doc([span("a", 0, 1)]), _doc([span("a", 0, 1)])) == []


def test_fanscope_diff_prints_cost_changes_and_fails_on_an_increase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanscope.analysis.convert import to_otlp_lines
    from fanscope.cli import main

    base, head = tmp_path / "base.jsonl", tmp_path / "head.jsonl"
    base.write_text("\n".join(to_otlp_lines(_priced_step(f"{7:032x}", 0.01))) + "\n")
    head.write_text("\n".join(to_otlp_lines(_priced_step(f"{8:032x}", 0.05))) + "\n")
    assert main(["diff", str(base), str(head)]) == 0
    out = capsys.readouterr().out
    assert "p50 cost in a trace" in out and "$0.01" in out and "$0.05" in out and "+400%" in out
    assert main(["diff", str(base), str(head), "--max-cost-increase", "10%"]) == 1
    assert "costlier: (total) $0.0100 -> $0.0500" in capsys.readouterr().err
    assert main(["diff", str(head), str(base), "--max-cost-increase", "10%"]) == 0
    capsys.readouterr()
    assert main(["diff", str(base), str(head), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["cost_changes"][0] == {
        "operation": "(total)", "base": 0.01, "head": 0.05, "delta": pytest.approx(0.04)
    }  # fmt: skip
    assert main(["analyze", str(head), "--fail-if", "cost > $0.04"]) == 1
    assert "gate failed: cost > $0.04" in capsys.readouterr().err
    assert main(["analyze", str(head), "--max-cost", "0.06"]) == 0


def test_trace_text_in_cost_sentences_is_escaped() -> None:
    evil = "\x1b[31m[click](http://x) $a$ <b>"
    step = span("agent", 0, 100, fanscope__role="step")
    fanout = span(evil, 0, 100, step, fanscope__role="fanout", fanscope__kind="map")
    spans = [step, fanout]
    for i in range(2):
        b = span(evil, 0, 90, fanout, fanscope__role="branch", fanscope__branch__index=i)
        b.attributes[A.BRANCH_NAME] = evil
        call = span(evil, 0, 50, b, gen_ai__operation__name="chat")
        call.attributes[A.COST_AMOUNT] = 0.5
        spans += [b, call]
    doc = _doc(spans)
    assert "\x1b" not in text.render(doc)
    md = markdown.render(doc)
    assert "](http" not in md and "<b>" not in md and re.search(r"(?<!\\)\$", md) is None
    page = html.render(doc, spans)
    assert "<b>" not in page.split("</style>", 1)[1]
    assert json.loads(json.dumps(doc))["traces"][0]["cost"]["usd"] == 1.0


def test_the_html_report_shows_cost_per_branch_and_a_cost_view(tmp_path: Path) -> None:
    from tests.analysis.chromium import Browser, chromium_or_skip

    chromium = chromium_or_skip()  # fails instead when CI requires the browser
    step = span("agent", 0, 100, fanscope__role="step")
    fanout = span("summarize", 0, 100, step, fanscope__role="fanout", fanscope__kind="map")
    spans = [step, fanout]
    for i, usd in enumerate([0.25, 0.0005]):
        b = span("summarize", 0, 90, fanout, fanscope__role="branch", fanscope__branch__index=i)
        b.attributes[A.BRANCH_OUTCOME] = A.OUTCOME_OK
        call = span("<img src=x onerror=alert(1)>", 0, 50, b, gen_ai__operation__name="chat")
        call.attributes[A.COST_AMOUNT] = usd
        spans += [b, call]
    doc = _doc(spans)
    path = tmp_path / "report.html"
    path.write_text(html.render(doc, spans))
    browser = Browser(chromium, tmp_path / "profile")
    try:
        page = browser.new_page()
        page.open(path.as_uri())
        assert page.evaluate("document.body.dataset.ready") == "1"
        assert page.problems() == []
        assert page.requests() == [path.as_uri()]  # the page itself, nothing else
        tags = page.evaluate(
            "Array.from(document.querySelectorAll('.tag.cost'), n => n.textContent)"
        )
        assert sorted(tags) == ["$0.000500", "$0.25", "$0.25"]  # two branches, their fan-out
        summary = page.evaluate("document.querySelector('.summary').textContent")
        assert "cost$0.25" in summary
        rows = page.evaluate(
            "Array.from(document.querySelectorAll('table.by-cost tr'), r => r.textContent)"
        )
        assert len(rows) == 2 and rows[1].startswith("summarize > <img src=x onerror=alert(1)>")
        assert rows[1].endswith("100%")
        said = page.evaluate("document.querySelector('ul.cost').textContent")
        assert "most by one branch: summarize[0] $0.25" in said
        assert page.evaluate("document.querySelectorAll('img').length") == 0
    finally:
        browser.close()


@given(fanout_traces(), st.randoms(use_true_random=False))
def test_one_walk_down_classifies_every_call_as_walking_up_from_it_does(
    spans: list[Span], rng: Any
) -> None:
    from fanscope.analysis.costs import _walk, waste_kind
    from fanscope.analysis.tree import build_traces

    for s in spans:  # nest some fan-outs under others' branches, and fail some calls
        if s.attributes.get(A.ROLE) == A.ROLE_FANOUT and rng.random() < 0.5:
            branches = [b for b in spans if b.attributes.get(A.ROLE) == A.ROLE_BRANCH]
            outside = [b for b in branches if b.parent_id != s.span_id]
            if outside:
                s.parent_id = rng.choice(outside).span_id
        if "gen_ai.operation.name" in s.attributes and rng.random() < 0.2:
            s.status = "error"
    (trace,) = build_traces(spans)
    walked = _walk(trace)
    calls = {s.span_id for s in spans if "gen_ai.operation.name" in s.attributes}
    assert set(walked) == calls
    for sid, found in walked.items():
        assert found.kind == waste_kind(trace, trace.spans[sid])


def test_a_deep_chain_costs_its_size_not_its_size_times_its_depth() -> None:
    """50,000 nested steps, each with a call: one walk down (a walk up from each call would
    take about 1.25 billion steps)."""
    parent: Span | None = None
    spans = []
    for i in range(50_000):
        step = span("step", i, 200_000 - i, parent, fanscope__role="step")
        call = span("chat m", i, i + 1, step, gen_ai__operation__name="chat")
        call.attributes[A.COST_AMOUNT] = 0.001
        spans += [step, call]
        parent = step
    from fanscope.analysis.costs import trace_cost
    from fanscope.analysis.tree import build_traces

    (trace,) = build_traces(spans)
    cost, _ = trace_cost(trace)
    assert cost is not None and cost["calls"] == 50_000
    assert cost["usd"] == pytest.approx(50.0)
    assert cost["by_operation"] == {"step > chat m": pytest.approx(50.0)}
