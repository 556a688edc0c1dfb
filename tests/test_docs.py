"""Every code block of README.md and docs/*.md that is meant to run, run as written.

The rules (also in the README, "Code in these pages"):

- Blocks run in page order, in a fresh folder per page. Before the first block the folder
  holds what ``make demo`` leaves (``.fanscope/demo/research-sequential.jsonl`` and
  ``research-parallel.jsonl``, traces of ``examples/research_agent.py``), and copies of them as
  ``base.jsonl`` and ``head.jsonl``, and of the sequential one as ``traces.jsonl``; and the
  repository's ``examples/``.
- Every command sees ``ANTHROPIC_BASE_URL`` pointing at the stand-in (``fanscope.testing``) on a
  free port of 127.0.0.1, a placeholder ``ANTHROPIC_API_KEY``, no ``OTEL_*`` variable,
  ``GITHUB_STEP_SUMMARY=summary.md``, and this environment's ``python``, ``pytest`` and
  ``fanscope`` first on ``PATH``.
- A block whose first line is ``# not run: WHY`` is not run (a shape of calls, a server, Docker,
  a benchmark); the reason must be given.
- A block whose first line is ``# file: NAME`` is saved as ``NAME`` in the folder.
- Any other ``python`` block runs as a script. Every trace it adds to a trace file of the folder
  must be one trace (a run is one trace when its entry point is a step) with no failed branch.
- In a ``console`` block every ``$`` line runs with bash (``\\`` continues a line); the lines
  after it are its example output, not compared. ``fanscope`` may exit 1 (a gate that failed on
  purpose), anything else must exit 0; nothing may print a traceback.
- A ``toml`` block must parse, and its ``[tool.fanscope]`` must be gates ``fanscope analyze``
  accepts without a warning.
- Other blocks (output, JSON, YAML, diagrams) are not code to run; ``tests/test_ci_recipe.py``
  runs the YAML workflow of ``docs/ci.md``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from fanscope.analysis import read_file
from fanscope.analysis.gates import gates_from_pyproject
from fanscope.testing import AnthropicStandIn

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = ("python", "console", "toml")
TIMEOUT = 300
NOT_RUN = re.compile(r"#\s*not run:\s*(\S.*)?$")
FILE = re.compile(r"#\s*file:\s*(\S+)\s*$")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository
    line: int  # of the opening fence
    lang: str
    text: str

    @property
    def first(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    def where(self) -> str:
        return f"{self.page}, {self.lang or 'plain'} block at line {self.line}"


def parse_blocks(text: str, page: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, each with the line of its opening fence."""
    found: list[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opening = re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if not opening:
            i += 1
            continue
        fence, lang, start = opening.group(1), opening.group(2).lower(), i
        body: list[str] = []
        i += 1
        closing = re.compile(re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*")
        while i < len(lines) and not closing.fullmatch(lines[i]):
            body.append(lines[i])
            i += 1
        found.append(Block(page, start + 1, lang, "\n".join(body)))
        i += 1
    return found


def page_blocks(path: Path) -> list[Block]:
    return parse_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


def test_the_block_reader_finds_fences_languages_and_lines() -> None:
    text = "text\n```python\nprint(1)\n```\n\n````console\n$ ls\n```\nstill\n````\n"
    python, console = parse_blocks(text, "page.md")
    assert (python.lang, python.line, python.text) == ("python", 2, "print(1)")
    assert (console.lang, console.line, console.text) == ("console", 6, "$ ls\n```\nstill")


def test_a_closing_fence_may_be_longer_but_not_shorter_than_the_opening() -> None:
    text = "```python\na = 1\n`````\n````console\n$ ls\n```\n````\n"
    python, console = parse_blocks(text, "page.md")
    assert python.text == "a = 1"
    assert console.text == "$ ls\n```"


def commands(block: Block) -> list[str]:
    """The ``$`` lines of a console block, continuation lines joined."""
    out: list[str] = []
    continued = False
    for line in block.text.split("\n"):
        if continued:
            out[-1] = out[-1][:-1] + " " + line.strip()
        elif line.startswith("$ "):
            out.append(line[2:].strip())
        else:
            continue
        continued = out[-1].endswith("\\")
    return out


def test_console_lines_are_commands_and_their_continuations() -> None:
    block = Block("p.md", 1, "console", "$ a \\\n    --b\noutput\n$ c  # note\n  more output")
    assert commands(block) == ["a  --b", "c  # note"]


@pytest.fixture(scope="session")
def demo_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``make demo`` leaves: traces of the research agent, sequential and parallel."""
    where = tmp_path_factory.mktemp("demo")
    demo = where / ".fanscope" / "demo"
    with AnthropicStandIn(latency=0.02) as server:
        for mode in ("sequential", "parallel"):
            trace = demo / f"research-{mode}.jsonl"
            agent = ROOT / "examples" / "research_agent.py"
            command = [sys.executable, str(agent), "--quiet", "--trace", str(trace)]
            if mode == "sequential":
                command.append("--sequential")
            env = environment(where, server.url)
            done = subprocess.run(
                command, cwd=where, env=env, capture_output=True, text=True, timeout=TIMEOUT
            )
            assert done.returncode == 0, done.stderr
    shutil.copy(demo / "research-sequential.jsonl", where / "base.jsonl")
    shutil.copy(demo / "research-parallel.jsonl", where / "head.jsonl")
    shutil.copy(demo / "research-sequential.jsonl", where / "traces.jsonl")
    return where


def environment(folder: Path, stand_in: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OTEL_", "FANSCOPE_", "PYTEST_", "COV_"))
    }
    env["ANTHROPIC_BASE_URL"] = stand_in
    env["ANTHROPIC_API_KEY"] = "stand-in"
    env["GITHUB_STEP_SUMMARY"] = str(folder / "summary.md")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def trace_ids(folder: Path) -> dict[str, set[str]]:
    """The trace ids in each ``*.jsonl`` file of the folder."""
    found = {}
    for path in folder.rglob("*.jsonl"):
        try:
            found[str(path.relative_to(folder))] = {s.trace_id for s in read_file(path).spans}
        except Exception:  # not a trace file: none of this test's business
            continue
    return found


def new_trace_problems(folder: Path, before: dict[str, set[str]]) -> list[str]:
    """What is wrong with the traces a run added: more than one per file, failed branches."""
    problems = []
    for name, ids in trace_ids(folder).items():
        added = ids - before.get(name, set())
        if len(added) > 1:
            problems.append(
                f"{name}: one run added {len(added)} traces; make the entry point a step "
                "(@traced) so that its calls are one trace"
            )
        failed = [
            f"{s.name}: {s.attributes.get('error.type', '?')} {s.status_message}".strip()
            for s in read_file(folder / name).spans
            if s.trace_id in added
            and s.attributes.get("fanscope.branch.outcome") in ("error", "timeout")
        ]
        if failed:
            problems.append(f"{name}: failed branches: {'; '.join(failed[:5])}")
    return problems


def run(command: str | list[str], folder: Path, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        command,
        shell=isinstance(command, str),
        executable="/bin/bash" if isinstance(command, str) else None,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return done.returncode, (done.stdout + done.stderr)


def check_block(block: Block, folder: Path, env: dict[str, str]) -> list[str]:
    """Run one block in ``folder``; what went wrong, as lines (empty when it ran as written)."""
    first = block.first
    if NOT_RUN.match(first):
        reason = NOT_RUN.match(first).group(1)  # type: ignore[union-attr]
        return [] if reason else ["'# not run:' without a reason"]
    named = FILE.match(first)
    if named:
        target = folder / named.group(1)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text + "\n", encoding="utf-8")
        if block.lang == "toml" and target.name == "pyproject.toml":
            return check_toml(block.text, folder)
        return []
    if block.lang == "toml":
        return check_toml(block.text, folder)
    if block.lang == "python":
        script = folder / f"_block_{block.line}.py"
        script.write_text(block.text + "\n", encoding="utf-8")
        before = trace_ids(folder)
        status, output = run([sys.executable, script.name], folder, env)
        if status != 0 or "Traceback" in output:
            return [f"exit status {status}", *output.strip().splitlines()[-15:]]
        return new_trace_problems(folder, before)
    problems = []
    for command in commands(block):
        before = trace_ids(folder)
        status, output = run(command, folder, env)
        program = next((w for w in command.split() if "=" not in w), "")
        allowed = (0, 1) if program == "fanscope" else (0,)
        if status not in allowed or "Traceback" in output:
            problems += [f"$ {command}: exit status {status}", *output.strip().splitlines()[-15:]]
            break
        if program == "python":
            problems += [f"$ {command}: {p}" for p in new_trace_problems(folder, before)]
    return problems


def check_toml(text: str, folder: Path) -> list[str]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return [f"not TOML: {error}"]
    if "fanscope" not in data.get("tool", {}):
        return []
    config = folder / "_gates.toml"
    config.write_text(text, encoding="utf-8")
    warnings: list[str] = []
    try:
        gates_from_pyproject(config, warnings)
    except Exception as error:
        return [f"[tool.fanscope] refused: {error}"]
    return [f"[tool.fanscope]: {w}" for w in warnings]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_pages_code_blocks_run_as_written(
    page: Path, demo_traces: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "page"
    shutil.copytree(demo_traces, folder)
    (folder / "examples").symlink_to(ROOT / "examples")  # commands say examples/..., as in a clone
    failures = []
    with AnthropicStandIn(latency=0.02) as server:
        env = environment(folder, server.url)
        for block in page_blocks(page):
            if block.lang not in RUN:
                continue
            problems = check_block(block, folder, env)
            if problems:
                failures.append(f"{block.where()}:\n    " + "\n    ".join(problems))
    assert not failures, "\n\n".join(failures)


def test_the_checks_catch_what_would_make_a_page_lie(tmp_path: Path) -> None:
    """A block that fails, hides a failed branch, makes several traces, or is marked without a
    reason is reported, naming the page and line."""
    folder = tmp_path / "page"
    folder.mkdir()
    agent = """
import asyncio, fanscope
from fanscope import parallel, traced
fanscope.configure(service_name="t", trace_file="traces.jsonl")
@parallel
async def lookup(source: str, question: str) -> str:
    return source + question
async def main() -> None:
    await lookup.map(["a", "b"], on_error="collect")   # every branch: TypeError, hidden
    await lookup("news", "q")
asyncio.run(main())
"""
    with AnthropicStandIn() as server:
        env = environment(folder, server.url)
        problems = check_block(Block("p.md", 3, "python", agent), folder, env)
        assert any("one run added 2 traces" in p and "@traced" in p for p in problems), problems
        assert any("failed branches: lookup: TypeError" in p for p in problems), problems
        assert check_block(Block("p.md", 9, "python", "raise SystemExit(3)"), folder, env)[0] == (
            "exit status 3"
        )
        bad_flag = Block("p.md", 1, "console", "$ fanscope analyze traces.jsonl --no-such-flag")
        assert "exit status 2" in check_block(bad_flag, folder, env)[0]
        gate = Block(
            "p.md", 1, "console", "$ fanscope analyze traces.jsonl --fail-if 'critical_path > 0s'"
        )
        assert check_block(gate, folder, env) == []  # a gate failing on purpose is exit 1
        assert check_block(Block("p.md", 1, "python", "# not run:\nx"), folder, env) == [
            "'# not run:' without a reason"
        ]
        assert (
            check_block(Block("p.md", 1, "python", "# not run: a shape\nawait x"), folder, env)
            == []
        )
        saved = Block("p.md", 1, "python", "# file: pkg/agent.py\nraise SystemExit(1)")
        assert check_block(saved, folder, env) == []
        assert (folder / "pkg" / "agent.py").read_text().startswith("# file: pkg/agent.py")
        assert check_block(
            Block("p.md", 1, "toml", "[tool.fanscope]\nmax_stragler = 3"), folder, env
        )
