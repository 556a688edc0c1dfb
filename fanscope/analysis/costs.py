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
  calls that themselves ended in an error outside any such branch;
* ``hedges``: calls of an attempt that lost the race to its hedge, or of a hedge that lost
  or failed (``docs/hedging.md``): under a ``hedge`` span whose outcome is ``lost`` or
  ``failed``; and, when the hedge ``won``, the branch's other calls that started between the
  hedge's start minus its ``fanscope.hedge.delay_s`` and its end (the hedged attempt's).

What a vote's early stop saved is an estimate (``early_stop_saved``): each voter it cancelled
would have cost what the voters that answered cost on average, less what the cancelled ones
had already spent.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fanscope.analysis.fanouts import branch_label
from fanscope.analysis.model import Span
from fanscope.analysis.schema import BranchCost, Cost, FanoutCost, OperationCost, TraceCost
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

GENAI_OPERATION = "gen_ai.operation.name"  # marks a GenAI span (docs/conventions.md)
NO_COST = "no cost recorded"  # a GenAI span with neither an amount nor a reason
_FAILED = (A.OUTCOME_ERROR, A.OUTCOME_TIMEOUT)
_HEDGE_LOST = "hedge lost"  # on the chain: the calls under this hedge span lost the race
NS = 1_000_000_000


def is_call(span: Span) -> bool:
    """A GenAI span: a model call (fanscope's own spans carry ``fanscope.role``)."""
    attributes = span.attributes
    return (GENAI_OPERATION in attributes or A.COST_AMOUNT in attributes) and (
        A.ROLE not in attributes
    )


@dataclass(frozen=True, slots=True)
class Call:
    """What one GenAI span says about its cost, read once."""

    usd: float | None  #: ``None``: unpriced, for ``reason``
    reason: str
    estimated: bool
    input_tokens: int
    output_tokens: int

    @classmethod
    def of(cls, span: Span) -> Call:
        amount = span.attr_float(A.COST_AMOUNT)
        priced = amount is not None and amount >= 0
        return cls(
            usd=amount if priced else None,
            reason="" if priced else span.attr_str(A.COST_UNKNOWN) or NO_COST,
            estimated=span.attributes.get(A.COST_ESTIMATED) is True,
            # the GenAI conventions' input tokens include cache reads and writes
            input_tokens=max(0, span.attr_int("gen_ai.usage.input_tokens") or 0),
            output_tokens=max(0, span.attr_int("gen_ai.usage.output_tokens") or 0),
        )

    @property
    def amount(self) -> float:
        return self.usd if self.usd is not None else 0.0


@dataclass
class Tally:
    """Calls added up: the priced amount, and what could not be priced."""

    usd: float = 0.0
    calls: int = 0
    unpriced: dict[str, int] = field(default_factory=dict)
    estimated: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, call: Call) -> None:
        self.calls += 1
        if call.usd is not None:
            self.usd += call.usd
        else:
            self.unpriced[call.reason] = self.unpriced.get(call.reason, 0) + 1
        if call.estimated:
            self.estimated += 1
        self.input_tokens += call.input_tokens
        self.output_tokens += call.output_tokens

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
    hedges: float = 0.0

    def add(self, kind: str, usd: float) -> None:
        setattr(self, kind, getattr(self, kind) + usd)

    @property
    def total(self) -> float:
        return self.retries + self.failures + self.cancelled + self.hedges


def _last_retry(span: Span) -> int | None:
    times = [t for t, name, _ in span.events if name == A.EVENT_RETRY]
    return max(times) if times else None


def _lost_windows(trace: Trace, branch: Span) -> tuple[tuple[int, int], ...]:
    """When a hedge of ``branch`` won: the times the attempt it beat ran (start, end in ns)."""
    if branch.attributes.get(A.HEDGE_WINNER) != A.HEDGE_WINNER_HEDGE:
        return ()
    windows = []
    for kid in trace.children.get(branch.span_id, ()):
        span = trace.spans[kid]
        if span.attributes.get(A.ROLE) == A.ROLE_HEDGE and _won(span):
            delay = max(0.0, span.attr_float(A.HEDGE_DELAY) or 0.0)
            windows.append((span.start - int(delay * NS), span.end))
    return tuple(windows)


def _won(hedge: Span) -> bool:
    return hedge.attr_str(A.HEDGE_OUTCOME) == A.HEDGE_OUTCOME_WON


def _lost(hedge: Span) -> bool:
    return hedge.attr_str(A.HEDGE_OUTCOME) in (A.HEDGE_OUTCOME_LOST, A.HEDGE_OUTCOME_FAILED)


# What can decide what a span's calls were, innermost first: the branches above it that were
# retried, up to and including the first that did not end ``ok``, each with (last retry time,
# outcome, the times an attempt of it lost to its hedge); and a hedge span that lost.
_Chain = tuple[tuple[int | None, str | None, tuple[tuple[int, int], ...]], ...]


def _decide(chain: _Chain, call: Span) -> str | None:
    for retried, outcome, lost in chain:
        if outcome == _HEDGE_LOST:
            return "hedges"
        if retried is not None and call.start < retried:
            return "retries"
        if outcome == A.OUTCOME_CANCELLED:
            return "cancelled"
        if outcome in _FAILED:
            return "failures"
        if any(start <= call.start <= end for start, end in lost):
            return "hedges"
    return "failures" if call.status == "error" else None


@dataclass(slots=True)
class _Found:
    """A call found on the walk down: its cost, operation, waste class, and the fan-outs it is
    under with, for each, the branch of that fan-out it is under (``None``: not in a branch)."""

    call: Call
    operation: str
    kind: str | None
    fanouts: tuple[tuple[str, str | None], ...]


def _walk(trace: Trace) -> dict[str, _Found]:
    """Every call of the trace, in one walk down the tree, so that a deep trace costs its size,
    not its size times its depth: its operation (``step > chat model``, as on the critical
    path), its waste class (``retries``, ``cancelled``, ``failures`` or ``None``) and the
    fan-outs and branches it counts in."""
    out: dict[str, _Found] = {}
    Item = tuple[str, str | None, _Chain, tuple[tuple[str, str | None], ...]]
    stack: list[Item] = [(r, None, (), ()) for r in trace.roots]
    spans, children = trace.spans, trace.children
    while stack:
        sid, owner, chain, fanouts = stack.pop()
        span = spans[sid]
        role = span.attributes.get(A.ROLE)
        if role is None:
            if is_call(span):
                operation = f"{owner} > {span.name}" if owner is not None else span.name
                out[sid] = _Found(Call.of(span), operation, _decide(chain, span), fanouts)
        else:
            owner = span.name
            if role == A.ROLE_FANOUT:
                fanouts = (*fanouts, (sid, None))
            elif role == A.ROLE_BRANCH:
                if fanouts and fanouts[-1] == (span.parent_id, None):
                    fanouts = (*fanouts[:-1], (fanouts[-1][0], sid))
                retried, outcome = _last_retry(span), span.attr_str(A.BRANCH_OUTCOME)
                lost = _lost_windows(trace, span)
                if outcome == A.OUTCOME_CANCELLED or outcome in _FAILED:
                    chain = ((retried, outcome, lost),)  # nothing further out can decide
                elif retried is not None or lost:
                    chain = ((retried, outcome, lost), *chain)
            elif role == A.ROLE_HEDGE:
                if _lost(span):
                    chain = ((None, _HEDGE_LOST, ()),)  # nothing further out can decide
                elif _won(span) and chain and chain[0][2]:
                    # the winning hedge's own calls are not the attempt it beat
                    chain = ((chain[0][0], chain[0][1], ()), *chain[1:])
        kids = children.get(sid)
        if kids:
            stack += [(kid, owner, chain, fanouts) for kid in kids]
    return out


def waste_kind(trace: Trace, call: Span) -> str | None:
    """``retries``, ``cancelled``, ``failures`` or ``hedges`` when ``call`` bought nothing
    kept; ``None``.

    (One call at a time, walking up; :func:`trace_cost` walks the whole tree down once.)
    """
    chain: list[tuple[int | None, str | None, tuple[tuple[int, int], ...]]] = []
    current = trace.parent(call.span_id)
    under_winner = False  # the call is its branch's winning hedge's
    while current is not None:
        span = trace.spans[current]
        role = span.attributes.get(A.ROLE)
        if role == A.ROLE_BRANCH:
            lost = () if under_winner else _lost_windows(trace, span)
            chain.append((_last_retry(span), span.attr_str(A.BRANCH_OUTCOME), lost))
            under_winner = False
        elif role == A.ROLE_HEDGE:
            if _lost(span):
                chain.append((None, _HEDGE_LOST, ()))
            under_winner = _won(span)
        current = trace.parent(current)
    return _decide(tuple(chain), call)


def trace_cost(trace: Trace) -> tuple[TraceCost | None, dict[str, FanoutCost]]:
    """The trace's cost (``None`` when it made no model call) and each fan-out's, by span id
    (fan-outs with no call under them are left out)."""
    if not any(is_call(s) for s in trace.spans.values()):  # the common case: skip the walk
        return None, {}
    found = _walk(trace)
    total, waste = Tally(), _Waste()
    by_operation: dict[str, float] = {}
    per_fanout: dict[str, tuple[Tally, _Waste]] = {}
    per_branch: dict[str, Tally] = {}
    for f in found.values():
        call = f.call
        total.add(call)
        by_operation[f.operation] = by_operation.get(f.operation, 0.0) + call.amount
        if f.kind is not None:
            waste.add(f.kind, call.amount)
        for fanout_id, branch_id in f.fanouts:
            tally, wasted = per_fanout.setdefault(fanout_id, (Tally(), _Waste()))
            tally.add(call)
            if f.kind is not None:
                wasted.add(f.kind, call.amount)
            if branch_id is not None:
                per_branch.setdefault(branch_id, Tally()).add(call)
    fanouts = {
        sid: _fanout_cost(trace, sid, tally, wasted, per_branch)
        for sid, (tally, wasted) in per_fanout.items()
    }
    cost: TraceCost = {
        **total.doc(),
        "wasted": waste.total,
        "wasted_retries": waste.retries,
        "wasted_failures": waste.failures,
        "wasted_cancelled": waste.cancelled,
        "wasted_hedges": waste.hedges,
        "early_stop_saved": sum(f["early_stop_saved"] or 0.0 for f in fanouts.values()),
        "by_operation": dict(sorted(by_operation.items(), key=lambda kv: -kv[1])),
    }
    return cost, fanouts


def _fanout_cost(
    trace: Trace, fanout_id: str, total: Tally, waste: _Waste, per_branch: dict[str, Tally]
) -> FanoutCost:
    branches: list[BranchCost] = []
    for kid in trace.children.get(fanout_id, ()):
        span = trace.spans[kid]
        if span.attributes.get(A.ROLE) != A.ROLE_BRANCH:
            continue
        tally = per_branch.get(kid) or Tally()
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
    return {
        **total.doc(),
        "wasted": waste.total,
        "wasted_retries": waste.retries,
        "wasted_failures": waste.failures,
        "wasted_cancelled": waste.cancelled,
        "wasted_hedges": waste.hedges,
        "early_stop_saved": _early_stop_saved(trace.spans[fanout_id], branches),
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
