"""The HTML report's hedges in a real headless Chromium: the fan-out table's hedge counts
(``3 sent, 1 won``, as the terminal says), each hedge row tagged with its outcome, and the
"hedges that lost" class of wasted spend in the cost view, from a real hedged run through the
real client to the stand-in (whose script decides who wins, not the clock). Text from the trace
stays text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.model import Span
from fanscope.analysis.report import costs, html
from fanscope.sdk import attributes as A
from tests.analysis.builders import span
from tests.analysis.chromium import Browser, Page, chromium_or_skip
from tests.analysis.test_hedge_costs import run as hedged_run
from tests.genai_spans import instrumented_anthropic

CHROMIUM = chromium_or_skip()

EVIL = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def open_report(browser: Browser, tmp_path: Path, spans: list[Span]) -> tuple[Page, Any]:
    doc = analyze(spans).to_dict()
    path = tmp_path / "report.html"
    path.write_text(html.render(doc, spans))
    page = browser.new_page()
    page.open(path.as_uri())
    assert page.evaluate("document.body.dataset.ready") == "1"
    return page, doc


def table(page: Page, cls: str) -> list[dict[str, str]]:
    """The rows of the page's ``table.{cls}``, each as {header: cell text}."""
    rows: list[list[str]] = page.evaluate(
        f"""Array.from(document.querySelectorAll('table.{cls} tr'),
              tr => Array.from(tr.children, c => c.textContent))"""
    )
    if not rows:
        return []
    head, *body = rows
    return [dict(zip(head, row, strict=True)) for row in body]


def tags(page: Page) -> dict[str, list[str]]:
    """Per span id in view, the texts of its row's tags."""
    found: dict[str, list[str]] = page.evaluate(
        """(() => {
          const out = {};
          document.querySelectorAll('.waterfall .row[data-span-id]').forEach(row => {
            out[row.dataset.spanId] = Array.from(row.querySelectorAll('.tag'),
                                                 t => t.textContent);
          });
          return out;
        })()"""
    )
    return found


def test_the_page_counts_hedges_tags_them_and_puts_the_losers_in_wasted_spend(
    exporter: InMemorySpanExporter, browser: Browser, tmp_path: Path
) -> None:
    with instrumented_anthropic():
        spans = list(from_readable_spans(hedged_run(exporter)))
    page, doc = open_report(browser, tmp_path, spans)
    (trace,) = doc["traces"]
    fanout = next(s for s in spans if s.attributes.get(A.ROLE) == A.ROLE_FANOUT)
    sent, won = fanout.attributes[A.FANOUT_HEDGES], fanout.attributes[A.FANOUT_HEDGES_WON]
    assert sent >= 3 and won >= 1  # the stuck one's hedge won; the slow and broken ones' lost

    # the fan-out table counts them, as the terminal's sentence does
    (row,) = table(page, "fanouts")
    assert row["fan-out"] == "map extract" and row["hedges"] == f"{sent} sent, {won} won"
    said = page.evaluate("document.querySelector('.said.fanouts').textContent")
    assert f"{sent} hedges sent, {won} won" in said

    # each hedge row says how its race ended
    hedges = [s for s in spans if s.attributes.get(A.ROLE) == A.ROLE_HEDGE]
    assert len(hedges) == sent
    shown = tags(page)
    for h in hedges:
        assert f"hedge {h.attributes[A.HEDGE_OUTCOME]}" in shown[h.span_id]
    assert sum("hedge won" in shown[h.span_id] for h in hedges) == won

    # the cost view: what the losers cost, as its own class of wasted spend
    cost = trace["cost"]
    assert cost is not None and cost["wasted_hedges"] > 0
    waste = {r["wasted on"]: r for r in table(page, "waste")}
    lost = waste["hedges that lost"]
    assert lost["cost"] == costs.usd(cost["wasted_hedges"])
    assert lost["share"].strip() == f"{round(100 * cost['wasted_hedges'] / cost['usd'])}%"
    assert set(waste) == {what for what, _ in costs.waste(cost)}
    assert page.problems() == []
    assert page.requests() == [Path(tmp_path / "report.html").as_uri()]


def test_hedge_text_from_the_trace_stays_text(browser: Browser, tmp_path: Path) -> None:
    step = span("agent", 0, 100, fanscope__role="step")
    fan = span(EVIL, 0, 100, step, fanscope__role="fanout", fanscope__kind="map")
    fan.attributes.update({A.FANOUT_HEDGES: 2, A.FANOUT_HEDGES_WON: 0})
    spans = [step, fan]
    outcomes = [A.HEDGE_OUTCOME_LOST, EVIL]  # the second is no outcome the SDK writes
    for i, outcome in enumerate(outcomes):
        b = span(EVIL, 0, 90, fan, fanscope__role="branch", fanscope__branch__index=i)
        b.attributes[A.BRANCH_OUTCOME] = A.OUTCOME_OK
        h = span(f"hedge {EVIL}", 20, 60, b, fanscope__role="hedge")
        h.attributes[A.HEDGE_OUTCOME] = outcome
        call = span("chat m", 20, 60, h, gen_ai__operation__name="chat")
        call.attributes[A.COST_AMOUNT] = 0.25
        first = span("chat m", 0, 80, b, gen_ai__operation__name="chat")
        first.attributes[A.COST_AMOUNT] = 0.25
        spans += [b, h, call, first]
    page, _ = open_report(browser, tmp_path, spans)
    (row,) = table(page, "fanouts")
    assert row["fan-out"] == EVIL and row["hedges"] == "2 sent, 0 won"
    shown = tags(page)
    lost, odd = (s.span_id for s in spans if s.attributes.get(A.ROLE) == A.ROLE_HEDGE)
    assert "hedge lost" in shown[lost] and "hedge outcome unknown" in shown[odd]
    assert not any(EVIL in t for t in shown[odd])
    names = page.evaluate(
        "Array.from(document.querySelectorAll('.waterfall .row .name'), n => n.textContent)"
    )
    assert f"hedge {EVIL}" in names
    waste = {r["wasted on"]: r["cost"] for r in table(page, "waste")}
    assert waste == {"hedges that lost": costs.usd(0.25)}  # the lost hedge's call only
    assert page.evaluate("[typeof window.__pwned, document.images.length]") == ["undefined", 0]
    assert page.problems() == []


def test_a_trace_without_hedges_has_no_hedge_column_and_no_hedge_waste(
    browser: Browser, tmp_path: Path
) -> None:
    step = span("agent", 0, 100, fanscope__role="step")
    fan = span("map f", 0, 100, step, fanscope__role="fanout", fanscope__kind="map")
    b = span("f", 0, 90, fan, fanscope__role="branch", fanscope__branch__index=0)
    b.attributes[A.BRANCH_OUTCOME] = A.OUTCOME_OK
    call = span("chat m", 0, 50, b, gen_ai__operation__name="chat")
    call.attributes[A.COST_AMOUNT] = 0.1
    page, _ = open_report(browser, tmp_path, [step, fan, b, call])
    (row,) = table(page, "fanouts")
    assert "hedges" not in row and row["fan-out"] == "map f"
    assert table(page, "waste") == []
    assert [r["operation"] for r in table(page, "by-cost")] == ["f > chat m"]
