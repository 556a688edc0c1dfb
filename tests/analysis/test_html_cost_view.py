"""The HTML report's cost view in a real headless Chromium: the waterfall redrawn with each bar
as wide as what the model calls under its span cost, a toggle back to time, the cost of each
branch, and the page's hash-based Content-Security-Policy kept (no ``'unsafe-inline'``).

A run through the real client to the stand-in makes branches of different cost: the costlier
branch's bar is wider, by the ratio of what their calls cost."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import parallel, traced
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.model import Span
from fanscope.analysis.report import html
from fanscope.sdk import attributes as A
from fanscope.testing.anthropic_server import AnthropicStandIn
from tests.analysis.builders import span
from tests.analysis.chromium import Browser, Page, chromium_or_skip
from tests.genai_spans import instrumented_anthropic

CHROMIUM = chromium_or_skip()

MODEL = "claude-haiku-5-5"
WORDS = ["revenue", "margin", "guidance", "cloud", "storage", "europe", "quarter", "risk"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def open_page(browser: Browser, path: Path) -> Page:
    page = browser.new_page()
    page.open(path.as_uri())
    assert page.evaluate("document.body.dataset.ready") == "1"
    return page


def bars(page: Page) -> dict[str, dict[str, Any]]:
    """Per span id in view: its bar's left and width in pixels, and its title."""
    found: dict[str, dict[str, Any]] = page.evaluate(
        """(() => {
          const out = {};
          document.querySelectorAll('.waterfall .row[data-span-id]').forEach(row => {
            const bar = row.querySelector('.lane .bar');
            if (!bar) return;
            const r = bar.getBoundingClientRect();
            out[row.dataset.spanId] = {left: r.left, width: r.width, title: bar.title,
                                       tags: Array.from(row.querySelectorAll('.tag.cost'),
                                                        t => t.textContent)};
          });
          return out;
        })()"""
    )
    return found


def show(page: Page, view: str) -> None:
    page.click(f"button[data-view={view}]")
    assert page.evaluate("document.querySelector('.waterfall').dataset.view") == view


def run_agent(exporter: InMemorySpanExporter) -> list[Span]:
    """A step that maps over a short question and a long document: the long one costs more
    (more input tokens, a longer answer allowed)."""
    with AnthropicStandIn() as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)

        @parallel(max_concurrency=2)
        async def summarize(doc: str) -> str:
            out = 200 if len(doc) > 1000 else 10
            m = await client.messages.create(
                model=MODEL, max_tokens=out, messages=[{"role": "user", "content": doc}]
            )
            return m.content[0].text  # type: ignore[union-attr]

        @traced
        async def research() -> list[str]:
            long = " ".join(WORDS[i % len(WORDS)] for i in range(3000))
            return await summarize.map(["What is the quarter's margin?", long])

        async def run() -> None:
            async with client:
                await research()

        asyncio.run(run())
    return from_readable_spans(exporter.get_finished_spans())


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    with instrumented_anthropic():
        yield


def test_the_cost_view_draws_a_costlier_branch_wider(
    exporter: InMemorySpanExporter, browser: Browser, tmp_path: Path
) -> None:
    spans = run_agent(exporter)
    doc = analyze(spans).to_dict()
    page_text = html.render(doc, spans)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page_text)
    assert policy is not None and "unsafe-inline" not in policy.group(1)
    assert "'sha256-" in policy.group(1) and " style=" not in page_text
    path = tmp_path / "report.html"
    path.write_text(page_text)
    page = open_page(browser, path)

    branches = sorted(
        (s for s in spans if s.attributes.get(A.ROLE) == A.ROLE_BRANCH),
        key=lambda s: s.attributes[A.BRANCH_INDEX],
    )
    cost = {
        b.span_id: sum(
            s.attributes[A.COST_AMOUNT]
            for s in spans
            if s.parent_id == b.span_id and A.COST_AMOUNT in s.attributes
        )
        for b in branches
    }
    short, long = (b.span_id for b in branches)
    assert cost[long] > 2 * cost[short] > 0  # what makes one branch costlier is real usage
    fanout = next(s.span_id for s in spans if s.attributes.get(A.ROLE) == A.ROLE_FANOUT)

    timed = bars(page)
    assert page.evaluate("document.querySelector('.waterfall').dataset.view") == "time"
    show(page, "cost")
    priced = bars(page)
    # widths by cost: the costlier branch wider, by the ratio of what their calls cost
    assert priced[long]["width"] > priced[short]["width"]
    ratio = priced[long]["width"] / priced[short]["width"]
    assert ratio == pytest.approx(cost[long] / cost[short], rel=0.05, abs=0.5)
    # side by side within their fan-out's bar, which is as wide as both
    lane = priced[fanout]
    assert priced[fanout]["width"] == pytest.approx(
        priced[short]["width"] + priced[long]["width"], abs=1.5
    )
    assert priced[short]["left"] == pytest.approx(lane["left"], abs=1)
    assert priced[long]["left"] == pytest.approx(lane["left"] + priced[short]["width"], abs=1.5)
    assert "of the trace's cost" in priced[long]["title"]
    # cost per branch: each branch row carries its amount
    assert priced[long]["tags"] and priced[short]["tags"]
    ticks = page.evaluate("Array.from(document.querySelectorAll('.tick'), t => t.textContent)")
    assert ticks[0] == "$0" and ticks[-1].startswith("$")
    show(page, "time")
    assert bars(page)[long]["width"] == pytest.approx(timed[long]["width"], abs=0.5)
    assert page.problems() == []  # no CSP violation, no script error
    assert page.requests() == [path.as_uri()]


def test_an_unpriced_call_is_not_drawn_as_free(browser: Browser, tmp_path: Path) -> None:
    step = span("agent", 0, 100, fanscope__role="step")
    fanout = span("map f", 0, 100, step, fanscope__role="fanout", fanscope__kind="map")
    spans = [step, fanout]
    for i, amounts in enumerate([[0.2], [0.1, None]]):
        b = span("f", 0, 90, fanout, fanscope__role="branch", fanscope__branch__index=i)
        b.attributes[A.BRANCH_OUTCOME] = A.OUTCOME_OK
        spans.append(b)
        for usd in amounts:
            call = span("chat m", 0, 50, b, gen_ai__operation__name="chat")
            if usd is not None:
                call.attributes[A.COST_AMOUNT] = usd
            spans.append(call)
    path = tmp_path / "report.html"
    path.write_text(html.render(analyze(spans).to_dict(), spans))
    page = open_page(browser, path)
    show(page, "cost")
    drawn = bars(page)
    first, second = (s.span_id for s in spans if s.attributes.get(A.ROLE) == A.ROLE_BRANCH)
    assert drawn[first]["width"] == pytest.approx(2 * drawn[second]["width"], rel=0.02)
    assert drawn[second]["title"].startswith("f: at least $0.10 (33% of the trace's cost; 1 call")
    assert page.problems() == []


def test_a_trace_without_model_calls_has_no_cost_toggle(browser: Browser, tmp_path: Path) -> None:
    spans = [span("agent", 0, 100, fanscope__role="step")]
    path = tmp_path / "report.html"
    path.write_text(html.render(analyze(spans).to_dict(), spans))
    page = open_page(browser, path)
    assert page.evaluate("document.querySelectorAll('button[data-view]').length") == 0


def test_budgets_show_as_text_with_their_tags(browser: Browser, tmp_path: Path) -> None:
    from tests.analysis.test_budget_report import nested

    evil = '<img src=x onerror="window.__pwned=1">'
    spans = nested(evil, evil)
    path = tmp_path / "report.html"
    path.write_text(html.render(analyze(spans).to_dict(), spans))
    page = open_page(browser, path)
    said = page.evaluate(
        "Array.from(document.querySelectorAll('ul.budgets li'), n => n.textContent)"
    )
    assert said == [
        f"budget '{evil}' on agent: stopped by the budget after 950 of 1,000 tokens "
        "(95%; 1 call refused)",
        f"budget '{evil}' on map f: stopped by the budget after $0.48 of $0.50 "
        "(96%; 2 calls refused)",
    ]
    tags = page.evaluate("Array.from(document.querySelectorAll('.tag.budget'), n => n.textContent)")
    assert sorted(tags) == ["budget 95% used, 1 refused", "budget 96% used, 2 refused"]
    assert page.evaluate("document.querySelectorAll('.tag.refused').length") == 3
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("window.__pwned") is None
    assert page.problems() == []


def test_each_budget_that_ended_on_a_span_has_its_tag(browser: Browser, tmp_path: Path) -> None:
    step = span("agent", 0, 100, fanscope__role="step")
    for at, spent in ((40, 0.3), (90, 0.1)):  # two with blocks, one after the other
        record = {"name": "company", "limit_usd": 0.5, "spent_usd": spent, "refused": 0}
        ended = {f"fanscope.budget.{k}": v for k, v in record.items()}
        step.events.append((step.start + at * 1_000_000, A.EVENT_BUDGET_ENDED, ended))
    path = tmp_path / "report.html"
    path.write_text(html.render(analyze([step]).to_dict(), [step]))
    page = open_page(browser, path)
    tags = page.evaluate("Array.from(document.querySelectorAll('.tag.budget'), n => n.textContent)")
    assert tags == ["budget 60% used", "budget 20% used"]
