"""What a trace cost, read from the cost on its GenAI spans (``docs/cost.md``).

Each model call is counted once, from its own GenAI span (``gen_ai.usage.cost.amount``), never
from the roll-ups on fanscope's spans (``fanscope.cost.*``): those are for readers that sum one
span's attributes, and a span ends with what its calls had reported by then.

A call whose span has no amount is **unpriced**, never $0: the sums are then lower bounds and
say so (``unpriced_calls``, and why in ``unpriced``). A GenAI span of another instrumentation,
or of a run without prices, has no amount either and is unpriced in the same way.

Wasted spend is what bought nothing the program kept, each call in one class, decided by the
branch nearest the call that says something about it (the innermost first):

* ``retries``: calls of an attempt that was retried (the call started before the branch's last
  ``fanscope.retry`` event);
* ``cancelled``: calls of a branch cancelled before it finished (a vote's cancelled voters, a
  sibling's failure, a deadline);
* ``failures``: calls of a branch whose last attempt failed (``error``, ``timeout``), and
  calls that themselves ended in an error outside any such branch.

What a vote's early stop saved is an estimate (``early_stop_saved``): each voter it cancelled
would have cost what the voters that answered cost on average, less what the cancelled ones
had already spent.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fanscope.analysis.fanouts import branch_label
from fanscope.analysis.model import Span
from fanscope.analysis.schema import BranchCost, Cost, FanoutCost, OperationCost, TraceCost
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

GENAI_OPERATION = "gen_ai.operation.name"  # marks a GenAI span (docs/conventions.md)
NO_COST = "no cost recorded"  # a GenAI span with neither an amount nor a reason
_FAILED = (A.OUTCOME_ERROR, A.OUTCOME_TIMEOUT)


def is_call(span: Span) -> bool:
    """A GenAI span: a model call (fanscope's own spans carry ``fanscope.role``)."""
    return (
        GENAI_OPERATION in span.attributes or A.COST_AMOUNT in span.attributes
    ) and A.ROLE not in span.attributes


@dataclass
class Tally:
    """Calls added up: the priced amount, and what could not be priced."""

    usd: float = 0.0
    calls: int = 0
    unpriced: dict[str, int] = field(default_factory=dict)
    estimated: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, span: Span) -> None:
        self.calls += 1
        amount = span.attr_float(A.COST_AMOUNT)
        if amount is not None and amount >= 0:
            self.usd += amount
        else:
            reason = span.attr_str(A.COST_UNKNOWN) or NO_COST
            self.unpriced[reason] = self.unpriced.get(reason, 0) + 1
        if span.attributes.get(A.COST_ESTIMATED) is True:
            self.estimated += 1
        # the GenAI conventions' input tokens include cache reads and writes
        self.input_tokens += max(0, span.attr_int("gen_ai.usage.input_tokens") or 0)
        self.output_tokens += max(0, span.attr_int("gen_ai.usage.output_tokens") or 0)

    def doc(self) -> Cost:
        return {
            "usd": self.usd,
            "calls": self.calls,
            "unpriced_calls": sum(self.unpriced.values()),
            "unpriced": dict(sorted(self.unpriced.items())),
            "estimated_calls": self.estimated,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass
class _Waste:
    retries: float = 0.0
    failures: float = 0.0
    cancelled: float = 0.0

    def add(self, kind: str, usd: float) -> None:
        setattr(self, kind, getattr(self, kind) + usd)

    @property
    def total(self) -> float:
        return self.retries + self.failures + self.cancelled


def _last_retry(span: Span) -> int | None:
    times = [t for t, name, _ in span.events if name == A.EVENT_RETRY]
    return max(times) if times else None


# The branches above a span that can decide what its calls were (innermost first): retried
# ones, up to and including the first that did not end ``ok``; (last retry time, outcome).
_Chain = tuple[tuple[int | None, str | None], ...]


def _decide(chain: _Chain, call: Span) -> str | None:
    for retried, outcome in chain:
        if retried is not None and call.start < retried:
            return "retries"
        if outcome == A.OUTCOME_CANCELLED:
            return "cancelled"
        if outcome in _FAILED:
            return "failures"
    return "failures" if call.status == "error" else None


def _walk(trace: Trace) -> dict[str, tuple[str, str | None]]:
    """For every call: its operation (``step > chat model``, as on the critical path) and its
    waste class (``retries``, ``cancelled``, ``failures`` or ``None``), in one walk down the
    tree, so that a deep trace costs its size, not its size times its depth."""
    out: dict[str, tuple[str, str | None]] = {}
    stack: list[tuple[str, str | None, _Chain]] = [(r, None, ()) for r in trace.roots]
    while stack:
        sid, owner, chain = stack.pop()
        span = trace.spans[sid]
        role = span.attributes.get(A.ROLE)
        if role is None and is_call(span):
            operation = f"{owner} > {span.name}" if owner is not None else span.name
            out[sid] = (operation, _decide(chain, span))
        if role is not None:
            owner = span.name
        if role == A.ROLE_BRANCH:
            retried, outcome = _last_retry(span), span.attr_str(A.BRANCH_OUTCOME)
            ended_badly = outcome == A.OUTCOME_CANCELLED or outcome in _FAILED
            if ended_badly:
                chain = ((retried, outcome),)  # nothing further out can decide
            elif retried is not None:
                chain = ((retried, outcome), *chain)
        stack.extend((kid, owner, chain) for kid in trace.children.get(sid, ()))
    return out


def waste_kind(trace: Trace, call: Span) -> str | None:
    """``retries``, ``cancelled`` or ``failures`` when ``call`` bought nothing kept; ``None``.

    (One call at a time, walking up; :func:`trace_cost` walks the whole tree down once.)
    """
    chain: list[tuple[int | None, str | None]] = []
    current = trace.parent(call.span_id)
    while current is not None:
        span = trace.spans[current]
        if span.attributes.get(A.ROLE) == A.ROLE_BRANCH:
            chain.append((_last_retry(span), span.attr_str(A.BRANCH_OUTCOME)))
        current = trace.parent(current)
    return _decide(tuple(chain), call)


def _amount(span: Span) -> float:
    amount = span.attr_float(A.COST_AMOUNT)
    return amount if amount is not None and amount > 0 else 0.0


def _under(trace: Trace, span_id: str, calls: Mapping[str, object]) -> list[str]:
    return [d for d in trace.descendants(span_id) if d in calls]


def trace_cost(trace: Trace) -> tuple[TraceCost | None, dict[str, FanoutCost]]:
    """The trace's cost (``None`` when it made no model call) and each fan-out's, by span id."""
    found = _walk(trace)
    if not found:
        return None, {}
    total, waste = Tally(), _Waste()
    by_operation: dict[str, float] = {}
    kinds: dict[str, str | None] = {}
    for sid, (operation, kind) in found.items():
        span = trace.spans[sid]
        total.add(span)
        by_operation[operation] = by_operation.get(operation, 0.0) + _amount(span)
        kinds[sid] = kind
        if kind is not None:
            waste.add(kind, _amount(span))
    calls = kinds
    fanouts = {
        sid: _fanout_cost(trace, sid, calls, kinds)
        for sid, span in trace.spans.items()
        if span.attributes.get(A.ROLE) == A.ROLE_FANOUT
    }
    cost: TraceCost = {
        **total.doc(),
        "wasted": waste.total,
        "wasted_retries": waste.retries,
        "wasted_failures": waste.failures,
        "wasted_cancelled": waste.cancelled,
        "early_stop_saved": sum(f["early_stop_saved"] or 0.0 for f in fanouts.values()),
        "by_operation": dict(sorted(by_operation.items(), key=lambda kv: -kv[1])),
    }
    return cost, {sid: f for sid, f in fanouts.items() if f["calls"]}


def _fanout_cost(
    trace: Trace, fanout_id: str, calls: Mapping[str, object], kinds: dict[str, str | None]
) -> FanoutCost:
    total, waste = Tally(), _Waste()
    for sid in _under(trace, fanout_id, calls):
        total.add(trace.spans[sid])
        kind = kinds[sid]
        if kind is not None:
            waste.add(kind, _amount(trace.spans[sid]))
    branches: list[BranchCost] = []
    for kid in trace.children.get(fanout_id, ()):
        span = trace.spans[kid]
        if span.attributes.get(A.ROLE) != A.ROLE_BRANCH:
            continue
        tally = Tally()
        for sid in _under(trace, kid, calls):
            tally.add(trace.spans[sid])
        branches.append(
            {
                "span_id": kid,
                "name": branch_label(trace, kid),
                "outcome": span.attr_str(A.BRANCH_OUTCOME) or "",
                "usd": tally.usd,
                "calls": tally.calls,
                "unpriced_calls": sum(tally.unpriced.values()),
            }
        )
    fanout = trace.spans[fanout_id]
    return {
        **total.doc(),
        "wasted": waste.total,
        "wasted_retries": waste.retries,
        "wasted_failures": waste.failures,
        "wasted_cancelled": waste.cancelled,
        "early_stop_saved": _early_stop_saved(fanout, branches),
        "branches": branches,
    }


def _early_stop_saved(fanout: Span, branches: Sequence[BranchCost]) -> float | None:
    """A vote's estimate: each voter it cancelled would have cost what the voters that
    answered cost on average, less what it had already spent. ``None`` for a fan-out that is
    not a vote, a vote that cancelled none, or one with no answered voter fully priced."""
    if fanout.attr_str(A.KIND) != A.KIND_VOTE:
        return None
    cancelled = [b for b in branches if b["outcome"] == A.OUTCOME_CANCELLED]
    answered = [
        b
        for b in branches
        if b["outcome"] == A.OUTCOME_OK and b["calls"] and not b["unpriced_calls"]
    ]
    if not cancelled or not answered:
        return None
    mean = statistics.fmean(b["usd"] for b in answered)
    return max(0.0, sum(mean - b["usd"] for b in cancelled))


def _percentile(values: Sequence[float], q: int) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[q - 1]


def operation_costs(costs: Iterable[TraceCost | None]) -> dict[str, OperationCost]:
    """Per operation: p50 and p95 of its cost in a trace, over the traces where it made a call
    (``traces`` says in how many), and its total over them; largest p50 first."""
    samples: dict[str, list[float]] = {}
    for cost in costs:
        if cost is None:
            continue
        for name, usd in cost["by_operation"].items():
            samples.setdefault(name, []).append(usd)
    out: dict[str, OperationCost] = {
        name: {
            "traces": len(values),
            "p50": _percentile(values, 50),
            "p95": _percentile(values, 95),
            "total": sum(values),
        }
        for name, values in samples.items()
    }
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["p50"]))


def total_cost(costs: Iterable[TraceCost | None]) -> Cost | None:
    """Every trace's cost added up (``None`` when no trace made a model call)."""
    out: Cost | None = None
    for cost in costs:
        if cost is None:
            continue
        if out is None:
            out = {
                "usd": 0.0,
                "calls": 0,
                "unpriced_calls": 0,
                "unpriced": {},
                "estimated_calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
            }
        out["usd"] += cost["usd"]
        out["calls"] += cost["calls"]
        out["unpriced_calls"] += cost["unpriced_calls"]
        out["estimated_calls"] += cost["estimated_calls"]
        out["input_tokens"] += cost["input_tokens"]
        out["output_tokens"] += cost["output_tokens"]
        for reason, n in cost["unpriced"].items():
            out["unpriced"][reason] = out["unpriced"].get(reason, 0) + n
    return out
