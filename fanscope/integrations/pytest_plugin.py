"""The fanscope pytest plugin: capture a test's spans, assert on where its time went.

Registered through the ``pytest11`` entry point; inert unless a test uses it.

Fixture ``fanscope_trace``: every fanscope span made during the test (and GenAI spans the
Anthropic instrumentation makes itself) goes to an in-memory exporter of the test's own, isolated
from other tests and from any provider the project configured::

    async def test_lookups_run_together(fanscope_trace):
        await research("ACME")
        fanscope_trace.assert_concurrent("news", "filings", "prices", "db")
        fanscope_trace.assert_nothing_parallelizable()
        assert fanscope_trace.report().whatif < 1.0

Marker ``fanscope`` with thresholds; the test fails with the critical path explained::

    @pytest.mark.fanscope(max_critical_path="2s", max_parallelizable="20%", max_straggler=3)
    async def test_agent_is_fast_enough(): ...

Fixture ``anthropic_stand_in``: the local stand-in for the Messages API, started for the test
and stopped after it (``anthropic_stand_in.url``, ``.stats``, ``.latency``...).

Option ``--fanscope-report=DIR`` (ini ``fanscope_report``): writes each capturing test's trace
file (OTLP JSON lines) and HTML report, and ``summary.md`` for the whole run (works with
pytest-xdist: every worker writes its tests, the controller the summary).

Spans the ``anthropic`` SDK makes itself use OpenTelemetry's global provider and are not
captured; in tests, turn the SDK's own telemetry off (``open_telemetry=False``): the
instrumentation then makes the GenAI span through fanscope, into the capture.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MARKER = "fanscope"
FIXTURE = "fanscope_trace"


@dataclass
class Capture:
    """The spans of one test and what the analyzer makes of them."""

    nodeid: str
    exporter: Any = None
    provider: Any = None
    _report: Any = field(default=None, repr=False)

    def finished_spans(self) -> list[Any]:
        """The OpenTelemetry ``ReadableSpan`` objects captured so far."""
        return list(self.exporter.get_finished_spans())

    @property
    def spans(self) -> list[Any]:
        """The captured spans as the analyzer reads them (:class:`fanscope.analysis.model.Span`)."""
        from fanscope.analysis import from_readable_spans

        return from_readable_spans(self.finished_spans())

    def report(self) -> Any:
        """The analysis of the captured trace (the last one, when the test made several)."""
        from fanscope.analysis import analyze

        traces = analyze(self.spans).traces
        if not traces:
            raise AssertionError("fanscope captured no spans in this test")
        return max(traces, key=lambda t: t.start)

    def report_dict(self) -> dict[str, Any]:
        from fanscope.analysis import analyze

        return analyze(self.spans, sources=[self.nodeid]).to_dict()

    def critical_path(self) -> list[str]:
        """Names of the spans on the critical path, in time order, repeats merged."""
        names: list[str] = []
        for segment in self.report().critical_path:
            if segment["duration"] > 0 and (not names or names[-1] != segment["name"]):
                names.append(segment["name"])
        return names

    def fanouts(self) -> list[dict[str, Any]]:
        """Each fan-out's statistics, with its slowest branch."""
        return list(self.report().fanouts)

    def opportunities(self) -> list[dict[str, Any]]:
        """Sequential calls that could have run together (empty when none)."""
        return list(self.report().opportunities)

    def assert_concurrent(self, *names: str) -> None:
        """Assert that spans with these names (branch names too) all overlapped in time."""
        found = {}
        for span in self.spans:
            label = span.attributes.get("fanscope.branch.name") or span.name
            for name in names:
                if name in (label, span.name) and name not in found:
                    found[name] = span
        missing = [n for n in names if n not in found]
        if missing:
            raise AssertionError(f"no span named {', '.join(missing)} was captured")
        latest_start = max(s.start for s in found.values())
        earliest_end = min(s.end for s in found.values())
        if latest_start >= earliest_end:
            timeline = ", ".join(
                f"{n} {(s.start - latest_start) / 1e6:+.1f}..{(s.end - latest_start) / 1e6:+.1f} ms"
                for n, s in found.items()
            )
            raise AssertionError(f"{', '.join(names)} did not all run at the same time: {timeline}")

    def assert_nothing_parallelizable(self) -> None:
        """Assert the analyzer found no sequential calls that could have run together."""
        found = self.opportunities()
        if found:
            from fanscope.analysis.report.text import opportunity_sentence

            lines = "; ".join(
                f"{opportunity_sentence(o)} (saves {o['saving']:.3f}s)" for o in found
            )
            raise AssertionError(f"these calls could have run in parallel: {lines}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fanscope", "fanscope: critical-path reports of fan-outs")
    group.addoption(
        "--fanscope-report",
        metavar="DIR",
        default=None,
        help="write each capturing test's trace file and HTML report, and summary.md, to DIR",
    )
    parser.addini("fanscope_report", "directory for --fanscope-report", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fanscope(max_critical_path=None, max_parallelizable=None, max_straggler=None, "
        "max_queue_wait=None): capture the test's spans and fail when a threshold is crossed",
    )


def _report_dir(config: pytest.Config) -> Path | None:
    value = config.getoption("--fanscope-report") or config.getini("fanscope_report")
    return Path(str(value)) if value else None


@pytest.fixture(autouse=True)
def _fanscope_marked(request: pytest.FixtureRequest) -> None:
    """A test marked ``@pytest.mark.fanscope`` is captured without asking for the fixture."""
    if request.node.get_closest_marker(MARKER) is not None:
        request.getfixturevalue(FIXTURE)


@pytest.fixture
def fanscope_trace(request: pytest.FixtureRequest) -> Iterator[Capture]:
    """The spans of this test, captured in memory, with the analyzer's view of them."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from fanscope.sdk.tracing import capture

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    result = Capture(request.node.nodeid, exporter, provider)
    request.node.stash[_KEY] = result
    with capture(provider):
        yield result
    provider.shutdown()


_KEY = pytest.StashKey[Capture]()


@pytest.fixture
def anthropic_stand_in() -> Iterator[Any]:
    """The local stand-in for the Anthropic Messages API on 127.0.0.1, for this test.

    Give the client its URL: ``anthropic.AsyncAnthropic(base_url=anthropic_stand_in.url,
    api_key="test")``; set latency, error shares and read counters on the object
    (:class:`fanscope.testing.anthropic_server.AnthropicStandIn`).
    """
    from fanscope.testing.anthropic_server import AnthropicStandIn

    with AnthropicStandIn() as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    outcome = yield  # raises when the test failed: then the thresholds are not checked
    marker = item.get_closest_marker(MARKER)
    result = item.stash.get(_KEY, None)
    if marker is None or result is None:
        return outcome
    from fanscope.analysis import gates as gate_mod
    from fanscope.analysis.report import text

    gates = gate_mod.gates_from_options(
        [],
        *(None if marker.kwargs.get(k) is None else str(marker.kwargs[k])
          for k in ("max_critical_path", "max_parallelizable", "max_straggler", "max_queue_wait")),
    )  # fmt: skip
    report = result.report_dict()
    failed = gate_mod.evaluate(report, gates)
    if failed:
        explanation = text.render(report)
        pytest.fail("\n".join(failed) + "\n\n" + explanation, pytrace=False)
    return outcome


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


def pytest_runtest_teardown(item: pytest.Item) -> None:
    directory = _report_dir(item.config)
    result = item.stash.get(_KEY, None)
    if directory is None or result is None:
        return
    spans = result.finished_spans()
    if not spans:
        return
    from fanscope.analysis.report import html
    from fanscope.exporters.files import encode_request

    directory.mkdir(parents=True, exist_ok=True)
    name = _safe_name(item.nodeid)
    (directory / f"{name}.jsonl").write_text(json.dumps(encode_request(spans)) + "\n")
    report = result.report_dict()
    (directory / f"{name}.html").write_text(html.render(report, result.spans))
    worker = getattr(item.config, "workerinput", {}).get("workerid", "main")
    results = directory / ".results"
    results.mkdir(exist_ok=True)
    trace = max(report["traces"], key=lambda t: t["start"]) if report["traces"] else None
    if trace is not None:
        row = {
            "test": item.nodeid,
            "file": name,
            "duration": trace["duration"],
            "whatif": trace["whatif"],
            "parallelizable": trace["parallelizable_share"],
            "queue_wait": trace["queue_wait_share"],
            "straggler": trace["straggler_ratio"],
        }
        with open(results / f"{worker}.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")


def pytest_sessionstart(session: pytest.Session) -> None:
    directory = _report_dir(session.config)
    if directory is not None and not hasattr(session.config, "workerinput"):
        for old in (directory / ".results").glob("*.jsonl"):
            old.unlink()


def pytest_sessionfinish(session: pytest.Session) -> None:
    directory = _report_dir(session.config)
    if directory is None or hasattr(session.config, "workerinput"):
        return  # xdist workers leave the summary to the controller
    rows: list[dict[str, Any]] = []
    for part in sorted((directory / ".results").glob("*.jsonl")):
        rows.extend(json.loads(line) for line in part.read_text().splitlines() if line.strip())
    if not rows:
        return
    from fanscope.analysis.report.text import seconds, share

    lines = [
        "## fanscope: critical paths of this test run",
        "",
        "| test | total | what-if | parallelizable | waiting behind caps | worst straggler |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: -r["duration"]):
        lines.append(
            f"| `{r['test']}` | {seconds(r['duration'])} | {seconds(r['whatif'])} | "
            f"{share(r['parallelizable'])} | {share(r['queue_wait'])} | {r['straggler']:.1f}x |"
        )
    lines.append("")
    lines.append(f"Trace files and HTML reports: `{directory}/<test>.jsonl` and `.html`.")
    (directory / "summary.md").write_text("\n".join(lines) + "\n")
