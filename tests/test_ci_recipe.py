"""The CI recipe of docs/ci.md, run for real: its commands, files and exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

AGENT_TEST = """
import asyncio
import fanscope
from fanscope import parallel, traced

@parallel(max_concurrency=4)
async def lookup(source: str) -> str:
    await asyncio.sleep(0.02)
    return f"{source} reports strong demand and rising margins this quarter"

@traced
async def research() -> list[str]:
    if PARALLEL:
        answers = await fanscope.gather(news=lookup("news"), filings=lookup("filings"))
        return list(answers)
    return [await lookup("news"), await lookup("filings")]

async def test_research(fanscope_trace):
    await research()
"""


def workflow_commands() -> list[str]:
    """The shell lines of the workflow's ``run:`` steps that can run here."""
    text = (ROOT / "docs" / "ci.md").read_text()
    block = text.split("```yaml", 1)[1].split("```", 1)[0]
    lines = []
    for raw in block.splitlines():
        line = raw.strip()
        if line.startswith("run: "):
            line = line[len("run: ") :]
        if line.startswith(("pytest ", "fanscope ", "cat ", "for f in")):
            lines.append(line)
    return lines


def project(where: Path, parallel: bool) -> Path:
    where.mkdir()
    (where / "test_agent.py").write_text(AGENT_TEST.replace("PARALLEL", str(parallel)))
    (where / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\n\n'
        '[tool.fanscope]\nmax_parallelizable = "20%"\n'
    )
    return where


def sh(command: str, cwd: Path, summary: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", GITHUB_STEP_SUMMARY=str(summary))
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_workflow_commands_produce_the_files_and_exit_codes(tmp_path: Path) -> None:
    commands = workflow_commands()
    assert [c.split()[0] for c in commands] == ["pytest", "cat", "fanscope", "fanscope", "for"]
    test_cmd, cat_cmd, analyze_cmd, diff_cmd, convert_cmd = commands
    assert re.search(r"--fanscope-report=fanscope-head", test_cmd)

    summary = tmp_path / "step-summary.md"
    base = project(tmp_path / "base", parallel=True)
    head = project(tmp_path / "head", parallel=False)  # the change makes the agent sequential

    assert sh(test_cmd.replace("fanscope-head", "out"), base, summary).returncode == 0
    assert sh(test_cmd, head, summary).returncode == 0
    (head / "fanscope-base").symlink_to(base / "out")
    assert (head / "fanscope-head" / "summary.md").exists()
    assert list((head / "fanscope-head").glob("*.html"))

    assert sh(cat_cmd, head, summary).returncode == 0
    gated = sh(analyze_cmd, head, summary)
    assert gated.returncode == 1, gated.stderr  # the [tool.fanscope] gate caught it
    assert "gate failed: parallelizable > 20%" in gated.stderr
    text = summary.read_text()
    assert "## fanscope: critical paths of this test run" in text
    assert "## fanscope: where the time went" in text

    diffed = sh(diff_cmd, head, summary)
    assert diffed.returncode == 1, diffed.stdout + diffed.stderr
    assert "slower: (total)" in diffed.stderr
    assert "| operation | base p50 | head p50 | change |" in summary.read_text()

    assert sh(convert_cmd, head, summary).returncode == 0
    assert list((head / "fanscope-head").glob("*.jaeger.json"))

    # the base's own run passes its gates
    assert sh(analyze_cmd.replace("fanscope-head", "out"), base, summary).returncode == 0
