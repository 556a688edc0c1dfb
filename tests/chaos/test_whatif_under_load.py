"""A starved process starts a fan-out's branches late; the what-if must not call that a saving.

Reproduction (a loaded two-core machine): ``gather`` of four lookups, then a step that uses
all four answers. The branches started 12 ms after their fan-out, because the event loop got
no CPU, not because they waited in line (no ``fanscope.queue.wait_s``). The schedule started
them at the fan-out's start, found 13 ms "saved" and reported an opportunity with nothing to
run together: a false claim, and a failing ``assert_nothing_parallelizable``.
"""

from __future__ import annotations

import pytest

from fanscope.analysis import analyze
from tests.analysis.builders import span

OUTPUTS = {"news": "a1", "filings": "b2", "prices": "c3", "db": "d4"}


def starved_gather(late_ms: float, waited_ms: float = 0.0) -> list[object]:
    root = span("together", 0, 65, fanscope__role="step")
    fan = span("gather", 0.3, 56, root, fanscope__role="fanout", fanscope__kind="section")
    branches = [
        span(
            name,
            0.3 + late_ms,
            0.3 + late_ms + duration,
            fan,
            fanscope__role="branch",
            fanscope__branch__name=name,
            fanscope__dataflow__outputs=[OUTPUTS[name]],
            **({"fanscope__queue__wait_s": waited_ms / 1000} if waited_ms else {}),
        )
        for name, duration in (("news", 32), ("filings", 42.4), ("prices", 10.9), ("db", 23))
    ]
    fanin = span("fan-in gather", 55.8, 55.9, fan, fanscope__role="fanin")
    synthesize = span(
        "synthesize", 56, 64.7, root, fanscope__role="step",
        fanscope__dataflow__inputs=list(OUTPUTS.values()),
    )  # fmt: skip
    return [root, fan, *branches, fanin, synthesize]


def test_branches_started_late_by_a_busy_process_are_no_opportunity() -> None:
    report = analyze(starved_gather(late_ms=12.8)).traces[0]  # type: ignore[arg-type]
    assert report.opportunities == []
    assert report.whatif == pytest.approx(report.duration, abs=0.0005)  # not 13 ms shorter


def test_time_a_branch_waited_in_line_is_still_rescheduled() -> None:
    # the same late start, but spent waiting for a slot: the schedule may move it (no cap on
    # this fan-out, so the what-if starts the branches at once)
    starved = analyze(starved_gather(late_ms=12.8)).traces[0]  # type: ignore[arg-type]
    waited = analyze(starved_gather(late_ms=12.8, waited_ms=12.8)).traces[0]  # type: ignore[arg-type]
    assert waited.whatif == pytest.approx(starved.whatif - 0.0128, abs=1e-6)
