"""The HTML report in a real headless Chromium: loads clean, shows the analyzer's critical
path, escapes what comes from traces, and stays light at 10,000 spans.

Chromium comes from Debian's ``chromium`` package (``.ci/run`` installs it and sets
``FANSCOPE_REQUIRE_BROWSER=1`` so that these tests fail rather than skip in CI). Screenshots
go to ``$FANSCOPE_ARTIFACTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import parallel, traced
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.convert import to_otlp_lines
from fanscope.analysis.report import html
from tests.analysis.builders import span

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
]  # fmt: skip

if CHROMIUM is None:
    if os.environ.get("FANSCOPE_REQUIRE_BROWSER") == "1":
        raise RuntimeError("chromium is required here: apt-get install chromium")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

EVIL = "<script>window.__pwned=1</script>"


def browse(page: Path, tmp: Path, *extra: str) -> tuple[str, str]:
    """Load ``page`` in headless Chromium; return (the DOM after scripts ran, console log)."""
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    profile.mkdir()
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def console_problems(log: str) -> list[str]:
    return [
        line for line in log.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "Error" in line or ":ERROR:" in line)
    ]  # fmt: skip


def artifacts(tmp: Path) -> Path:
    where = Path(os.environ.get("FANSCOPE_ARTIFACTS", tmp))
    where.mkdir(parents=True, exist_ok=True)
    return where


async def test_the_report_of_a_real_run_loads_clean_and_shows_the_analyzers_path(
    exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    @parallel(max_concurrency=2)
    async def fetch(i: int) -> str:
        await asyncio.sleep(0.002 * (i + 1))
        return f"document {i} says the quarter went well for the company"

    @traced(name=EVIL)
    async def hostile(text: str) -> str:
        return text

    @traced
    async def agent() -> str:
        docs = await fetch.map(range(5))
        first = await fetch(7)
        return await hostile(first + docs[0])

    await agent()
    spans = from_readable_spans(exporter.get_finished_spans())
    report = analyze(spans).to_dict()
    page = tmp_path / "report.html"
    page.write_text(html.render(report, spans))
    shot = artifacts(tmp_path) / "report.png"
    dom, log = browse(page, tmp_path, "--dump-dom")
    browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1400,1000")

    assert console_problems(log) == []
    assert 'data-ready="1"' in dom  # the script ran to the end
    listed = re.findall(r'<li data-span-id="([0-9a-f]*)">', dom)
    (trace,) = report["traces"]
    expected = [s["span_id"] for s in trace["critical_path"] if s["duration"] > 0]
    assert listed == expected
    assert "slowest" in dom  # the fan-out's slowest branch is marked
    # untrusted names show as text and never run
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in dom
    assert EVIL not in dom
    assert shot.stat().st_size > 10_000


def test_ten_thousand_spans_load_and_only_visible_rows_are_drawn(tmp_path: Path) -> None:
    root = span("agent", 0, 10_000)
    children = [span(f"call {i}", i, i + 1, root, fanscope__role="step") for i in range(9_999)]
    page = tmp_path / "big.html"
    trace_file = tmp_path / "big.jsonl"
    trace_file.write_text("\n".join(to_otlp_lines([root, *children])) + "\n")
    from fanscope.cli import main

    assert main(["analyze", str(trace_file), "--html", str(page)]) == 0
    size = page.stat().st_size
    dom, log = browse(page, tmp_path, "--dump-dom")
    assert console_problems(log) == []
    assert 'data-rows="10000"' in dom and 'data-ready="1"' in dom
    drawn = dom.count('class="row')
    assert 0 < drawn < 200, drawn
    assert size < 5_000_000
