"""The pytest plugin, exercised with pytester on real test files.

Each inner run is a subprocess (``runpytest_subprocess``): the plugin loads through its
``pytest11`` entry point exactly as in a user's project.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

AGENT = """
import asyncio
import pytest
import fanscope
from fanscope import parallel, traced

@parallel(max_concurrency=4)
async def lookup(source: str) -> str:
    await asyncio.sleep({"news": 0.03, "filings": 0.04, "prices": 0.01, "db": 0.02}[source])
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
"""


def write(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_agent=AGENT + body)
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )


def test_the_fixture_exposes_the_analysis_and_helpers(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        """
async def test_parallel_agent(fanscope_trace):
    await together()
    fanscope_trace.assert_concurrent("news", "filings", "prices", "db")
    fanscope_trace.assert_nothing_parallelizable()
    path = fanscope_trace.critical_path()
    assert "filings" in path and "synthesize" in path and "news" not in path
    (fanout,) = fanscope_trace.fanouts()
    assert fanout["slowest_name"] == "filings"

async def test_each_test_sees_only_its_own_spans(fanscope_trace):
    await lookup("db")
    assert [s.name for s in fanscope_trace.spans] == ["lookup"]

async def test_sequential_agent_is_caught(fanscope_trace):
    await sequential()
    (opportunity,) = fanscope_trace.opportunities()
    assert len(opportunity["run_together"][0]) == 4
    fanscope_trace.assert_nothing_parallelizable()

async def test_assert_concurrent_explains_a_sequence(fanscope_trace):
    await sequential()
    fanscope_trace.assert_concurrent("lookup", "synthesize")
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*these calls could have run in parallel: under sequential: run lookup, lookup, "
            "lookup, lookup together; keep synthesize after them*",
            "*lookup, synthesize did not all run at the same time*",
        ]
    )


def test_the_marker_fails_a_test_past_a_threshold_and_explains_the_path(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        """
@pytest.mark.fanscope(max_parallelizable="20%")
async def test_slow_agent():
    await sequential()

@pytest.mark.fanscope(max_parallelizable="20%", max_critical_path="5s", max_straggler=10)
async def test_fast_agent():
    await together()
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*gate failed: parallelizable > 20%*",
            "*critical path (own time on the path)*",
            "*what-if:*",
        ]
    )


@pytest.mark.parametrize("workers", [None, "2"], ids=["one-process", "xdist"])
def test_report_dir_gets_trace_files_html_and_a_summary(
    pytester: pytest.Pytester, workers: str | None
) -> None:
    write(
        pytester,
        """
async def test_one(fanscope_trace):
    await together()

async def test_two(fanscope_trace):
    await sequential()

def test_without_spans():
    assert True
""",
    )
    args = ["-p", "no:cacheprovider", "--fanscope-report=reports"]
    if workers:
        args += ["-n", workers]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3)
    reports = Path(pytester.path, "reports")
    traces = sorted(p.name for p in reports.glob("*.jsonl"))
    assert traces == ["test_agent.py_test_one.jsonl", "test_agent.py_test_two.jsonl"]
    assert len(list(reports.glob("*.html"))) == 2
    summary = (reports / "summary.md").read_text()
    assert "`test_agent.py::test_one`" in summary and "`test_agent.py::test_two`" in summary
    assert "| test | total | what-if | parallelizable |" in summary

    from fanscope.cli import main

    assert main(["analyze", str(reports / "test_agent.py_test_two.jsonl"),
                 "--fail-if", "parallelizable > 20%"]) == 1  # fmt: skip
    assert main(["analyze", str(reports / "test_agent.py_test_one.jsonl"),
                 "--fail-if", "parallelizable > 20%"]) == 0  # fmt: skip


def test_the_ini_key_sets_the_report_dir(pytester: pytest.Pytester) -> None:
    write(pytester, "\nasync def test_one(fanscope_trace):\n    await together()\n")
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "fanscope_report = from-ini\n"
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert (pytester.path / "from-ini" / "summary.md").exists()
