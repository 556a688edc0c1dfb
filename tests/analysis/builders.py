"""Hand-built traces for analyzer tests: spans with known times (milliseconds)."""

from __future__ import annotations

import itertools
from typing import Any

from fanscope.analysis.model import Span

TRACE = "0af7651916cd43dd8448eb211c80319c"
_ids = itertools.count(1)
MS = 1_000_000


def span(
    name: str,
    start_ms: float,
    end_ms: float,
    parent: Span | str | None = None,
    *,
    sid: str | None = None,
    trace: str = TRACE,
    **attributes: Any,
) -> Span:
    parent_id = parent.span_id if isinstance(parent, Span) else parent
    return Span(
        trace_id=trace,
        span_id=sid or f"{next(_ids):016x}",
        parent_id=parent_id,
        name=name,
        start=int(start_ms * MS),
        end=int(end_ms * MS),
        attributes={k.replace("__", "."): v for k, v in attributes.items()},
    )


def assert_run_together(report: Any, spans: Any, together: list[str], after: str) -> None:
    """The what-if runs the steps named ``together`` at once, then ``after``.

    Bounds drawn from the run's own spans (no wall-clock expectation, so a loaded machine
    cannot break it): no faster than the slowest of them plus ``after``, and at least the
    time of all but the slowest saved.
    """
    seconds = {
        s.name: (s.end_time - s.start_time) / 1e9
        for s in spans
        if s.name in together or s.name == after
    }
    assert sorted(seconds) == sorted({*together, after}), seconds
    durations = [seconds[n] for n in together]
    assert report.whatif >= max(durations) + seconds[after] - 1e-9
    assert report.whatif <= report.duration - (sum(durations) - max(durations)) + 1e-9
