"""``benchmarks/shared_limits.py`` at a tiny size, so that it cannot rot: two worker processes
through the real anthropic client against one stand-in, and the ``limits`` peer through a real
Redis. The figures are not judged here (the machine is shared); what must hold whatever the
load is: two processes that would each send 32 at once never put more than 32 requests at the
server when they share one cap of 32 through Redis, every run answers requests, and the script
exits 0 (it fails by itself when the shared cap is overrun).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent


def test_the_shared_limits_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    RedisServer()  # skips with the reason when redis-server is missing (fails in CI)
    out = tmp_path / "figures.json"
    runs = "shared cap 32 (Redis),limits moving window (Redis)"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "shared_limits.py"), "--processes", "2",
         "--seconds", "3", "--warmup", "1", "--latency", "0.2", "--rounds", "20",
         "--runs", runs, "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "## part 1, caps and tokens" in done.stdout and "limits moving window" in done.stdout
    figures = {f["policy"]: f for f in json.loads(out.read_text())}
    shared = figures["shared cap 32 (Redis)"]
    assert 0 < shared["peak"] <= 32 and shared["rps"] > 0
    assert figures["limits moving window (Redis)"]["rps"] > 0
