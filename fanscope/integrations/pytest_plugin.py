"""The fanscope pytest plugin: capture a test's spans, assert on where its time went.

Registered through the ``pytest11`` entry point (installing fanscope is enough); inert unless
a test asks for ``fanscope_trace``, carries the ``fanscope`` marker, or ``--fanscope-report``
is given.

Fixture ``fanscope_trace`` (a :class:`~fanscope.integrations.pytest_capture.Capture`): every
fanscope span made during the test (and the GenAI spans the Anthropic instrumentation makes
itself) goes to an in-memory exporter of the test's own, isolated from other tests and from
any provider the project configured::

    async def test_lookups_run_together(fanscope_trace):
        await research("ACME")
        fanscope_trace.assert_concurrent("news", "filings", "prices", "db")
        fanscope_trace.assert_nothing_parallelizable()
        assert fanscope_trace.critical_path() == ["research", "filings", "synthesize"]
        (fanout,) = fanscope_trace.fanouts()
        assert fanout["slowest_name"] == "filings"
        assert fanscope_trace.report().whatif < 1.0

``report()`` is the analyzer's :class:`~fanscope.analysis.TraceReport` of the test's last
trace (each top-level call outside any span starts a trace; ``traces()`` has them all);
``fanouts()`` and ``opportunities()`` are its dictionaries, as in ``docs/analysis.md``.

Marker ``fanscope`` with thresholds, the gates of ``fanscope analyze`` (``docs/analysis.md``);
the test is captured without asking for the fixture, and fails with the critical path
explained when a threshold is crossed by any of its traces, or when it made no spans (a bare
``@pytest.mark.fanscope`` only captures, for ``--fanscope-report``)::

    @pytest.mark.fanscope(max_critical_path="2s", max_parallelizable="20%", max_straggler=3)
    async def test_agent_is_fast_enough(): ...

    @pytest.mark.fanscope("queue_wait > 10%")      # any gate, as --fail-if writes it
    async def test_agent_does_not_queue(): ...

Option ``--fanscope-report=DIR`` (ini ``fanscope_report``, relative to the ini file): writes
each capturing test's trace file (``DIR/<test>.jsonl``, OTLP JSON lines) and HTML report
(``DIR/<test>.html``), and ``DIR/summary.md`` for the whole run, a Markdown table sized for
a CI step summary. Files the previous run wrote are removed first. With pytest-xdist every
worker writes its tests and the controller the summary.

Fixture ``anthropic_stand_in``: the local stand-in for the Messages API, started for the test
and stopped after it (``anthropic_stand_in.url``, ``.stats``, ``.latency``...).

Spans the ``anthropic`` SDK makes itself go to OpenTelemetry's global provider, not to the
capture; with a capture active, the Anthropic instrumentation makes each call's GenAI span
through fanscope instead, so the capture holds one per call whatever the SDK's setting.

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fanscope.integrations.pytest_capture import Capture

if TYPE_CHECKING:
    from fanscope.analysis.dependencies import Witnesses

MARKER = "fanscope"
FIXTURE = "fanscope_trace"
# the marker's keywords, in the order of gates_from_options' limits
THRESHOLDS = (
    "max_critical_path",
    "max_parallelizable",
    "max_straggler",
    "max_queue_wait",
    "max_cost",
    "max_total_cost",
    "max_budget_refused",
)
RESULTS = ".results"  # per-process JSON lines the summary is made from


# Options, ini key and marker -------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fanscope", "fanscope: critical-path reports of fan-outs")
    group.addoption(
        "--fanscope-report",
        metavar="DIR",
        default=None,
        help="write each capturing test's trace file and HTML report, and summary.md, to DIR",
    )
    parser.addini(
        "fanscope_report",
        "directory for the fanscope reports, relative to the ini file (as --fanscope-report)",
        default="",
    )
    group.addoption(
        "--fanscope-count-candidates",
        action="store_true",
        default=None,
        help="let candidate pairs (only one witness could look) count in savings and gates",
    )
    parser.addini(
        "fanscope_count_candidates",
        "count candidate pairs in savings and gates (as --fanscope-count-candidates)",
        type="bool",
        default=False,
    )


def _witnesses(config: pytest.Config) -> Witnesses:
    from fanscope.analysis.dependencies import Witnesses

    option = config.getoption("--fanscope-count-candidates")
    count = bool(option) if option is not None else bool(config.getini("fanscope_count_candidates"))
    # code.file.path is relative to the working directory of the run: read the source there
    return Witnesses(source_root=config.invocation_params.dir, count_candidates=count)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fanscope(*gates, max_critical_path=None, max_parallelizable=None, max_straggler=None, "
        "max_queue_wait=None, max_cost=None, max_total_cost=None, max_budget_refused=None): "
        "capture the test's spans and fail it when a threshold is crossed",
    )


def _report_dir(config: pytest.Config) -> Path | None:
    option = config.getoption("--fanscope-report")
    if option:
        return Path(config.invocation_params.dir, str(option))
    value = str(config.getini("fanscope_report"))
    if not value:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return Path(base, value)


_KEY = pytest.StashKey[Capture]()
_GATES = pytest.StashKey[list[Any]]()
_OUTCOME = pytest.StashKey[str]()


def _marker_gates(marker: pytest.Mark) -> list[Any]:
    """The marker's gates; a one-line failure naming the mistake when one cannot be read."""
    from fanscope.analysis.gates import gates_from_options
    from fanscope.errors import ConfigurationError

    unknown = sorted(set(marker.kwargs) - set(THRESHOLDS))
    if unknown:
        import difflib

        near = difflib.get_close_matches(unknown[0], THRESHOLDS, n=1)
        pytest.fail(
            f"@pytest.mark.fanscope: unknown threshold {', '.join(unknown)}; "
            f"use {', '.join(THRESHOLDS)}, or a gate string such as 'parallelizable > 20%'"
            + (f"; did you mean {near[0]}=?" if near else ""),
            pytrace=False,
        )
    limits = [None if marker.kwargs.get(k) is None else str(marker.kwargs[k]) for k in THRESHOLDS]
    try:
        return gates_from_options([str(a) for a in marker.args], *limits)
    except ConfigurationError as exc:
        problem = str(exc)
    pytest.fail(f"@pytest.mark.fanscope: {problem}", pytrace=False)  # outside the except: one line


@pytest.fixture(autouse=True)
def _fanscope_marked(request: pytest.FixtureRequest) -> None:
    """A test marked ``@pytest.mark.fanscope`` is captured without asking for the fixture."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        request.node.stash[_GATES] = _marker_gates(marker)
        request.getfixturevalue(FIXTURE)


@pytest.fixture
def fanscope_trace(request: pytest.FixtureRequest) -> Iterator[Capture]:
    """The spans of this test, captured in memory, with the analyzer's view of them."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from fanscope.sdk.tracing import capture, use_tracer_provider

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    result = Capture(request.node.nodeid, exporter, provider, _witnesses(request.config))
    request.node.stash[_KEY] = result
    # capture() is process-wide: it reaches code that does not run in the fixture's context
    # (pytest-asyncio's runner copies its context when the loop starts). In the fixture's
    # context, use_tracer_provider() also wins over a provider a project fixture installed
    # there with use_tracer_provider().
    with capture(provider), use_tracer_provider(provider):
        yield result
    provider.shutdown()


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


# Thresholds -------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    outcome = yield  # raises when the test failed: then the thresholds are not checked
    gates = item.stash.get(_GATES, None)
    result = item.stash.get(_KEY, None)
    if not gates or result is None:
        return outcome  # not marked, or a bare marker: capture only
    from fanscope.analysis.gates import evaluate
    from fanscope.analysis.report import text

    report = result.report_dict()
    if not report["traces"]:
        pytest.fail(
            "@pytest.mark.fanscope: the test made no fanscope spans, so no threshold could be "
            "checked; call code decorated with @parallel, @vote or @traced, or drop the marker",
            pytrace=False,
        )
    failed = evaluate(report, gates)
    if failed:
        pytest.fail("\n".join(failed) + "\n\n" + text.render(report), pytrace=False)
    return outcome


# Report files -----------------------------------------------------------------------------


def _file_name(nodeid: str) -> str:
    """A file name for a test id: readable, and unique even when cut short."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    if len(name) > 120:
        digest = hashlib.blake2b(nodeid.encode(), digest_size=4).hexdigest()
        name = f"{name[:110]}-{digest}"
    return name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        item.stash[_OUTCOME] = report.outcome
    return report


def pytest_runtest_teardown(item: pytest.Item) -> None:
    directory = _report_dir(item.config)
    result = item.stash.get(_KEY, None)
    if directory is None or result is None:
        return
    spans = result.finished_spans()
    if not spans:
        return
    from fanscope import otlp_json
    from fanscope.analysis.report import html

    directory.mkdir(parents=True, exist_ok=True)
    name = _file_name(item.nodeid)
    line = otlp_json.dumps(otlp_json.sdk_request(spans)[0])
    (directory / f"{name}.jsonl").write_text(line + "\n", encoding="utf-8")
    report = result.report_dict()
    (directory / f"{name}.html").write_text(html.render(report, result.spans), encoding="utf-8")
    traces = report["traces"]
    worst = max(traces, key=lambda t: t["duration"])
    row = {
        "test": item.nodeid,
        "file": name,
        "outcome": item.stash.get(_OUTCOME, "passed"),
        "traces": len(traces),
        "duration": worst["duration"],
        "whatif": worst["whatif"],
        "parallelizable": max(t["parallelizable_share"] for t in traces),
        "queue_wait": max(t["queue_wait_share"] for t in traces),
        "straggler": max(t["straggler_ratio"] for t in traces),
    }
    worker = getattr(item.config, "workerinput", {}).get("workerid", "main")
    (directory / RESULTS).mkdir(exist_ok=True)
    with open(directory / RESULTS / f"{worker}.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _rows(directory: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for part in sorted((directory / RESULTS).glob("*.jsonl")):
        for line in part.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a worker killed mid-write
    return rows


def pytest_sessionstart(session: pytest.Session) -> None:
    directory = _report_dir(session.config)
    if directory is None or hasattr(session.config, "workerinput"):
        return
    # Remove what the previous run wrote, so that `fanscope analyze DIR` reads this run only.
    for row in _rows(directory):
        for suffix in (".jsonl", ".html"):
            (directory / f"{row['file']}{suffix}").unlink(missing_ok=True)
    for old in (directory / RESULTS).glob("*.jsonl"):
        old.unlink()
    (directory / "summary.md").unlink(missing_ok=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    directory = _report_dir(session.config)
    if directory is None or hasattr(session.config, "workerinput"):
        return  # xdist workers leave the summary to the controller
    rows = _rows(directory)
    if not rows:
        return
    from fanscope.analysis.report.text import seconds, share

    lines = [
        "## fanscope: critical paths of this test run",
        "",
        "| test | outcome | total | what-if | parallelizable | waiting behind caps | "
        "worst straggler |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: -r["duration"]):
        test = r["test"].replace("|", "\\|").replace("`", "'")
        lines.append(
            f"| `{test}` | {r['outcome']} | {seconds(r['duration'])} | {seconds(r['whatif'])} | "
            f"{share(r['parallelizable'])} | {share(r['queue_wait'])} | {r['straggler']:.1f}x |"
        )
    lines.append("")
    lines.append(
        f"{len(rows)} test(s) traced. Each has a trace file (`<test>.jsonl`, OTLP JSON lines) and "
        "a waterfall (`<test>.html`) next to this summary."
    )
    (directory / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
