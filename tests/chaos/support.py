"""Helpers for the chaos reproductions: the command line run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_fanscope(
    *args: str | os.PathLike[str],
    stdin: bytes | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``fanscope ARGS`` in a new process, as a user runs it; a hang raises ``TimeoutExpired``."""
    return subprocess.run(
        [sys.executable, "-m", "fanscope", *map(str, args)],
        input=stdin.decode("utf-8", "surrogateescape") if stdin is not None else None,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The process exited with ``code`` and said why in one line, with no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]
