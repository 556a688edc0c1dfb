"""How one trace's findings are written as entries of the report's document.

The analysis proper (``analyze.py``) decides what is on the critical path, which fan-outs
straggled and what could have run together; this module only writes those findings in the
shapes of ``fanscope.analysis.schema``: each span named as a reader knows it (:func:`label`),
a span fanscope did not make placed within its step (:func:`owner`), times turned into
seconds from the trace's start. It is separate because every entry shares these words, and
the report's wording can change here without touching what the analysis computes.
"""

from __future__ import annotations

from collections.abc import Sequence

from fanscope.analysis import schema
from fanscope.analysis.critical_path import Segment
from fanscope.analysis.dependencies import PairVerdict
from fanscope.analysis.fanouts import FanoutStats
from fanscope.analysis.tree import VIRTUAL_ROOT, Trace
from fanscope.analysis.whatif import Opportunity
from fanscope.analysis.witness import CallSite
from fanscope.sdk import attributes as A

NS = 1e9


def label(trace: Trace, span_id: str) -> str:
    """A span as the report names it: its branch name, ``name[index]`` for an unnamed
    branch, else the span's name; ``(no span)`` for the gaps no span covers."""
    if span_id == VIRTUAL_ROOT:
        return "(no span)"
    span = trace.spans[span_id]
    name = span.attr_str(A.BRANCH_NAME)
    index = span.attr_int(A.BRANCH_INDEX)
    if name:
        return name if name == span.name else f"{span.name} ({name})"
    if index is not None and span.attr_str(A.ROLE) == A.ROLE_BRANCH:
        return f"{span.name}[{index}]"
    return span.name


def owner(trace: Trace, span_id: str, cache: dict[str, str]) -> str:
    """For a span fanscope did not make (an LLM call, say): its nearest ancestor that fanscope
    made (a step or branch), so that a path of ``chat`` spans says which step each belongs to;
    ``""`` for fanscope's own spans and when there is no such ancestor."""
    if span_id == VIRTUAL_ROOT or trace.spans[span_id].attr_str(A.ROLE) is not None:
        return ""
    found = cache.get(span_id)
    if found is not None:
        return found
    walked = []  # every span passed on the way up has the same owner: remember it for each
    current = trace.parent(span_id)
    found = ""
    while current is not None:
        if trace.spans[current].attr_str(A.ROLE) is not None:
            found = current
            break
        known = cache.get(current)
        if known is not None:
            found = known
            break
        walked.append(current)
        current = trace.parent(current)
    cache[span_id] = found
    for sid in walked:
        cache[sid] = found
    return found


def path_entries(trace: Trace, segments: Sequence[Segment]) -> list[schema.PathSegment]:
    """The critical path's segments as ``critical_path[]``: times in seconds from the trace's
    start, each span labelled, and a span fanscope did not make placed within its step
    (``operation`` reads ``step > chat``)."""
    start = trace.start
    owners: dict[str, str] = {}
    path: list[schema.PathSegment] = []
    for s in segments:
        operation = trace.spans[s.span_id].name if s.span_id else "(no span)"
        within = owner(trace, s.span_id, owners)
        if within:
            operation = f"{trace.spans[within].name} > {operation}"
        path.append(
            {
                "span_id": s.span_id,
                "name": label(trace, s.span_id),
                "operation": operation,
                "within": label(trace, within) if within else "",
                "start": (s.start - start) / NS,
                "end": (s.end - start) / NS,
                "duration": s.duration / NS,
            }
        )
    return path


def by_operation(path: Sequence[schema.PathSegment]) -> dict[str, float]:
    """Seconds of the path spent in each operation, most first."""
    seconds: dict[str, float] = {}
    for seg in path:
        operation = seg["operation"]
        seconds[operation] = seconds.get(operation, 0.0) + seg["duration"]
    return dict(sorted(seconds.items(), key=lambda kv: -kv[1]))


def fanout_entry(
    f: FanoutStats, on_critical_path: bool, cost: schema.FanoutCost | None
) -> schema.Fanout:
    """A fan-out's statistics as its object in ``fanouts[]``."""
    return {
        "span_id": f.span_id,
        "name": f.name,
        "kind": f.kind,
        "function": f.function,
        "size": f.size,
        "max_concurrency": f.max_concurrency,
        "duration": f.duration,
        "branches": f.branches,
        "slowest_span_id": f.slowest_span_id,
        "slowest_name": f.slowest_name,
        "slowest": f.slowest,
        "slowest_share": f.slowest_share,
        "median": f.median,
        "straggler_ratio": f.straggler_ratio,
        "queue_wait": f.queue_wait,
        "queue_wait_max": f.queue_wait_max,
        "parallelism": f.parallelism,
        "fanin": f.fanin,
        "failed": f.failed,
        "cancelled": f.cancelled,
        "early_stop": f.early_stop,
        "hedges": f.hedges,
        "hedges_won": f.hedges_won,
        "on_critical_path": on_critical_path,
        "cost": cost,
    }


def opportunity_entry(trace: Trace, o: Opportunity) -> schema.Opportunity:
    """A what-if opportunity as its object in ``opportunities[]`` (or ``candidates[]``), each
    step named, placed in time and pointed at its call site, each pair with its evidence."""

    def ref(sid: str) -> schema.StepRef:
        span = trace.spans[sid]
        site = CallSite.of(span)
        return {
            "span_id": sid,
            "name": label(trace, sid),
            "start": (span.start - trace.start) / NS,
            "duration": span.duration / NS,
            "where": site.where if site is not None else "",
        }

    def pair(v: PairVerdict) -> schema.PairEvidence:
        return {
            "earlier": ref(v.earlier),
            "later": ref(v.later),
            "classification": v.classification.value,
            "decided_by": v.decided_by,  # type: ignore[typeddict-item]
            "source": v.source,
            "fingerprints": v.fingerprints,
        }

    return {
        "parent_span_id": o.parent_span_id,
        "parent": label(trace, o.parent_span_id),
        "run_together": [[ref(s) for s in group] for group in o.run_together],
        "keep_after": [
            {"step": ref(step), "after": [ref(p) for p in after]} for step, after in o.keep_after
        ],
        "observed": o.observed,
        "whatif": o.whatif,
        "saving": o.saving,
        "evidence": [pair(v) for v in o.evidence],
    }
