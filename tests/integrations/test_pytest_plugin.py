"""The pytest plugin, exercised with pytester on real test files.

Each inner run is a subprocess (``runpytest_subprocess``): the plugin loads through its
``pytest11`` entry point exactly as in a user's project.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fanscope.cli import main

pytest_plugins = ["pytester"]

AGENT = """
import asyncio
import pytest
import fanscope
from fanscope import parallel, traced

@parallel(max_concurrency=4)
async def lookup(source: str) -> str:
    await asyncio.sleep({"news": 0.08, "filings": 0.25, "prices": 0.06, "db": 0.07}[source])
    return f"{source} reports strong demand and rising margins this quarter"

@traced
async def synthesize(parts: list[str]) -> str:
    await asyncio.sleep(0.005)
    return " / ".join(p.split()[0] for p in parts)

@traced
async def sequential() -> str:
    return await synthesize([await lookup(s) for s in ("news", "filings", "prices", "db")])

@traced
async def together() -> str:
    answers = await fanscope.gather(
        news=lookup("news"), filings=lookup("filings"), prices=lookup("prices"), db=lookup("db"))
    return await synthesize(list(answers))

@traced
async def mapped() -> list[str]:
    return await lookup.map(["news", "filings", "prices", "db"])
"""

# The sleeps leave margins that a loaded machine's scheduler does not erase (a branch's start
# or wake-up can come 50 ms late at load 15 on two cores): filings is the slowest branch by
# 170 ms, and the shortest branch (60 ms) outlasts the time the four take to start, so they
# are in flight together. No state is shared between the lookups: they are independent.

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


def write(pytester: pytest.Pytester, body: str, ini: str = "") -> None:
    pytester.makepyfile(test_agent=AGENT + body)
    pytester.makeini(INI + ini)


def test_the_fixture_exposes_the_analysis_and_its_helpers_pass_and_fail_as_claimed(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        """
async def test_parallel_agent(fanscope_trace):
    await together()
    fanscope_trace.assert_concurrent("news", "filings", "prices", "db")
    fanscope_trace.assert_nothing_parallelizable()
    path = fanscope_trace.critical_path()
    assert path[0] == "together" and path.index("filings") < path.index("synthesize")
    assert not {"news", "prices", "db"} & set(path)  # the slowest branch decided the time
    (fanout,) = fanscope_trace.fanouts()
    assert fanout["slowest_name"] == "filings" and fanout["branches"] == 4
    report = fanscope_trace.report()
    assert 0.25 < report.duration < report.whatif + 0.01
    assert fanscope_trace.report_dict()["schema"] == "fanscope.report/v1"

async def test_a_map_under_a_cap_as_large_runs_together(fanscope_trace):
    await mapped()
    fanscope_trace.assert_concurrent("lookup")  # all four branches were in flight at once

async def test_sequential_agent_has_an_opportunity(fanscope_trace):
    await sequential()
    (opportunity,) = fanscope_trace.opportunities()
    assert len(opportunity["run_together"][0]) == 4
    assert opportunity["saving"] > 0.2  # at least the three shorter lookups

async def test_fail_nothing_parallelizable(fanscope_trace):
    await sequential()
    fanscope_trace.assert_nothing_parallelizable()

async def test_fail_concurrent_with_a_sequence(fanscope_trace):
    await sequential()
    fanscope_trace.assert_concurrent("lookup", "synthesize")

async def test_fail_concurrent_with_one_name_run_in_a_row(fanscope_trace):
    await sequential()
    fanscope_trace.assert_concurrent("lookup")

async def test_fail_concurrent_with_an_unknown_name(fanscope_trace):
    await together()
    fanscope_trace.assert_concurrent("news", "weather")

async def test_fail_report_without_spans(fanscope_trace):
    fanscope_trace.report()
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=5)
    result.stdout.fnmatch_lines_random(
        [
            # lookup and synthesize are called from one line: named by it and their names
            "*these calls could have run in parallel: under sequential: run test_agent.py:18 "
            "(lookup) x4 together; keep :18 (synthesize) after them (saves *ms)*",
            "*lookup, synthesize did not all run at the same time: lookup 0.0-*ms, lookup *",
            "*lookup did not all run at the same time*",
            "*no span named weather was captured (spans: *filings*",
            "*fanscope captured no spans in this test: call code decorated with @parallel*",
        ]
    )


def test_captures_are_isolated_from_each_other_and_from_the_projects_provider(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

PROJECT = InMemorySpanExporter()

def pytest_configure(config):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(PROJECT))
    trace.set_tracer_provider(provider)
"""
    )
    write(
        pytester,
        """
import threading
from conftest import PROJECT

async def test_a_plain_test_goes_to_the_projects_provider():
    PROJECT.clear()
    await lookup("db")
    assert [s.name for s in PROJECT.get_finished_spans()] == ["lookup"]

async def test_a_capture_sees_only_its_own_spans(fanscope_trace):
    PROJECT.clear()
    await lookup("db")
    assert [s.name for s in fanscope_trace.spans] == ["lookup"]
    assert PROJECT.get_finished_spans() == ()

@pytest.mark.asyncio(loop_scope="module")
async def test_a_module_scoped_loop_is_captured(fanscope_trace):
    await lookup("prices")
    assert [s.name for s in fanscope_trace.spans] == ["lookup"]

def test_a_sync_test_with_its_own_loop_and_a_thread_is_captured(fanscope_trace):
    asyncio.run(lookup("news"))
    worker = threading.Thread(target=asyncio.run, args=(lookup("db"),))
    worker.start()
    worker.join()
    assert [s.name for s in fanscope_trace.spans] == ["lookup", "lookup"]
    assert len({s.trace_id for s in fanscope_trace.spans}) == 2
    assert len(fanscope_trace.traces()) == 2
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=4)


def test_the_marker_fails_a_test_past_a_threshold_and_explains_the_path(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        """
@pytest.mark.fanscope(max_parallelizable="20%")
async def test_slow_agent():
    await sequential()

@pytest.mark.fanscope(max_parallelizable="20%", max_critical_path="5s", max_straggler=10,
                      max_queue_wait="50%")
async def test_fast_agent():
    await together()

@pytest.mark.fanscope("critical_path > 1ms")
async def test_gate_string():
    await together()

@pytest.mark.fanscope(max_critcal_path="1s")
async def test_typo():
    await together()

@pytest.mark.fanscope(max_critical_path="1 parsec")
async def test_bad_value():
    await together()

@pytest.mark.fanscope(max_critical_path="5s")
async def test_no_spans():
    pass

@pytest.mark.fanscope
async def test_a_bare_marker_only_captures():
    pass
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=3, errors=2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*_ test_slow_agent _*",
            "gate failed: parallelizable > 20% (trace * sequential: parallelizable = *%)",
            "",
            "fanscope: 1 trace(s), 6 spans from test_agent.py::test_slow_agent",
            "*critical path (own time on the path)*",
            "*lookup * ms *",
            "*under sequential: run test_agent.py:18 (lookup) x4 together*",
            "*what-if:*",
        ]
    )
    result.stdout.fnmatch_lines_random(
        [
            "*gate failed: critical_path > 1ms (trace * together: critical_path = *",
            "*_ ERROR at setup of test_typo _*",
            "@pytest.mark.fanscope: unknown threshold max_critcal_path; use max_critical_path, *"
            "; did you mean max_critical_path=?",
            "*_ ERROR at setup of test_bad_value _*",
            "@pytest.mark.fanscope: cannot read the gate (got 'critical_path > 1 parsec'); "
            "write e.g. *",
            "@pytest.mark.fanscope: the test made no fanscope spans, so no threshold could be "
            "checked; *",
        ]
    )
    for noise in ("Traceback", "pytest_plugin.py", "During handling"):
        assert noise not in out  # the mistakes are one line each


@pytest.mark.parametrize("workers", [None, "2"], ids=["one-process", "xdist"])
def test_report_dir_gets_trace_files_html_and_a_summary(
    pytester: pytest.Pytester, workers: str | None
) -> None:
    write(
        pytester,
        """
async def test_one(fanscope_trace):
    await together()

@pytest.mark.fanscope(max_parallelizable="20%")
async def test_two():
    await sequential()

@pytest.mark.parametrize("n", ["x" * 200, "y" * 200])
async def test_long_ids_stay_apart(fanscope_trace, n):
    await lookup("db")

def test_without_spans():
    assert True
""",
    )
    reports = Path(pytester.path, "reports")
    reports.mkdir()
    (reports / "notes.txt").write_text("not ours")
    args = ["-p", "no:cacheprovider", "--fanscope-report=reports"]
    if workers:
        args += ["-n", workers]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=4, failed=1)
    traces = sorted(p.name for p in reports.glob("*.jsonl"))
    assert len(traces) == 4 and traces[2:] == [
        "test_agent.py_test_one.jsonl",
        "test_agent.py_test_two.jsonl",
    ]
    assert all(len(name) < 140 for name in traces)
    assert sorted(p.stem for p in reports.glob("*.html")) == [n[:-6] for n in traces]
    summary = (reports / "summary.md").read_text()
    assert "| test | outcome | total | what-if | parallelizable |" in summary
    assert "| `test_agent.py::test_two` | failed | " in summary
    assert "| `test_agent.py::test_one` | passed | " in summary
    assert "4 test(s) traced" in summary
    line = (reports / "test_agent.py_test_one.jsonl").read_text().splitlines()
    assert len(line) == 1 and set(json.loads(line[0])) == {"resourceSpans"}

    assert main(["analyze", str(reports / "test_agent.py_test_two.jsonl"),
                 "--fail-if", "parallelizable > 20%"]) == 1  # fmt: skip
    assert main(["analyze", str(reports / "test_agent.py_test_one.jsonl"),
                 "--fail-if", "parallelizable > 20%"]) == 0  # fmt: skip

    # the next run replaces this run's files and leaves the others alone
    pytester.makepyfile(test_agent=AGENT + "\nasync def test_three(fanscope_trace):\n"
                        "    await together()\n")  # fmt: skip
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
    assert sorted(p.name for p in reports.iterdir() if p.name != ".results") == [
        "notes.txt",
        "summary.md",
        "test_agent.py_test_three.html",
        "test_agent.py_test_three.jsonl",
    ]


def test_the_ini_key_sets_the_report_dir_relative_to_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(pytester, "\nasync def test_one(fanscope_trace):\n    await together()\n",
          ini="fanscope_report = from-ini\n")  # fmt: skip
    inner = pytester.mkdir("inner")
    monkeypatch.chdir(inner)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "..").assert_outcomes(passed=1)
    assert (pytester.path / "from-ini" / "summary.md").exists()
    assert not (inner / "from-ini").exists()


def test_the_plugin_is_inert_in_a_run_that_does_not_use_it(pytester: pytest.Pytester) -> None:
    write(pytester, "\nasync def test_one():\n    await together()\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--setup-show")
    result.assert_outcomes(passed=1)
    made = [p.name for p in pytester.path.iterdir() if p.suffix not in (".py", ".ini")]
    assert sorted(made) == ["runpytest-0", "runpytest-current", "stderr", "stdout"]  # pytester's
    assert "fanscope_trace" not in result.stdout.str()
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    assert "--fanscope-report=DIR" in help_text and "fanscope_report" in help_text


ASYNC_WAYS = """
import asyncio

async def test_no_plugin_does_not_run_the_body(fanscope_trace):
    await sequential()

@pytest.mark.anyio
@pytest.mark.fanscope("parallelizable > 20%")
async def test_anyio_gated(fanscope_trace):
    await sequential()

@pytest.mark.anyio
async def test_anyio_captured(fanscope_trace):
    await together()
    fanscope_trace.assert_concurrent("news", "filings", "prices", "db")

@pytest.mark.fanscope("parallelizable > 20%")
def test_asyncio_run_gated():
    asyncio.run(sequential())

def test_asyncio_run_captured(fanscope_trace):
    asyncio.run(together())
    fanscope_trace.assert_concurrent("news", "filings", "prices", "db")
"""


def test_async_tests_run_under_anyio_or_asyncio_run_without_pytest_asyncio_as_docs_ci_says(
    pytester: pytest.Pytester,
) -> None:
    """docs/ci.md: the fixture and marker work with anyio's plugin or asyncio.run, and without
    an async plugin an async test's body (and so its thresholds) never runs."""
    pytester.makepyfile(test_agent=AGENT + ASYNC_WAYS)
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-rA")
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("failed")) == (2, 3), result.stdout.str()
    out = result.stdout.str()
    assert "FAILED test_agent.py::test_no_plugin_does_not_run_the_body" in out
    assert "async def functions are not natively supported" in out
    for gated in ("test_anyio_gated", "test_asyncio_run_gated"):
        assert f"FAILED test_agent.py::{gated}" in out
    assert out.count("gate failed: parallelizable > 20%") >= 2


def test_pytest_asyncio_strict_mode_runs_marked_tests_with_the_fixture(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_agent=AGENT
        + """
@pytest.mark.asyncio
@pytest.mark.fanscope("parallelizable > 20%")
async def test_strict_gated():
    await sequential()

@pytest.mark.asyncio
async def test_strict_captured(fanscope_trace):
    await together()
    fanscope_trace.assert_concurrent("news", "filings", "prices", "db")
"""
    )
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=1, failed=1)
    assert "FAILED test_agent.py::test_strict_gated" in result.stdout.str()


def test_the_marker_takes_every_threshold_the_command_line_does() -> None:
    from fanscope.analysis.gates import PYPROJECT_KEYS
    from fanscope.integrations.pytest_plugin import THRESHOLDS, _marker_gates

    assert set(THRESHOLDS) == set(PYPROJECT_KEYS) - {"fail_if"}
    mark = pytest.mark.fanscope(max_cost="$0.05", max_total_cost=1, max_budget_refused=0).mark
    gates = {g.metric: (g.op, g.limit) for g in _marker_gates(mark)}
    assert gates == {
        "cost": (">", 0.05), "total_cost": (">", 1.0), "budget_refused": (">", 0.0)
    }  # fmt: skip
