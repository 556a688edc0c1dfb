"""``make bench``: every benchmark runs, prints its targets, and the table says which hold.

The quick run (tiny sizes) runs every registered benchmark, so that a benchmark broken by a
change in the SDK or the analyzer fails here instead of on the next ``make bench``. Its figures
are too small to judge a target by, and nothing here asserts a time.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import run_all  # noqa: E402


def script(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(textwrap.dedent(body))


def test_the_table_says_which_targets_hold_and_which_were_not_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script(
        tmp_path,
        "fast.py",
        """
        print("some figures")
        print("target: speed, 200 | 0.97x | <= 1.00x | holds | CPU, median of 9")
        print("target: speed, 2,000 | 1.10x | <= 1.00x | DOES NOT HOLD | CPU, median of 9")
        """,
    )
    script(tmp_path, "_helper.py", "raise SystemExit('a helper is not a benchmark')\n")
    registered = run_all.Benchmark("fast.py", "test", targets=("speed, 200", "speed, 100,000"))
    monkeypatch.setattr(run_all, "BENCHMARKS", (registered,))
    code = run_all.main(["--dir", str(tmp_path)])
    out = capsys.readouterr().out
    table = out[out.index("== targets") :]
    assert "speed, 200" in table and "holds" in table
    assert "speed, 2,000" in table and "DOES NOT HOLD" in table
    assert "speed, 100,000" in table and "not measured" in table
    assert "1 of 2 targets hold, 1 not measured" in table
    assert "_helper" not in out
    assert code == 1  # a registered target that was not printed: the benchmark rotted


def test_a_benchmark_that_fails_or_prints_a_malformed_target_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script(tmp_path, "broken.py", "print('target: half a line | 1.0x')\n")
    script(tmp_path, "crash.py", "raise SystemExit(3)\n")
    monkeypatch.setattr(run_all, "BENCHMARKS", ())
    assert run_all.main(["--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "broken.py (exit 0, 1 malformed target lines)" in err
    assert "crash.py (exit 3, 0 malformed target lines)" in err


def test_every_registered_benchmark_runs_in_the_quick_run_and_prints_targets() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    printed = {line.name for line in run_all.parse("", out)[0]}
    for bench in run_all.BENCHMARKS:
        if bench.quick is None:
            continue
        assert f"== {bench.script}" in out, f"{bench.script} did not run"
        if bench.targets and bench.quick_targets:  # some: no 100,000-branch point here
            assert printed & set(bench.targets), f"{bench.script} printed none of its targets"
    assert printed <= {t for b in run_all.BENCHMARKS for t in b.targets}, "unregistered target"
