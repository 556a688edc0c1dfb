"""``benchmarks/shared_limits.py`` at a tiny size, so that it cannot rot: two worker processes
through the real anthropic client against one stand-in, and the ``limits`` peer through a real
Redis. The figures are not judged here (the machine is shared); what must hold whatever the
load is: local caps of 4 in two processes never put more than 8 requests at the server at once,
every run answers requests, and the script exits 0 (it fails when the shared cap is overrun).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_shared_limits_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    out = tmp_path / "figures.json"
    runs = "local cap 4 each,limits moving window (Redis),shared cap 32 (Redis)"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "shared_limits.py"), "--processes", "2",
         "--seconds", "2", "--warmup", "0.5", "--latency", "0.2", "--rounds", "20",
         "--runs", runs, "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "## part 1, caps and tokens" in done.stdout and "limits moving window" in done.stdout
    figures = {f["policy"]: f for f in json.loads(out.read_text())}
    local = figures["local cap 4 each"]
    assert 0 < local["peak"] <= 8 and local["rps"] > 0
    assert figures["limits moving window (Redis)"]["rps"] > 0
    shared = figures["shared cap 32 (Redis)"]
    if not shared["note"]:  # the backend is there: the script checked the cap at the server
        assert 0 < shared["peak"] <= 32 and shared["rps"] > 0
