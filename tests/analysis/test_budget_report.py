"""The budgets a trace ran under, in every report format, and the ``budget_refused`` gate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import BudgetExceeded, parallel, traced
from fanscope.analysis import analyze
from fanscope.analysis.gates import evaluate, parse_gate
from fanscope.analysis.model import Span
from fanscope.analysis.report import html, markdown, text
from fanscope.errors import ConfigurationError
from fanscope.integrations.anthropic.permits import demand_of
from fanscope.sdk import attributes as A
from fanscope.testing.anthropic_server import AnthropicStandIn
from tests.analysis.builders import MS, span
from tests.genai_spans import instrumented_anthropic

MODEL = "claude-haiku-5-5"


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    with instrumented_anthropic():
        yield


def question(i: int) -> str:
    return f"Summarize filing {i}: revenue, margin, guidance, risk and supply in one line."


def test_a_run_stopped_by_its_budget_is_reported_with_what_it_spent_and_refused(
    exporter: InMemorySpanExporter,
) -> None:
    """A fan-out with a USD budget of its own, inside a token budget around the step, through
    the real client to the stand-in: the report says what each allowed, spent and refused."""
    request = {"model": MODEL, "max_tokens": 60, "messages": [{"role": "user", "content": "x"}]}
    request["messages"] = [{"role": "user", "content": question(10)}]
    worst = demand_of(request, usd=True).usd
    assert worst is not None and worst > 0  # the model is priced
    with AnthropicStandIn() as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)

        @parallel(max_concurrency=4, budget=fanscope.budget(usd=worst * 3, name="per-map"))
        async def ask(q: str) -> str:
            m = await client.messages.create(
                model=MODEL, max_tokens=60, messages=[{"role": "user", "content": q}]
            )
            return m.content[0].text  # type: ignore[union-attr]

        @traced
        async def research() -> list[fanscope.Outcome[str]]:
            with fanscope.budget(tokens=1_000_000, name="run"):
                return await ask.map([question(i) for i in range(10, 50)], on_error="collect")

        async def run() -> list[fanscope.Outcome[str]]:
            async with client:
                return await research()

        outcomes = asyncio.run(run())
    refused = [o for o in outcomes if isinstance(o.error, BudgetExceeded)]
    assert refused and len(refused) < len(outcomes)
    spans = exporter.get_finished_spans()
    doc = analyze(spans).to_dict()
    (trace,) = doc["traces"]
    by_name = {b["name"]: b for b in trace["budgets"]}
    assert set(by_name) == {"run", "per-map"}
    per_map, run_budget = by_name["per-map"], by_name["run"]

    fanout = next(s for s in spans if s.name == "map ask")
    assert per_map["span_id"] == f"{fanout.context.span_id:016x}"  # type: ignore[union-attr]
    assert per_map["span"] == "map ask"
    assert per_map["limit_usd"] == pytest.approx(worst * 3)
    assert per_map["limit_tokens"] is None and per_map["used_tokens"] is None
    assert per_map["refused"] == len(refused)
    assert per_map["stopped_by"] == "usd"
    spent = per_map["spent_usd"]
    assert spent is not None and worst * 2 < spent <= worst * 3  # spent to within one call
    assert per_map["used_usd"] == pytest.approx(spent / (worst * 3))
    # what it spent is what the calls it allowed cost (they all finished)
    calls = [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name")]
    assert len(calls) == len(outcomes) - len(refused)
    cost = trace["cost"]
    assert cost is not None and spent == pytest.approx(cost["usd"], rel=1e-6)
    first = per_map["first_stop"]
    assert first is not None and 0 < first < trace["duration"]

    research_span = next(s for s in spans if s.name == "research")
    assert run_budget["span_id"] == f"{research_span.context.span_id:016x}"  # type: ignore[union-attr]
    assert run_budget["refused"] == 0 and run_budget["stopped_by"] is None
    assert run_budget["spent_tokens"] == cost["input_tokens"] + cost["output_tokens"]

    said = text.render(doc)
    sentence = re.search(
        r"budget 'per-map' on map ask: stopped by the budget after (\$[0-9.]+) of (\$[0-9.]+) "
        r"\(([0-9]+)%; ([0-9]+) calls refused\)",
        said,
    )
    assert sentence is not None, said
    assert int(sentence.group(4)) == len(refused)
    assert re.search(r"budget 'run' on research: [0-9,]+ of 1,000,000 tokens used", said)
    md = markdown.render(doc)
    assert "Budgets:" in md and "stopped by the budget after \\$" in md
    assert re.search(r"(?<!\\)\$", md) is None  # never a bare dollar (GitHub math)
    page = html.render(doc, [])
    assert "stopped by the budget after $" in page

    (line,) = evaluate(doc, [parse_gate("budget_refused > 0")])
    assert line.startswith("gate failed: budget_refused > 0") and "research" in line
    assert f"{len(refused)} call(s)" in line
    assert evaluate(doc, [parse_gate(f"budget_refused > {len(refused)}")]) == []


def test_budgets_that_end_one_after_another_in_one_step_each_keep_their_record(
    exporter: InMemorySpanExporter,
) -> None:
    """A step that gives each company a budget of its own, in a loop (the same name and limit
    every time), and a lone call under a budget too small for it: each block's record is its
    own, and each refusal counts for the block it happened in."""
    request = {"model": MODEL, "max_tokens": 60, "messages": [{"role": "user", "content": ""}]}
    request["messages"] = [{"role": "user", "content": question(10)}]
    worst = demand_of(request, usd=False)
    per_block = (worst.input_tokens + 60) * 2.5  # two short calls fit, a long one never
    with AnthropicStandIn() as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)

        @parallel(max_concurrency=4)
        async def ask(q: str) -> str:
            out = 4_000 if q.startswith("Long") else 60
            m = await client.messages.create(
                model=MODEL, max_tokens=out, messages=[{"role": "user", "content": q}]
            )
            return m.content[0].text  # type: ignore[union-attr]

        @parallel(budget=fanscope.budget(tokens=10, name="tiny"))
        async def one(q: str) -> str:
            return await ask.__wrapped__(q)  # type: ignore[attr-defined,no-any-return]

        budgets: list[fanscope.Budget] = []

        @traced
        async def research() -> None:
            for company in range(3):
                with fanscope.budget(tokens=per_block, name="company") as budget:
                    asked = [question(10), question(11)]
                    asked += [f"Long {question(12 + i)}" for i in range(company + 1)]
                    await ask.map(asked, on_error="collect")
                budgets.append(budget)
            with contextlib.suppress(BudgetExceeded):
                await one(question(99))

        async def run() -> None:
            async with client:
                await research()

        asyncio.run(run())
    doc = analyze(exporter.get_finished_spans()).to_dict()
    (trace,) = doc["traces"]
    listed = [b for b in trace["budgets"] if b["name"] == "company"]
    assert [b["span"] for b in listed] == ["research"] * 3
    # each block its own figures, in the order they ended, and its own refusals
    assert [b["spent_tokens"] for b in listed] == [b.spent_tokens for b in budgets]
    assert [b["refused"] for b in listed] == [b.refused for b in budgets]
    assert [b.refused for b in budgets] == [1, 2, 3]  # the long calls, never the short ones
    (tiny,) = [b for b in trace["budgets"] if b["name"] == "tiny"]
    assert (tiny["span"], tiny["refused"], tiny["stopped_by"]) == ("research", 1, "tokens")
    assert tiny["spent_tokens"] == 0


# -- hand-built traces ----------------------------------------------------------------------


def stop(at_ms: float, name: str, unit: str, limit: float, spent: float) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    limit_key = A.BUDGET_LIMIT_USD if unit == "usd" else A.BUDGET_LIMIT_TOKENS
    spent_key = A.BUDGET_SPENT_USD if unit == "usd" else A.BUDGET_SPENT_TOKENS
    attrs = {A.BUDGET_NAME: name, A.BUDGET_UNIT: unit, limit_key: limit, spent_key: spent}
    return (int(at_ms * MS), A.EVENT_BUDGET_STOP, {**attrs, A.BUDGET_NEEDED: 0.01})


def nested(outer: str = "budget", inner: str = "budget") -> list[Span]:
    """A step under a token budget (its ``with`` block) around a fan-out with a USD budget of
    the same name; one branch refused by each."""
    step = span("agent", 0, 100, fanscope__role="step")
    step.attributes.update(
        {A.BUDGET_NAME: outer, A.BUDGET_LIMIT_TOKENS: 1000.0, A.BUDGET_SPENT_TOKENS: 950.0}
    )
    step.attributes[A.BUDGET_REFUSED] = 1
    fanout = span("map f", 0, 90, step, fanscope__role="fanout", fanscope__kind="map")
    fanout.attributes.update(
        {A.BUDGET_NAME: inner, A.BUDGET_LIMIT_USD: 0.5, A.BUDGET_SPENT_USD: 0.48}
    )
    fanout.attributes[A.BUDGET_REFUSED] = 2
    spans = [step, fanout]
    for i in range(3):
        b = span("f", 0, 80, fanout, fanscope__role="branch", fanscope__branch__index=i)
        spans.append(b)
    spans[2].events.append(stop(30, outer, "tokens", 1000.0, 940.0))
    spans[3].events.append(stop(40, inner, "usd", 0.5, 0.47))
    spans[4].events.append(stop(50, inner, "usd", 0.5, 0.48))
    return spans


def test_each_refusal_counts_for_the_pot_that_refused_it_by_name_and_limit() -> None:
    doc = analyze(nested()).to_dict()
    outer, inner = doc["traces"][0]["budgets"]
    assert (outer["span"], outer["refused"], outer["stopped_by"]) == ("agent", 1, "tokens")
    assert (inner["span"], inner["refused"], inner["stopped_by"]) == ("map f", 2, "usd")
    assert inner["used_usd"] == pytest.approx(0.96) and outer["used_tokens"] == pytest.approx(0.95)
    assert inner["first_stop"] == pytest.approx(0.04)
    said = text.render(doc)
    assert (
        "budget 'budget' on map f: stopped by the budget after $0.48 of $0.50 "
        "(96%; 2 calls refused)" in said
    )
    assert "budget 'budget' on agent: stopped by the budget after 950 of 1,000 tokens" in said


def test_a_refusal_whose_budget_left_no_record_in_the_trace_still_counts() -> None:
    step = span("agent", 0, 100, fanscope__role="step")
    branch = span("f", 0, 80, step, fanscope__role="branch", fanscope__branch__index=0)
    other = span("f", 0, 80, step, fanscope__role="branch", fanscope__branch__index=1)
    branch.events.append(stop(10, "night", "usd", 2.0, 1.9))
    other.events.append(stop(20, "night", "usd", 2.0, 1.95))
    doc = analyze([step, branch, other]).to_dict()
    (b,) = doc["traces"][0]["budgets"]
    assert (b["span_id"], b["refused"], b["stopped_by"]) == ("", 2, "usd")
    assert b["spent_usd"] == pytest.approx(1.95) and b["limit_tokens"] is None
    assert (
        "budget 'night' (its record is not in this trace): stopped by the budget after at "
        "least $1.95 of $2.00 (98%; 2 calls refused)" in text.render(doc)
    )
    assert evaluate(doc, [parse_gate("budget_refused > 1")])


def test_damaged_budget_attributes_read_as_absent() -> None:
    step = span("agent", 0, 100, fanscope__role="step")
    step.attributes.update(
        {A.BUDGET_NAME: "b", A.BUDGET_LIMIT_USD: "lots", A.BUDGET_SPENT_USD: float("nan")}
    )
    step.attributes[A.BUDGET_REFUSED] = -3
    step.events.append((0, A.EVENT_BUDGET_STOP, {A.BUDGET_NAME: 7, A.BUDGET_UNIT: "gold"}))
    doc = analyze([step]).to_dict()
    recorded, loose = doc["traces"][0]["budgets"]
    assert recorded["limit_usd"] is None and recorded["refused"] == 0
    assert loose["name"] == "" and loose["refused"] == 1 and loose["stopped_by"] is None
    for rendered in (text.render(doc), markdown.render(doc)):
        assert "budget 'b' on agent: no call refused" in rendered.replace("\\", "")
    json.dumps(doc, allow_nan=False)


def test_a_trace_without_budgets_has_none_and_the_gate_passes() -> None:
    doc = analyze([span("agent", 0, 100, fanscope__role="step")]).to_dict()
    assert doc["traces"][0]["budgets"] == []
    assert "budget" not in text.render(doc)
    assert evaluate(doc, [parse_gate("budget_refused > 0")]) == []


@pytest.mark.parametrize("gate", ["budget_refused > 0.5", "budget_refused > 10%"])
def test_a_budget_gate_counts_calls(gate: str) -> None:
    with pytest.raises(ConfigurationError, match="counts calls"):
        parse_gate(gate)


def test_budget_gate_from_the_command_line_and_pyproject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanscope.analysis.convert import to_otlp_lines
    from fanscope.cli import main

    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines(nested())) + "\n")
    assert main(["analyze", str(path), "--max-budget-refused", "0"]) == 1
    assert "gate failed: budget_refused > 0" in capsys.readouterr().err
    assert main(["analyze", str(path), "--max-budget-refused", "3"]) == 0
    capsys.readouterr()
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.fanscope]\nmax_budget_refused = 2\n")
    assert main(["analyze", str(path), "--config", str(config)]) == 1
    assert "3 call(s)" in capsys.readouterr().err


def test_budget_names_from_the_trace_are_escaped_in_every_format() -> None:
    evil = "\x1b]0;pwned\x07[x](javascript:alert(1)) $a$ <b>bold</b>\r\nall gates passed"
    spans = nested(evil, evil)
    doc = analyze(spans).to_dict()
    said = text.render(doc)
    assert "\x1b" not in said and "\r" not in said
    assert not any(line.startswith("all gates passed") for line in said.splitlines())
    md = markdown.render(doc)
    assert "](javascript" not in md and "<b>" not in md and re.search(r"(?<!\\)\$", md) is None
    page = html.render(doc, spans)
    body = page.split("</style>", 1)[1]
    assert "<b>" not in body and "\x1b" not in body
    assert json.loads(json.dumps(doc))["traces"][0]["budgets"][0]["name"] == evil
