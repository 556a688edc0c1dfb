"""The HTML report in a real headless Chromium, driven over the DevTools protocol.

The page loads without console errors or network requests, draws the analyzer's critical path,
slowest branches and waits in line, escapes what comes from traces, shows a row's details on
a real mouse click, and opens a 10,000-span trace drawing only the rows in view.

Chromium comes from Debian's ``chromium`` package. ``.ci/run`` installs it and sets
``FANSCOPE_REQUIRE_BROWSER=1``, so that in CI these tests fail rather than skip when it is
missing. Screenshots go to ``$FANSCOPE_ARTIFACTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import parallel, traced
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.convert import to_otlp_lines
from fanscope.analysis.report import html
from fanscope.analysis.report.text import seconds
from fanscope.cli import main
from tests.analysis.builders import span
from tests.analysis.chromium import Browser, Page, artifacts_dir, chromium_or_skip

CHROMIUM = chromium_or_skip()

EVIL = "<script>window.__pwned=1</script>"
EVIL_ATTRIBUTE = '"><img src=x onerror="window.__pwned=2">'


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


LOAD_MS = "performance.getEntriesByType('navigation')[0].loadEventEnd"


def open_page(browser: Browser, path: Path) -> Page:
    page = browser.new_page()
    page.open(path.as_uri())
    assert page.evaluate("document.body.dataset.ready") == "1"  # the script ran to the end
    return page


def ids(page: Page, selector: str) -> list[str]:
    return list(
        page.evaluate(f"Array.from(document.querySelectorAll({selector!r}), n => n.dataset.spanId)")
    )


def scrolled_ids(page: Page, selector: str) -> set[str]:
    """``ids`` over the whole waterfall, scrolling it a screen at a time (rows are virtual)."""
    return set(
        page.evaluate(
            f"""(() => {{
          const box = document.querySelector('.waterfall'), found = new Set();
          for (let top = 0; ; top += box.clientHeight) {{
            box.scrollTop = top; box.dispatchEvent(new Event('scroll'));
            box.querySelectorAll({selector!r}).forEach(n => found.add(n.dataset.spanId));
            if (top >= box.scrollHeight) break;
          }}
          box.scrollTop = 0; box.dispatchEvent(new Event('scroll'));
          return Array.from(found);
        }})()"""
        )
    )


def test_the_browser_harness_sees_console_errors_exceptions_and_requests(
    browser: Browser, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<img src="http://127.0.0.1:9/pixel.png"><script>console.error("from the page");'
        'throw new TypeError("broken page")</script>'
    )
    page = browser.new_page()
    page.open(bad.as_uri())
    problems = page.problems()
    assert "console.error: from the page" in problems
    assert any("uncaught: TypeError: broken page" in p for p in problems)
    assert "http://127.0.0.1:9/pixel.png" in page.requests()


async def test_a_real_runs_report_loads_clean_and_draws_what_the_analyzer_computed(
    exporter: InMemorySpanExporter, browser: Browser, tmp_path: Path
) -> None:
    @parallel(max_concurrency=2)
    async def fetch(i: int) -> str:
        await asyncio.sleep(0.004 * (i + 1))
        return f"document {i} says the quarter went well for the company"

    @traced(name=EVIL)
    async def hostile(text: str) -> str:
        trace.get_current_span().set_attribute("note", EVIL_ATTRIBUTE)
        return text[:10]

    @traced
    async def lookup(source: str) -> str:
        await asyncio.sleep(0.01)
        return f"{source} reports strong demand and rising margins"

    @traced
    async def agent() -> str:
        docs = await fetch.map(range(5))
        news, prices = await lookup("news"), await lookup("prices")  # independent, in a row
        return await hostile(news) + prices + docs[0]

    await agent()
    spans = from_readable_spans(exporter.get_finished_spans())
    report = analyze(spans).to_dict()
    (t,) = report["traces"]
    path = tmp_path / "report.html"
    path.write_text(html.render(report, spans))
    page = open_page(browser, path)

    assert page.problems() == []
    assert page.requests() == [path.as_uri()]  # self-contained: nothing else was fetched
    on_path = [s["span_id"] for s in t["critical_path"] if s["duration"] > 0]
    assert ids(page, "ol.critical-path li") == on_path
    assert set(ids(page, ".waterfall .row.critical")) == set(on_path)
    (fanout,) = t["fanouts"]
    assert ids(page, ".row:has(.tag.slow)") == [fanout["slowest_span_id"]]
    waited = [s.span_id for s in spans if s.attributes.get("fanscope.queue.wait_s", 0) > 0]
    assert len(waited) == 3  # five branches under a cap of two
    assert sorted(ids(page, ".row:has(.wait)")) == sorted(waited)
    (opportunity,) = t["opportunities"]
    (group,) = opportunity["run_together"]
    assert [s["name"] for s in group] == ["map fetch", "lookup", "lookup"]
    first = min(s["start"] for s in group)
    later = [s["span_id"] for s in group if s["start"] > first]
    assert len(later) == 2 and sorted(ids(page, ".row:has(.seqwait)")) == sorted(later)
    saving = page.evaluate("document.querySelector('.tag.seq').textContent")
    assert saving == f"saves {seconds(opportunity['saving'])}"

    # untrusted names and attributes show as text and never run
    hostile_id = next(s.span_id for s in spans if s.name == EVIL)
    row = f'.row[data-span-id="{hostile_id}"]'
    assert page.evaluate(f"document.querySelector('{row} .name').textContent") == EVIL
    bar = page.evaluate(f"document.querySelector('{row} .bar').title")
    assert bar.startswith(EVIL + ": ")  # the hover text: name, duration, start
    page.click(f"{row} .name")
    details = page.evaluate("document.querySelector('.details').textContent")
    assert details.startswith(EVIL + "\n")
    assert f"note = {json.dumps(EVIL_ATTRIBUTE)}" in details
    assert page.evaluate("document.querySelector('.details').children.length") == 0
    assert page.evaluate("[window.__pwned, document.scripts.length, document.images.length]") == [
        None,
        2,
        0,
    ]
    shot = artifacts_dir(tmp_path) / "report.png"
    page.screenshot(shot)
    assert shot.stat().st_size > 10_000
    assert page.problems() == []


async def ten_thousand_spans() -> list[Any]:
    """A real run: two fan-outs of 5,000 and 4,995 branches under a cap of 50."""
    from fanscope.analysis.readers import from_readable_spans as convert

    exporter = InMemorySpanExporter()
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from fanscope.sdk.tracing import use_tracer_provider

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    @parallel(max_concurrency=50)
    async def work(i: int) -> int:
        await asyncio.sleep(0.0005 if i == 77 else 0)  # one straggler
        return i

    @traced
    async def batch() -> None:
        await work.map(range(5000))
        await work.map(range(4995))

    with use_tracer_provider(provider):
        await batch()
    finished = exporter.get_finished_spans()
    assert len(finished) == 10_000
    return list(convert(finished))


async def test_ten_thousand_spans_open_folded_and_draw_only_the_rows_in_view(
    browser: Browser, tmp_path: Path
) -> None:
    spans = await ten_thousand_spans()
    trace_file = tmp_path / "big.jsonl"
    trace_file.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    path = tmp_path / "big.html"
    assert main(["analyze", str(trace_file), "--html", str(path)]) == 0
    assert path.stat().st_size < 8_000_000

    page = open_page(browser, path)
    assert page.problems() == []
    assert page.evaluate("document.querySelector('.waterfall').dataset.rows") == "10000"
    # both fan-outs start folded: the root, two fan-outs, their fan-ins, the branches on
    # the critical path or slowest, and one summary row each
    (t,) = analyze(spans).to_dict()["traces"]
    branches = {s.span_id for s in spans if s.attributes.get("fanscope.role") == "branch"}
    shown = {s["span_id"] for s in t["critical_path"] if s["duration"] > 0}
    shown |= {f["slowest_span_id"] for f in t["fanouts"]}
    folded = int(page.evaluate("document.querySelector('.waterfall').dataset.visible"))
    assert folded == 1 + 2 + 2 + len(shown & branches) + 2 < 1000
    assert page.evaluate("document.querySelector('.waterfall').dataset.folded") == "2"
    assert scrolled_ids(page, ".row:has(.tag.slow)") == {f["slowest_span_id"] for f in t["fanouts"]}
    assert scrolled_ids(page, ".row.critical") == {s["span_id"] for s in t["critical_path"]
                                                   if s["duration"] > 0}  # fmt: skip

    page.click(".row.more")  # unfold the first fan-out
    unfolded = int(page.evaluate("document.querySelector('.waterfall').dataset.visible"))
    assert unfolded > 5000
    page.evaluate(
        "(() => { const w = document.querySelector('.waterfall'); w.scrollTop = w.scrollHeight;"
        " w.dispatchEvent(new Event('scroll')); })()"
    )
    assert 0 < page.evaluate("document.querySelectorAll('.row').length") < 200
    page.screenshot(artifacts_dir(tmp_path) / "report-10k.png")
    load_ms = page.evaluate(LOAD_MS)
    assert page.problems() == []
    # against a 21-span report loaded in the same browser now (so that load on the machine
    # moves both): about 10 times as long here; a page that draws every row takes minutes
    reference = tmp_path / "small.jsonl"
    root = span("agent", 0, 30)
    small = [root, *(span(f"call {i}", i, i + 1, root, fanscope__role="step") for i in range(20))]
    reference.write_text("\n".join(to_otlp_lines(small)) + "\n")
    assert main(["analyze", str(reference), "--html", str(tmp_path / "small.html")]) == 0
    small_ms = max(open_page(browser, tmp_path / "small.html").evaluate(LOAD_MS) for _ in range(2))
    assert load_ms < 100 * max(small_ms, 1.0), (load_ms, small_ms)


def test_ten_thousand_sequential_steps_draw_only_the_rows_in_view(
    browser: Browser, tmp_path: Path
) -> None:
    root = span("agent", 0, 10_000)
    children = [span(f"call {i}", i, i + 1, root, fanscope__role="step") for i in range(9_999)]
    trace_file = tmp_path / "steps.jsonl"
    trace_file.write_text(
        "\n".join(to_otlp_lines([root, *children])) + "\n",
    )
    path = tmp_path / "steps.html"
    assert main(["analyze", str(trace_file), "--html", str(path)]) == 0

    page = open_page(browser, path)
    assert page.problems() == []
    assert page.evaluate("document.querySelector('.waterfall').dataset.visible") == "10000"
    assert 0 < page.evaluate("document.querySelectorAll('.row').length") < 200
    assert len(ids(page, "ol.critical-path li")) == 10_000


def fanned_out(branches: int, fanouts: int = 2, cap: int = 50) -> list[Any]:
    """A trace of ``fanouts`` fan-outs of ``branches`` branches each, under a cap (built, so
    that a 50,000-span page costs seconds to make, not a minute of SDK run)."""
    tid = f"{branches:032x}"
    root = span("batch", 0, fanouts * branches, trace=tid, fanscope__role="step")
    out = [root]
    for k in range(fanouts):
        base = k * branches
        fan = span("map work", base, base + branches, root, trace=tid, fanscope__role="fanout",
                   fanscope__kind="map", fanscope__fanout__max_concurrency=cap)  # fmt: skip
        out.append(fan)
        for i in range(branches - 1):
            start = base + (i // cap) * cap
            out.append(
                span(
                    "work",
                    start,
                    start + cap * 0.9,
                    fan,
                    trace=tid,
                    fanscope__role="branch",
                    fanscope__branch__index=i,
                    fanscope__queue__wait_s=(start - base) / 1000,
                )
            )
        out.append(span("fan-in work", base + branches - 1, base + branches, fan, trace=tid,
                        fanscope__role="fanin"))  # fmt: skip
    return out


def load_ms(browser: Browser, path: Path) -> float:
    page = open_page(browser, path)
    assert page.problems() == []
    value = float(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
    page.call("Page.close")
    return value


def test_fifty_thousand_spans_load_in_linear_time_of_ten_thousand(
    browser: Browser, tmp_path: Path
) -> None:
    """The page stays linear: 50,000 spans load in at most 10x the time of 10,000 (5x is
    linear; a quadratic step would be 25x), both measured here, interleaved, median of 3."""
    pages, counts = {}, {}
    for size in (10_000, 50_000):
        spans = fanned_out(size // 2)
        counts[size] = len(spans)  # the size, and the root and two fan-ins
        trace_file = tmp_path / f"spans-{size}.jsonl"
        trace_file.write_text("\n".join(to_otlp_lines(spans)) + "\n")
        pages[size] = tmp_path / f"spans-{size}.html"
        assert main(["analyze", str(trace_file), "--html", str(pages[size])]) == 0
    times: dict[int, list[float]] = {10_000: [], 50_000: []}
    for _ in range(3):
        for size, path in pages.items():
            times[size].append(load_ms(browser, path))
    small, big = (sorted(times[s])[1] for s in (10_000, 50_000))
    print(f"loadEventEnd: 10,000 spans {small:.0f} ms, 50,000 spans {big:.0f} ms "
          f"({big / small:.1f}x); page sizes {pages[10_000].stat().st_size / 1e6:.1f} MB, "
          f"{pages[50_000].stat().st_size / 1e6:.1f} MB")  # fmt: skip
    assert big < 10 * small, times

    page = open_page(browser, pages[50_000])
    assert page.evaluate("document.querySelector('.waterfall').dataset.rows") == str(counts[50_000])
    assert 0 < page.evaluate("document.querySelectorAll('.row').length") < 200
    page.click(".row.more")  # unfold 25,000 branches: still only the rows in view
    assert int(page.evaluate("document.querySelector('.waterfall').dataset.visible")) > 25_000
    assert 0 < page.evaluate("document.querySelectorAll('.row').length") < 200
    assert page.problems() == []


def box_height(page: Page) -> float:
    return float(
        page.evaluate("document.querySelector('.waterfall').getBoundingClientRect().height")
    )


def test_the_waterfall_is_as_tall_as_its_rows_up_to_the_window(
    browser: Browser, tmp_path: Path
) -> None:
    small = [span("agent", 0, 100, fanscope__role="step")]
    small += [span(f"call {i}", i * 10, i * 10 + 9, small[0], fanscope__role="step")
              for i in range(9)]  # fmt: skip
    big = [span("agent", 0, 3000, trace="b" * 32, fanscope__role="step")]
    big += [span(f"call {i}", i, i + 1, big[0], trace="b" * 32, fanscope__role="step")
            for i in range(2999)]  # fmt: skip
    for name, spans in (("small", small), ("big", big)):
        trace_file = tmp_path / f"{name}.jsonl"
        trace_file.write_text("\n".join(to_otlp_lines(spans)) + "\n")
        assert main(["analyze", str(trace_file), "--html", str(tmp_path / f"{name}.html")]) == 0

    page = browser.new_page()
    page.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
              deviceScaleFactor=1, mobile=False)  # fmt: skip
    page.open((tmp_path / "small.html").as_uri())
    rows = int(page.evaluate("document.querySelector('.waterfall').dataset.visible"))
    assert rows == 10
    assert rows * 20 <= box_height(page) <= rows * 20 + 4  # no empty panel under ten rows

    page.open((tmp_path / "big.html").as_uri())
    window = float(page.evaluate("window.innerHeight"))
    tall = box_height(page)
    assert window - 200 <= tall <= window  # the window's height, not a fixed 520 px
    page.call("Emulation.setDeviceMetricsOverride", width=1400, height=600,
              deviceScaleFactor=1, mobile=False)  # fmt: skip
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    short = box_height(page)
    assert short < tall and 600 - 200 <= short <= 600
    # after the resize the rows in view are drawn: scroll to the middle and find them there
    page.evaluate(
        "(() => { const w = document.querySelector('.waterfall'); w.scrollTop = 20 * 1500;"
        " w.dispatchEvent(new Event('scroll')); })()"
    )
    tops = page.evaluate(
        "Array.from(document.querySelectorAll('.waterfall .row'), n => parseFloat(n.style.top))"
    )
    assert min(tops) <= 20 * 1500 and max(tops) >= 20 * 1500 + short - 20
    assert page.problems() == []


async def test_the_page_says_what_the_terminal_says(
    exporter: InMemorySpanExporter, browser: Browser, tmp_path: Path
) -> None:
    """Who held branches in line, retries split, a vote's cancelled voters and early stop, and
    a span whose calls are not traced: the same sentences as the terminal, as text."""
    from fanscope import Retry, vote
    from fanscope.analysis.report import words

    class Busy(Exception):
        retry_after = 0.02

    tries: dict[int, int] = {}

    @parallel(max_concurrency=2, retry=Retry(attempts=2, initial=0.001, retry_on=(Busy,)))
    async def fetch(i: int) -> int:
        tries[i] = tries.get(i, 0) + 1
        await asyncio.sleep(0.01)
        if i == 0 and tries[i] == 1:
            raise Busy()
        return i

    calls = iter(range(10))

    @vote(n=4, quorum=2)
    async def agree(x: int) -> int:
        await asyncio.sleep(0.01 if next(calls) < 2 else 3.0)
        return 1

    @traced
    async def agent() -> None:
        await fetch.map(range(5))
        await agree(1)

    async def helper() -> None:
        await asyncio.sleep(0.03)

    @traced
    async def opaque() -> None:
        await helper()

    await agent()
    await opaque()
    spans = from_readable_spans(exporter.get_finished_spans())
    report = analyze(spans).to_dict()
    path = tmp_path / "said.html"
    path.write_text(html.render(report, spans))
    page = open_page(browser, path)
    assert page.problems() == []
    agent_t = next(t for t in report["traces"] if t["root"] == "agent")
    opaque_t = next(t for t in report["traces"] if t["root"] == "opaque")

    def texts(selector: str, trace_id: str) -> list[str]:
        return list(
            page.evaluate(
                f'Array.from(document.querySelectorAll(\'section[data-trace-id="{trace_id}"] '
                f"{selector}'), n => n.textContent)"
            )
        )

    tid = agent_t["trace_id"]
    assert texts(".said.fanouts li", tid) == [words.fanout(f) for f in agent_t["fanouts"]]
    vote_doc = next(f for f in agent_t["fanouts"] if f["kind"] == "vote")
    assert vote_doc["cancelled"] == 2 and "early stop: 2 voters cancelled" in words.fanout(vote_doc)
    assert texts(".said.queue-waits li", tid) == [
        words.queue_wait(w) for w in agent_t["queue_waits"]
    ]
    assert texts(".said.retries li", tid) == [words.retried(r) for r in agent_t["retries"]]
    assert (
        len(agent_t["retries"]) == 1
        and "retry-after asked for" in texts(".said.retries li", tid)[0]
    )
    cancelled = [
        s.span_id for s in spans if s.attributes.get("fanscope.branch.outcome") == "cancelled"
    ]
    assert sorted(scrolled_ids(page, ".row:has(.tag.cancelled)")) == sorted(cancelled)
    assert not set(cancelled) & scrolled_ids(page, ".row:has(.tag.slow)")
    (u,) = opaque_t["untraced"]
    assert texts(".note.untraced", opaque_t["trace_id"]) == ["Not traced: " + words.untraced(u)]
    assert texts(".waiting li", opaque_t["trace_id"])[-1].endswith(
        "none visible (see 'Not traced' above)"
    )


def test_the_csp_allows_only_the_pages_own_script_and_style(
    browser: Browser, tmp_path: Path
) -> None:
    root = span("agent", 0, 10)
    page_text = html.render(analyze([root]).to_dict(), [root])
    assert "'unsafe-inline'" not in page_text and "'sha256-" in page_text
    # Markup that got into the page anyway (an escaping bug, a tampered file) does nothing:
    # neither an inline script, an event handler nor an inline style.
    injected = (
        "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 2'>"
        "<style>body { background: rgb(255, 0, 0) !important }</style>"
        '<p id="styled" style="color: rgb(0, 128, 0)">x</p>'
    )
    tampered = tmp_path / "tampered.html"
    tampered.write_text(
        page_text.replace('<div id="app"></div>', f'<div id="app"></div>{injected}')
    )
    page = open_page(browser, tampered)  # the page's own script still runs to the end
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") != (
        "rgb(0, 128, 0)"
    )
    assert any("Content Security Policy" in p for p in page.problems())
    # its own style applies (the hash matches): the page background is the stylesheet's
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(250, 251, 252)"


def test_an_adaptive_limit_is_said_under_waiting_in_line_and_its_name_stays_text(
    browser: Browser, tmp_path: Path
) -> None:
    from fanscope.sdk import attributes as A

    root = span("agent", 0, 100)
    for ms, old, new, why in [(10, 2, 4, "grow"), (60, 4, 3, "overload")]:
        attrs = {A.LIMIT_NAME: EVIL, A.LIMIT_OLD: old, A.LIMIT_NEW: new, A.LIMIT_REASON: why}
        root.events.append((ms * 1_000_000, A.EVENT_LIMIT, attrs))
    report = analyze([root])
    path = tmp_path / "limits.html"
    path.write_text(html.render(report.to_dict(), [root]))
    page = open_page(browser, path)
    said = page.evaluate("document.querySelector('.behind-caps .limits').textContent")
    assert said == f"limit '{EVIL}': converged to 3 (started at 2, ended at 3; 2-4); " + (
        "1 decrease (1 overload), 1 increase; below 3 for 10 ms (10% of the trace)"
    )
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.problems() == []


def marked_lines(*markers: str) -> list[int]:
    """The lines of this file that end with one of ``markers``."""
    text = Path(__file__).read_text(encoding="utf-8").splitlines()
    return [n for n, line in enumerate(text, 1) if line.endswith(markers)]


@traced
async def news_of(client: Any, q: str) -> str:
    reply = await client.messages.create(  # news call
        model="claude-haiku-5-5", max_tokens=20, messages=[{"role": "user", "content": q}]
    )
    return str(reply.content[0].text)


@traced
async def brief_of(client: Any, notes: str) -> str:
    reply = await client.messages.create(  # brief call
        model="claude-haiku-5-5", max_tokens=20, messages=[{"role": "user", "content": notes}]
    )
    return str(reply.content[0].text)


async def test_model_calls_are_labelled_by_the_line_that_made_them_with_the_model_aside(
    exporter: InMemorySpanExporter, browser: Browser, tmp_path: Path
) -> None:
    """Every model call's span is named ``chat MODEL``: the waterfall and the critical-path
    list name each by its call site and function, as the terminal names calls."""
    import anthropic

    from fanscope.integrations.anthropic import AnthropicInstrumentor
    from fanscope.testing.anthropic_server import AnthropicStandIn

    @traced
    async def agent(client: Any) -> str:
        return await brief_of(client, await news_of(client, "ACME news?"))

    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    try:
        with AnthropicStandIn(latency=0.005) as server:
            async with anthropic.AsyncAnthropic(base_url=server.url, api_key="k") as client:
                await agent(client)
    finally:
        instrumentor.uninstrument()
    spans = from_readable_spans(exporter.get_finished_spans())
    calls = sorted((s for s in spans if s.name == "chat claude-haiku-5-5"), key=lambda s: s.start)
    assert len(calls) == 2
    here = "tests/analysis/test_html_report.py"
    lines = marked_lines("# news call", "# brief call")
    labels = [f"{here}:{lines[0]} news_of", f"{here}:{lines[1]} brief_of"]
    report = analyze(spans).to_dict()
    path = tmp_path / "calls.html"
    path.write_text(html.render(report, spans))
    page = open_page(browser, path)
    assert page.problems() == []

    def shown(call: Any, part: str) -> str:
        row = f'.row[data-span-id="{call.span_id}"]'
        return str(page.evaluate(f"document.querySelector('{row} {part}').textContent"))

    assert [shown(c, ".name") for c in calls] == labels
    assert [shown(c, ".model") for c in calls] == ["claude-haiku-5-5"] * 2
    on_path = page.evaluate(
        "Array.from(document.querySelectorAll('ol.critical-path li'), n => n.textContent)"
    )
    for label in labels:  # the path names the calls alike, the span name aside
        assert any(t.startswith(f"{label} (chat claude-haiku-5-5)") for t in on_path), on_path
