"""The CI recipe of docs/ci.md, run for real: its steps, the files they make, their exit codes.

The workflow is read from the page (real YAML) and each ``run:`` step runs with ``bash -e``,
as GitHub Actions runs it, in a git repository with a base branch and a change. The only
substitution: ``pip install`` lines do nothing (the installed fanscope is used).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

AGENT_TEST = """
import asyncio
import pytest
import fanscope
from fanscope import parallel, traced

@parallel(max_concurrency=4)
async def lookup(source: str) -> str:
    await asyncio.sleep(DELAY)
    return f"{source} reports strong demand and rising margins this quarter"

@traced
async def research() -> list[str]:
    if PARALLEL:
        answers = await fanscope.gather(news=lookup("news"), filings=lookup("filings"))
        return list(answers)
    return [await lookup("news"), await lookup("filings")]

async def test_research(fanscope_trace):
    for _ in range(TRACES):  # the diff compares medians, not one run's noise
        await research()

@pytest.mark.fanscope(max_critical_path="10s")
async def test_research_is_fast_enough():
    await research()
"""

PYPROJECT = """
[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"

[tool.fanscope]
max_parallelizable = "20%"
"""


TRACES = 15
"""Traces per run. The operations that are fanscope's own time (``gather``, ``research``'s
own time) take well under a millisecond, so a loaded machine can make any single trace of
them a few milliseconds slower, more than the diff's 1 ms floor: their median over many
traces is what stays put."""


def agent(parallel: bool, delay: float) -> str:
    return (
        AGENT_TEST.replace("PARALLEL", str(parallel))
        .replace("DELAY", str(delay))
        .replace("TRACES", str(TRACES))
    )


def workflow() -> dict[str, Any]:
    text = (ROOT / "docs" / "ci.md").read_text()
    block = text.split("```yaml", 1)[1].split("```", 1)[0]
    parsed: dict[str, Any] = yaml.safe_load(block)
    return parsed


def steps() -> list[dict[str, Any]]:
    (job,) = workflow()["jobs"].values()
    return list(job["steps"])


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=ENV)


ENV = dict(
    os.environ,
    PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    GIT_AUTHOR_NAME="ci",
    GIT_AUTHOR_EMAIL="ci@example.invalid",
    GIT_COMMITTER_NAME="ci",
    GIT_COMMITTER_EMAIL="ci@example.invalid",
)
ENV.pop("PYTEST_ADDOPTS", None)
ENV.pop("FANSCOPE_ARTIFACTS", None)


def repository(
    where: Path, head_parallel: bool, head_delay: float = 0.02, base_delay: float = 0.02
) -> Path:
    """A project whose base branch runs its lookups in parallel; the change may not."""
    where.mkdir()
    git("init", "-q", "-b", "main", cwd=where)
    (where / "pyproject.toml").write_text(PYPROJECT)
    (where / "test_agent.py").write_text(agent(parallel=True, delay=base_delay))
    (where / ".gitignore").write_text("fanscope-*/\n")
    git("add", ".", cwd=where)
    git("commit", "-q", "-m", "base", cwd=where)
    git("update-ref", "refs/remotes/origin/main", "HEAD", cwd=where)
    git("checkout", "-q", "-b", "change", cwd=where)
    (where / "test_agent.py").write_text(agent(head_parallel, head_delay))
    git("commit", "-q", "--allow-empty", "-am", "change", cwd=where)
    return where


def run_workflow(workspace: Path) -> tuple[dict[str, subprocess.CompletedProcess[str]], str]:
    """Each ``run:`` step's result by step name, and the step summary."""
    summary = workspace.parent / "step-summary.md"
    env = dict(
        ENV,
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_BASE_REF="main",
    )
    results = {}
    for index, step in enumerate(steps()):
        if "run" not in step:
            continue
        assert index <= 3 or step.get("if") == "always()", step["name"]  # after the tests
        script = re.sub(r"^\s*pip install .*$", "true", step["run"], flags=re.MULTILINE)
        results[step["name"]] = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    return results, summary.read_text()


def test_the_workflow_is_complete_yaml_with_the_artifact_upload() -> None:
    parsed = workflow()
    assert list(parsed["jobs"]) == ["critical-path"]
    uses = [s.get("uses", "").split("@")[0] for s in steps()]
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    assert uses[-1] == "actions/upload-artifact"
    assert steps()[-1]["with"]["path"].split() == ["fanscope-head/", "fanscope-base/"]
    assert [s["name"] for s in steps() if "run" in s] == [
        "Install",
        "Tests, with a fanscope report of each",
        "Step summary and gates",
        "Traces of the base branch",
        "What got slower on the critical path",
        "Jaeger files for the artifacts",
    ]


def test_a_change_that_makes_the_agent_sequential_fails_the_gates_and_the_diff(
    tmp_path: Path,
) -> None:
    workspace = repository(tmp_path / "workspace", head_parallel=False)
    results, summary = run_workflow(workspace)
    codes = {name: r.returncode for name, r in results.items()}
    assert codes == {
        "Install": 0,
        "Tests, with a fanscope report of each": 0,
        "Step summary and gates": 1,  # the [tool.fanscope] gate caught it
        "Traces of the base branch": 0,
        "What got slower on the critical path": 1,
        "Jaeger files for the artifacts": 0,
    }, {n: r.stderr[-800:] for n, r in results.items()}
    assert "gate failed: parallelizable > 20%" in results["Step summary and gates"].stderr
    assert "slower: (total)" in results["What got slower on the critical path"].stderr
    assert "## fanscope: critical paths of this test run" in summary
    assert "| `test_agent.py::test_research` | passed |" in summary
    assert "## fanscope: where the time went" in summary
    assert "| operation | base p50 | head p50 | change |" in summary

    head, base = workspace / "fanscope-head", workspace / "fanscope-base"
    names = ["test_agent.py_test_research", "test_agent.py_test_research_is_fast_enough"]
    assert sorted(p.name for p in head.iterdir()) == sorted(
        [".results", "summary.md"]
        + [f"{n}{suffix}" for n in names for suffix in (".html", ".jaeger.json", ".jsonl")]
    )
    assert sorted(p.stem for p in base.glob("*.jsonl")) == names
    assert (tmp_path / "base" / "test_agent.py").read_text().count("if True:") == 1


def test_a_change_that_keeps_the_agent_parallel_passes_every_step(tmp_path: Path) -> None:
    # the change also makes each lookup four times faster, so that the base and the head,
    # measured a few seconds apart on a machine whose load changes, cannot trade places
    workspace = repository(
        tmp_path / "workspace", head_parallel=True, head_delay=0.01, base_delay=0.04
    )
    results, summary = run_workflow(workspace)
    failed = {n: r.stderr[-800:] for n, r in results.items() if r.returncode != 0}
    assert failed == {}
    assert "No traces on the base branch" not in summary


def test_a_base_branch_without_traces_is_said_not_compared(tmp_path: Path) -> None:
    workspace = repository(tmp_path / "workspace", head_parallel=True)
    base_tests = workspace / "test_agent.py"
    git("checkout", "-q", "main", cwd=workspace)
    base_tests.write_text("def test_nothing_traced():\n    pass\n")
    git("commit", "-q", "-am", "base without the plugin", cwd=workspace)
    git("update-ref", "refs/remotes/origin/main", "HEAD", cwd=workspace)
    git("checkout", "-q", "change", cwd=workspace)
    results, summary = run_workflow(workspace)
    assert results["What got slower on the critical path"].returncode == 0
    assert "No traces on the base branch to compare with." in summary


@pytest.mark.parametrize("required", [True, False], ids=["ci", "local"])
def test_browser_tests_fail_in_ci_and_skip_locally_without_chromium(required: bool) -> None:
    env = dict(ENV, PATH=str(Path(sys.executable).parent))  # no chromium on this PATH
    env.pop("FANSCOPE_REQUIRE_BROWSER", None)
    if required:
        env["FANSCOPE_REQUIRE_BROWSER"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "tests/analysis/test_html_report.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if required:
        assert done.returncode == 2, done.stdout[-2000:]
        assert (
            "chromium is not installed and FANSCOPE_REQUIRE_BROWSER=1: "
            "run 'apt-get install -y chromium'" in done.stdout
        )
    else:
        assert done.returncode == 5, done.stdout[-2000:]  # pytest's "no tests ran"
        assert "1 skipped" in done.stdout and "chromium is not installed" in done.stdout
