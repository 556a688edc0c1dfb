"""``benchmarks/hedging.py --model``: the modelled rounds that docs/hedging.md's decision rests
on still run on fanscope's own ``Hedge``, percentiles and token bucket, and keep the bucket's
bound. A few small runs (the figures in the docs come from 40 runs of 120 rounds)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import hedging  # noqa: E402

from fanscope import Hedge  # noqa: E402


def test_the_model_prints_each_arm_with_the_percentile_it_used(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert hedging.model(blocks=2, rounds=10) == 0
    lines = capsys.readouterr().out.splitlines()
    arms = {line.split("  ")[0]: line.split() for line in lines[2:]}
    assert set(arms) == {"p95, no floor", "Hedge('p95')", "Hedge('p98')"}
    assert "p95" in arms["p95, no floor"] and "p97.5" in arms["Hedge('p95')"]


@pytest.mark.parametrize(
    "make", [hedging.before_the_floor, lambda: Hedge("p95"), lambda: Hedge("p98")]
)
def test_modelled_hedges_keep_the_bucket_s_bound(make: Callable[[], Hedge]) -> None:
    hedge = make()
    walls, attempts, hedges = hedging.model_rounds(hedge, rounds=60, seed=7)
    assert len(walls) == 60 and attempts == 60 * hedging.BRANCHES
    # the warm-up's attempts earned tokens too: at most burst more than the measured share
    assert 0 < hedges <= hedge.max_extra * attempts + hedge.burst
