"""The HTML report of a trace hostile in every field, opened in a real Chromium.

Every field the page shows holds markup, script or a bidi override (``test_hostile_traces``'s
trace), and the numbers it draws with are NaN or infinite: the page still loads to the end,
runs nothing of the trace's, fetches nothing, reports no problem, and shows the text as text.
Reproduction: a NaN attribute made the data element ``NaN``, which ``JSON.parse`` refuses, so
the page drew nothing at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from fanscope.analysis.convert import to_otlp_lines
from fanscope.cli import main
from tests.analysis.chromium import Browser, chromium_or_skip
from tests.chaos.test_hostile_traces import HOSTILE, TEXT_SLOTS, rich_trace

CHROMIUM = chromium_or_skip()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def test_a_trace_hostile_in_every_field_loads_inert_and_shows_its_text(
    browser: Browser, tmp_path: Path
) -> None:
    text = {slot: HOSTILE[5 + i % 5] for i, slot in enumerate(TEXT_SLOTS)}  # markup and script
    text["root"] = "<img src=x onerror=window.__pwned=1>"
    numbers = {"usd": math.nan, "wait": math.inf, "delay": -math.inf, "tokens": 2**70}
    spans = rich_trace(text, numbers)
    spans[0].attributes["ratio"] = math.nan
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    page_path = tmp_path / "report.html"
    assert main(["analyze", str(trace), "--html", str(page_path), "--format", "json"]) == 0
    page = browser.new_page()
    page.open(page_path.as_uri())
    assert page.evaluate("document.body.dataset.ready") == "1"  # the script ran to the end
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.problems() == []
    assert page.requests() == [page_path.as_uri()]  # no image, no script fetched
    shown = page.evaluate("document.body.textContent")
    assert "<img src=x onerror=window.__pwned=1>" in shown  # as text
    assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert page.evaluate("document.scripts.length") == 2  # the data and the page's own script
    # a model call is labelled by its site (hostile file and function) and model, as text
    label = f"{text['file']}:3 {text['function'].rpartition('.')[2]}"
    names = page.evaluate(
        "Array.from(document.querySelectorAll('.waterfall .row .name'), n => n.textContent)"
    )
    assert names.count(label) == 3, (label, names)  # the three branches' calls
    models = page.evaluate(
        "Array.from(document.querySelectorAll('.waterfall .row .model'), n => n.textContent)"
    )
    assert models == [text["model"]] * 3
