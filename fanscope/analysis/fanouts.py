"""Per fan-out statistics, from the spans the SDK emits (``docs/conventions.md``).

A cancelled branch is not a straggler: its span ends when it was cancelled (a vote decided, a
sibling failed, the deadline passed), so it is left out of the slowest branch and the median
when any branch ran to its end. A vote says what its early stop saved (:class:`EarlyStop`).
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass

from fanscope.analysis.model import Span
from fanscope.analysis.schema import EarlyStop
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

NS = 1e9


@dataclass(frozen=True, slots=True)
class FanoutStats:
    """What one fan-out did with its time (seconds).

    Attributes:
        slowest_share: the slowest branch's duration over the fan-out's.
        straggler_ratio: slowest branch over the median branch (1.0 when all are equal).
        parallelism: sum of branch time over the fan-out's wall time.
        queue_wait: total time branches waited for a slot (cap or rate limit).
        queue_wait_max: the longest such wait of one branch.
        early_stop: for a vote, what its early stop did and saved; ``None`` otherwise.
        hedges, hedges_won: hedged attempts the fan-out sent, and those that answered first.
    """

    span_id: str
    name: str
    kind: str
    function: str
    size: int
    max_concurrency: int | None
    duration: float
    branches: int
    slowest_span_id: str
    slowest_name: str
    slowest: float
    slowest_share: float
    median: float
    straggler_ratio: float
    queue_wait: float
    queue_wait_max: float
    parallelism: float
    fanin: float
    failed: int
    cancelled: int
    early_stop: EarlyStop | None = None
    hedges: int = 0
    hedges_won: int = 0


def branch_label(trace: Trace, span_id: str) -> str:
    span = trace.spans[span_id]
    name = span.attr_str(A.BRANCH_NAME)
    if name:
        return name
    index = span.attr_int(A.BRANCH_INDEX)
    return f"{span.name}[{index}]" if index is not None else span.name


def queue_wait(trace: Trace, span_id: str) -> float:
    """Seconds a branch waited in line (``fanscope.queue.wait_s``, absent means 0)."""
    value = trace.spans[span_id].attr_float(A.QUEUE_WAIT)
    return value if value is not None and value > 0 else 0.0


def _size(recorded: int | None, seen: int) -> int:
    return recorded if recorded is not None and recorded >= 0 else seen


def _cap(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


def fanout_stats(trace: Trace) -> list[FanoutStats]:
    """Statistics of every fan-out span in ``trace``, in start order."""
    out = []
    # an equality test needs no type check (and this one runs over every span)
    fanouts = [s for s in trace.spans.values() if s.attributes.get(A.ROLE) == A.ROLE_FANOUT]
    for fanout in sorted(fanouts, key=lambda s: s.start):
        kids = [trace.spans[c] for c in trace.children.get(fanout.span_id, ())]
        branches = [k for k in kids if k.attributes.get(A.ROLE) == A.ROLE_BRANCH]
        fanins = [k for k in kids if k.attributes.get(A.ROLE) == A.ROLE_FANIN]
        duration = fanout.duration / NS
        if branches:
            durations = [b.duration / NS for b in branches]
            ended = [b for b in branches if b.attr_str(A.BRANCH_OUTCOME) != A.OUTCOME_CANCELLED]
            ranked = ended or branches  # every branch cancelled: compare them all
            slowest = max(ranked, key=lambda b: b.duration)
            median = statistics.median(b.duration / NS for b in ranked)
            waits = [queue_wait(trace, b.span_id) for b in branches]
            slowest_s = slowest.duration / NS
            outcomes = [b.attr_str(A.BRANCH_OUTCOME) for b in branches]
            stats = FanoutStats(
                span_id=fanout.span_id,
                name=fanout.name,
                kind=fanout.attr_str(A.KIND) or "",
                function=fanout.attr_str(A.FUNCTION) or "",
                size=_size(fanout.attr_int(A.FANOUT_SIZE), len(branches)),
                max_concurrency=_cap(fanout.attr_int(A.FANOUT_MAX_CONCURRENCY)),
                duration=duration,
                branches=len(branches),
                slowest_span_id=slowest.span_id,
                slowest_name=branch_label(trace, slowest.span_id),
                slowest=slowest_s,
                slowest_share=slowest_s / duration if duration > 0 else 1.0,
                median=median,
                straggler_ratio=slowest_s / median if median > 0 else 1.0,
                queue_wait=sum(waits),
                queue_wait_max=max(waits),
                parallelism=sum(durations) / duration if duration > 0 else float(len(branches)),
                fanin=sum(f.duration for f in fanins) / NS,
                failed=sum(1 for o in outcomes if o in (A.OUTCOME_ERROR, A.OUTCOME_TIMEOUT)),
                cancelled=sum(1 for o in outcomes if o == A.OUTCOME_CANCELLED),
                early_stop=_early_stop(fanout, fanins, branches, ended),
            )
        else:
            stats = FanoutStats(
                span_id=fanout.span_id,
                name=fanout.name,
                kind=fanout.attr_str(A.KIND) or "",
                function=fanout.attr_str(A.FUNCTION) or "",
                size=_size(fanout.attr_int(A.FANOUT_SIZE), 0),
                max_concurrency=_cap(fanout.attr_int(A.FANOUT_MAX_CONCURRENCY)),
                duration=duration,
                branches=0,
                slowest_span_id="",
                slowest_name="",
                slowest=0.0,
                slowest_share=0.0,
                median=0.0,
                straggler_ratio=1.0,
                queue_wait=0.0,
                queue_wait_max=0.0,
                parallelism=0.0,
                fanin=sum(f.duration for f in fanins) / NS,
                failed=0,
                cancelled=0,
            )
        if A.FANOUT_HEDGES in fanout.attributes:
            stats = dataclasses.replace(
                stats,
                hedges=max(0, fanout.attr_int(A.FANOUT_HEDGES) or 0),
                hedges_won=max(0, fanout.attr_int(A.FANOUT_HEDGES_WON) or 0),
            )
        out.append(stats)
    return out


def _early_stop(
    fanout: Span, fanins: list[Span], branches: list[Span], ended: list[Span]
) -> EarlyStop | None:
    """What a vote's early stop did: when the count was decided, and the voters it cancelled
    before they sent their call or mid-call. How long they would have taken is unknowable
    (they never finished), so no saving in time is claimed beyond "it did not wait for them"."""
    if fanout.attr_str(A.KIND) != A.KIND_VOTE:
        return None
    count = next((f for f in fanins if A.VOTE_STOPPED_EARLY in f.attributes), None)
    stopped = bool(count is not None and count.attributes.get(A.VOTE_STOPPED_EARLY) is True)
    cancelled = [b for b in branches if b.attr_str(A.BRANCH_OUTCOME) == A.OUTCOME_CANCELLED]
    waiting = [b for b in cancelled if b.attr_int(A.BRANCH_ATTEMPTS) == 0]
    running = [b for b in cancelled if b.attr_int(A.BRANCH_ATTEMPTS) != 0]
    decided = max((b.end for b in ended), default=fanout.start)
    return EarlyStop(
        stopped_early=stopped,
        answered=len(ended),
        decided_at=(decided - fanout.start) / NS,
        cancelled_waiting=len(waiting),
        cancelled_running=len(running),
        cancelled_ran=sum(b.duration for b in running) / NS,
    )
