"""Per fan-out statistics, from the spans the SDK emits (``docs/conventions.md``)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

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


def branch_label(trace: Trace, span_id: str) -> str:
    span = trace.spans[span_id]
    name = span.attr(A.BRANCH_NAME)
    if name:
        return str(name)
    index = span.attr(A.BRANCH_INDEX)
    return f"{span.name}[{index}]" if index is not None else span.name


def queue_wait(trace: Trace, span_id: str) -> float:
    """Seconds a branch waited in line (``fanscope.queue.wait_s``, absent means 0)."""
    value = trace.spans[span_id].attr(A.QUEUE_WAIT, 0.0)
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def fanout_stats(trace: Trace) -> list[FanoutStats]:
    """Statistics of every fan-out span in ``trace``, in start order."""
    out = []
    fanouts = [s for s in trace.spans.values() if s.attr(A.ROLE) == A.ROLE_FANOUT]
    for fanout in sorted(fanouts, key=lambda s: s.start):
        kids = [trace.spans[c] for c in trace.children.get(fanout.span_id, ())]
        branches = [k for k in kids if k.attr(A.ROLE) == A.ROLE_BRANCH]
        fanins = [k for k in kids if k.attr(A.ROLE) == A.ROLE_FANIN]
        duration = fanout.duration / NS
        if branches:
            durations = [b.duration / NS for b in branches]
            slowest = max(branches, key=lambda b: b.duration)
            median = statistics.median(durations)
            waits = [queue_wait(trace, b.span_id) for b in branches]
            slowest_s = slowest.duration / NS
            outcomes = [b.attr(A.BRANCH_OUTCOME) for b in branches]
            stats = FanoutStats(
                span_id=fanout.span_id,
                name=fanout.name,
                kind=str(fanout.attr(A.KIND, "")),
                function=str(fanout.attr(A.FUNCTION, "")),
                size=int(fanout.attr(A.FANOUT_SIZE, len(branches))),
                max_concurrency=fanout.attr(A.FANOUT_MAX_CONCURRENCY),
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
            )
        else:
            stats = FanoutStats(
                fanout.span_id, fanout.name, str(fanout.attr(A.KIND, "")),
                str(fanout.attr(A.FUNCTION, "")), 0, fanout.attr(A.FANOUT_MAX_CONCURRENCY),
                duration, 0, "", "", 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0,
                sum(f.duration for f in fanins) / NS, 0, 0,
            )  # fmt: skip
        out.append(stats)
    return out
