"""The budgets a trace ran under, read from ``fanscope.budget.*`` (``docs/conventions.md``).

A budget records what it allowed, spent and refused as attributes of the fan-out it belongs to
(``@parallel(budget=)``, ``@vote(budget=)``), or as a ``fanscope.budget.ended`` event on the
span current when a ``with fanscope.budget(...)`` block (or a lone call's budget) ended, so
that several budgets ending on one step each keep their record. A call it refused leaves a
``fanscope.budget.stop`` event on the span current then (the branch), with the refusing unit's
limit, what was spent, and the call's worst case.

Each refusal is matched to the innermost budget above its span (the span itself included) with
the same name and, when the event says, the same limit: that is the pot that refused it; among
the budgets that ended on one span, the first to end after the refusal. A refusal with no such
budget in the trace (a ``with`` block entered where no span was current, or a budget whose
span is in another trace) still counts: it is listed under a budget of its own, with no span
(``span_id`` ``""``), its limit, and what it had spent when it last refused (a lower bound of
what it spent in all). Traces that recorded a ``with`` block as attributes of the current span
(before the event) read as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fanscope.analysis.fanouts import branch_label
from fanscope.analysis.model import Span
from fanscope.analysis.schema import BudgetDoc
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

NS = 1e9
_UNITS = (A.BUDGET_UNIT_USD, A.BUDGET_UNIT_TOKENS)
_LIMIT = {A.BUDGET_UNIT_USD: A.BUDGET_LIMIT_USD, A.BUDGET_UNIT_TOKENS: A.BUDGET_LIMIT_TOKENS}
_SPENT = {A.BUDGET_UNIT_USD: A.BUDGET_SPENT_USD, A.BUDGET_UNIT_TOKENS: A.BUDGET_SPENT_TOKENS}


def _number(attributes: dict[str, Any], key: str) -> float | None:
    """A finite number, or ``None`` (damaged input reads as absent)."""
    value = attributes.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


@dataclass
class _Entry:
    name: str
    span_id: str
    label: str
    limit: dict[str, float | None]
    spent: dict[str, float | None]
    refused: int  # what the budget's own record says (0 when it has none)
    ended: int | None = None  # a record of an event: when the budget ended
    stops: dict[str, int] = field(default_factory=dict)
    first_stop: int | None = None

    def takes(self, name: str, unit: str | None, limit: float | None) -> bool:
        if name != self.name:
            return False
        if unit not in _UNITS:
            return True
        mine = self.limit.get(unit)
        if mine is None:  # no limit in that unit: not the pot that refused
            return False
        return limit is None or abs(mine - limit) <= 1e-9 * max(1.0, abs(limit))

    def stop(self, at: int, unit: str | None, spent: float | None) -> None:
        key = unit if unit in _UNITS else ""
        self.stops[key] = self.stops.get(key, 0) + 1
        self.first_stop = at if self.first_stop is None else min(self.first_stop, at)
        if not self.span_id and unit in _UNITS and spent is not None:
            # no record of its own: what it had spent when it refused is the best we know
            self.spent[unit] = max(self.spent.get(unit) or 0.0, spent)

    def doc(self, start: int) -> BudgetDoc:
        refused = max(self.refused, sum(self.stops.values()))
        by_unit = [(n, u) for u, n in self.stops.items() if u]
        stopped_by = max(by_unit)[1] if by_unit else None
        if refused and stopped_by is None:  # refusals without a unit: the fuller pot
            used = [(self._used(u) or 0.0, u) for u in _UNITS if self.limit.get(u) is not None]
            stopped_by = max(used)[1] if used else None
        return {
            "name": self.name,
            "span_id": self.span_id,
            "span": self.label,
            "limit_usd": self.limit.get(A.BUDGET_UNIT_USD),
            "spent_usd": self.spent.get(A.BUDGET_UNIT_USD),
            "used_usd": self._used(A.BUDGET_UNIT_USD),
            "limit_tokens": self.limit.get(A.BUDGET_UNIT_TOKENS),
            "spent_tokens": self.spent.get(A.BUDGET_UNIT_TOKENS),
            "used_tokens": self._used(A.BUDGET_UNIT_TOKENS),
            "refused": refused,
            "stopped_by": stopped_by,
            "first_stop": (self.first_stop - start) / NS if self.first_stop is not None else None,
        }

    def _used(self, unit: str) -> float | None:
        limit, spent = self.limit.get(unit), self.spent.get(unit)
        if limit is None or spent is None or limit <= 0:
            return None
        return spent / limit


def _entry(trace: Trace, span: Span, attrs: dict[str, Any], ended: int | None) -> _Entry | None:
    name = attrs.get(A.BUDGET_NAME)
    if not isinstance(name, str):
        return None
    refused = attrs.get(A.BUDGET_REFUSED)
    return _Entry(
        name=name,
        span_id=span.span_id,
        label=branch_label(trace, span.span_id),
        limit={u: _number(attrs, _LIMIT[u]) for u in _UNITS},
        spent={u: _number(attrs, _SPENT[u]) for u in _UNITS},
        refused=refused if isinstance(refused, int) and refused > 0 else 0,
        ended=ended,
    )


def _records(trace: Trace, span: Span) -> list[_Entry]:
    """The budgets recorded on ``span``: those that ended on it, the last to end first, then
    its own (a fan-out's), so that walking them backwards meets the innermost, then the
    budgets that ended on it in the order they ended."""
    ended = [
        entry
        for at, name, attrs in span.events
        if name == A.EVENT_BUDGET_ENDED and (entry := _entry(trace, span, attrs, at)) is not None
    ]
    ended.sort(key=lambda e: -(e.ended or 0))
    own = _entry(trace, span, span.attributes, None)
    return [*ended, own] if own is not None else ended


def _has_budgets(trace: Trace) -> bool:
    for s in trace.spans.values():
        if A.BUDGET_NAME in s.attributes:
            return True
        for _, name, _ in s.events:
            if name in (A.EVENT_BUDGET_STOP, A.EVENT_BUDGET_ENDED):
                return True
    return False


def _refuser(entries: list[_Entry], scope: tuple[int, ...], stop: tuple[Any, ...]) -> _Entry | None:
    """The budget in ``scope`` that refused the call of ``stop`` (name, unit, limit, time)."""
    name, unit, limit, at = stop
    fits = [entries[i] for i in reversed(scope) if entries[i].takes(name, unit, limit)]
    for entry in fits:  # one that was still open when it refused
        if entry.ended is None or entry.ended >= at:
            return entry
    return fits[0] if fits else None


def trace_budgets(trace: Trace) -> list[BudgetDoc]:
    """The budgets of ``trace`` (empty when it ran under none): in the order of their spans'
    start, the budgets known only by their refusals last."""
    if not _has_budgets(trace):  # the common case: no walk
        return []
    entries: list[_Entry] = []
    loose: dict[tuple[str, str, float | None], _Entry] = {}
    starts: dict[int, tuple[int, int]] = {}
    stack: list[tuple[str, tuple[int, ...]]] = [(r, ()) for r in trace.roots]
    while stack:
        sid, scope = stack.pop()
        span = trace.spans[sid]
        for entry in _records(trace, span):
            starts[len(entries)] = (span.start, entry.ended or 0)
            entries.append(entry)
            scope = (*scope, len(entries) - 1)
        for at, name, attrs in span.events:
            if name != A.EVENT_BUDGET_STOP:
                continue
            budget = attrs.get(A.BUDGET_NAME)
            budget = budget if isinstance(budget, str) else ""
            unit = attrs.get(A.BUDGET_UNIT)
            unit = unit if unit in _UNITS else None
            limit = _number(attrs, _LIMIT[unit]) if unit else None
            spent = _number(attrs, _SPENT[unit]) if unit else None
            found = _refuser(entries, scope, (budget, unit, limit, at))
            if found is None:
                key = (budget, unit or "", limit)
                found = loose.get(key)
                if found is None:
                    limits = {u: (limit if u == unit else None) for u in _UNITS}
                    found = loose[key] = _Entry(budget, "", "", limits, dict.fromkeys(_UNITS), 0)
            found.stop(at, unit, spent)
        kids = trace.children.get(sid)
        if kids:
            stack += [(kid, scope) for kid in kids]
    order = sorted(range(len(entries)), key=lambda i: starts[i])
    start = trace.start
    return [entries[i].doc(start) for i in order] + [e.doc(start) for e in loose.values()]
