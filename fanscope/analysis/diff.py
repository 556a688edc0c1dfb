"""Compare two sets of traces: what got slower or faster on the critical path, and what cost
more or less, per operation."""

from __future__ import annotations

from dataclasses import dataclass

from fanscope.analysis.schema import ReportDoc


@dataclass(frozen=True)
class Change:
    """One operation's p50 seconds on the critical path (or p50 USD in a trace, for costs), in
    the base and in the head."""

    operation: str
    base: float
    head: float

    @property
    def delta(self) -> float:
        return self.head - self.base

    @property
    def ratio(self) -> float:
        return self.head / self.base if self.base > 0 else float("inf") if self.head > 0 else 1.0


def compare(base: ReportDoc, head: ReportDoc) -> list[Change]:
    """Per operation, the p50 time on the critical path in both reports.

    ``(total)`` (the p50 trace duration) comes first, then the operations, largest change
    first; an operation on neither critical path at p50 is left out.
    """

    def totals(report: ReportDoc) -> float:
        durations = sorted(t["duration"] for t in report["traces"])
        return durations[len(durations) // 2] if durations else 0.0

    changes = []
    names = list(dict.fromkeys([*head["operations"], *base["operations"]]))
    for name in names:
        b_stats, h_stats = base["operations"].get(name), head["operations"].get(name)
        b = b_stats["p50"] if b_stats is not None else 0.0
        h = h_stats["p50"] if h_stats is not None else 0.0
        if b > 0 or h > 0:
            changes.append(Change(name, b, h))
    changes.sort(key=lambda c: -abs(c.delta))
    return [Change("(total)", totals(base), totals(head)), *changes]


def slower_than(changes: list[Change], limit: float, floor: float = 0.001) -> list[Change]:
    """Changes that grew by more than ``limit`` (a share, 0.1 for 10%) and ``floor`` seconds.

    An operation new in the head (absent from the base's critical path) is reported but is not
    a slowdown by itself: the ``(total)`` row catches a new step that made the run slower.
    """
    return [c for c in changes if c.base > 0 and c.delta > floor and c.head > c.base * (1 + limit)]


def compare_costs(base: ReportDoc, head: ReportDoc) -> list[Change]:
    """Per operation, its p50 cost in a trace (USD) in both reports, as :func:`compare` does
    for time: ``(total)`` (the p50 cost of a trace that made calls) first, then the operations,
    largest change first. Empty when neither report has a model call."""

    def totals(report: ReportDoc) -> float | None:
        costs = sorted(t["cost"]["usd"] for t in report["traces"] if t["cost"] is not None)
        return costs[len(costs) // 2] if costs else None

    b_total, h_total = totals(base), totals(head)
    if b_total is None and h_total is None:
        return []
    b_ops, h_ops = base["operation_costs"], head["operation_costs"]
    changes = []
    for name in dict.fromkeys([*h_ops, *b_ops]):
        b_stats, h_stats = b_ops.get(name), h_ops.get(name)
        b = b_stats["p50"] if b_stats is not None else 0.0
        h = h_stats["p50"] if h_stats is not None else 0.0
        if b > 0 or h > 0:
            changes.append(Change(name, b, h))
    changes.sort(key=lambda c: -abs(c.delta))
    return [Change("(total)", b_total or 0.0, h_total or 0.0), *changes]


def unpriced_calls(report: ReportDoc) -> int:
    """Calls of the report whose cost is unknown: its cost figures are lower bounds."""
    return sum(t["cost"]["unpriced_calls"] for t in report["traces"] if t["cost"] is not None)
