"""The analysis of a set of traces, as one versioned document.

:func:`analyze` computes everything; :meth:`Report.to_dict` is the JSON schema
(``fanscope.report/v1``, documented in ``docs/analysis.md``) and every number the terminal,
Markdown and HTML reports print comes from it. The findings are written as the document's
entries (labels, path segments, fan-outs, opportunities) by ``entries.py``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fanscope.analysis import schema
from fanscope.analysis.adaptive import adaptive_limits
from fanscope.analysis.blind_pairs import blind_pairs
from fanscope.analysis.budgets import trace_budgets
from fanscope.analysis.caps import EVERY, CapPlan
from fanscope.analysis.costs import operation_costs, total_cost, trace_cost
from fanscope.analysis.critical_path import Segment, critical_path, effective_intervals
from fanscope.analysis.dependencies import Evidence, Witnesses
from fanscope.analysis.entries import (
    by_operation,
    fanout_entry,
    label,
    opportunity_entry,
    path_entries,
)
from fanscope.analysis.fanouts import FanoutStats, fanout_stats, queue_wait
from fanscope.analysis.model import Span
from fanscope.analysis.readers import from_readable_spans
from fanscope.analysis.tree import VIRTUAL_ROOT, Trace, build_traces
from fanscope.analysis.untraced import untraced
from fanscope.analysis.waits import queue_waits, retried_branches
from fanscope.analysis.whatif import whatif
from fanscope.errors import UsageError
from fanscope.sdk import attributes as A

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from fanscope.analysis.witness import SourceWitness

SCHEMA = schema.SCHEMA
NS = 1e9


@dataclass
class TraceReport:
    """The analysis of one trace. Times are seconds; ``start`` is ns since the epoch."""

    trace_id: str
    service: str
    root: str
    root_role: str
    start: int
    duration: float
    spans: int
    critical_path: list[schema.PathSegment]
    by_operation: dict[str, float]
    fanouts: list[schema.Fanout]
    opportunities: list[schema.Opportunity]
    whatif: float
    saving: float
    parallelizable_share: float
    queue_wait_total: float
    queue_wait_on_path: float
    queue_wait_share: float
    straggler_ratio: float
    unknown_pairs: int
    queue_waits: list[schema.QueueWait] = field(default_factory=list)
    retries: list[schema.RetriedBranch] = field(default_factory=list)
    untraced: list[schema.Untraced] = field(default_factory=list)
    blind_pairs: list[schema.BlindPair] = field(default_factory=list)
    candidate_pairs: int = 0
    candidate_saving: float = 0.0
    candidates_counted: bool = False
    candidates: list[schema.Opportunity] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    whatif_rate_wait: float = 0.0
    whatif_cap: schema.WhatIfCap | None = None
    cost: schema.TraceCost | None = None
    budgets: list[schema.BudgetDoc] = field(default_factory=list)
    limits: list[schema.AdaptiveLimitDoc] = field(default_factory=list)

    def to_dict(self) -> schema.TraceDoc:
        """This trace's object of the JSON document (``traces[]``)."""
        return {
            "trace_id": self.trace_id,
            "service": self.service,
            "root": self.root,
            "root_role": self.root_role,
            "start": self.start,
            "duration": self.duration,
            "spans": self.spans,
            "critical_path": self.critical_path,
            "by_operation": self.by_operation,
            "fanouts": self.fanouts,
            "opportunities": self.opportunities,
            "whatif": self.whatif,
            "saving": self.saving,
            "parallelizable_share": self.parallelizable_share,
            "queue_wait_total": self.queue_wait_total,
            "queue_wait_on_path": self.queue_wait_on_path,
            "queue_wait_share": self.queue_wait_share,
            "straggler_ratio": self.straggler_ratio,
            "unknown_pairs": self.unknown_pairs,
            "queue_waits": self.queue_waits,
            "retries": self.retries,
            "untraced": self.untraced,
            "blind_pairs": self.blind_pairs,
            "candidate_pairs": self.candidate_pairs,
            "candidate_saving": self.candidate_saving,
            "candidates_counted": self.candidates_counted,
            "candidates": self.candidates,
            "warnings": self.warnings,
            "whatif_rate_wait": self.whatif_rate_wait,
            "whatif_cap": self.whatif_cap,
            "cost": self.cost,
            "budgets": self.budgets,
            "limits": self.limits,
        }


@dataclass
class Report:
    """Every trace's analysis, per-operation statistics across traces, and warnings."""

    traces: list[TraceReport]
    operations: dict[str, schema.OperationStats]
    warnings: list[str]
    sources: list[str] = field(default_factory=list)
    operation_costs: dict[str, schema.OperationCost] = field(default_factory=dict)

    def to_dict(self) -> schema.ReportDoc:
        """The JSON document, ``fanscope.report/v1`` (``fanscope.analysis.schema``)."""
        return {
            "schema": SCHEMA,
            "sources": list(self.sources),
            "traces": [t.to_dict() for t in self.traces],
            "operations": self.operations,
            "operation_costs": self.operation_costs,
            "cost": total_cost(t.cost for t in self.traces),
            "warnings": list(self.warnings),
        }

    def trace(self, trace_id: str | None = None) -> TraceReport:
        """One trace's report (the only one, or the one with ``trace_id``)."""
        if trace_id is None:
            if len(self.traces) != 1:
                raise ValueError(f"the report has {len(self.traces)} traces; pass a trace id")
            return self.traces[0]
        for t in self.traces:
            if t.trace_id == trace_id:
                return t
        raise KeyError(trace_id)


def _queue_on_path(trace: Trace, segments: Sequence[Segment]) -> float:
    """Seconds of the critical path during which the path's next work was waiting in line.

    A branch's first wait for a slot is the gap just before its span (``docs/conventions.md``:
    ``fanscope.queue.wait_s`` less its ``queue`` spans); later waits are ``queue`` spans. For
    every branch on the path, its first wait is the stretch of the path just before it starts
    (whatever span the path runs through then: the sibling holding the slot, or the fan-out
    itself), and every ``queue`` segment on the path counts whole. The union of these
    stretches is the answer, so overlapping waits of a chain of branches count once.
    """
    eff = effective_intervals(trace)
    spans = trace.spans
    stretches: list[tuple[int, int]] = []
    for sid in {s.span_id for s in segments}:
        if sid == VIRTUAL_ROOT or sid not in eff or spans[sid].attr_str(A.ROLE) != A.ROLE_BRANCH:
            continue
        later_waits = sum(
            spans[k].duration
            for k in trace.children.get(sid, ())
            if spans[k].attr_str(A.ROLE) == A.ROLE_QUEUE
        )
        # a damaged wait (a huge or infinite number) is at most the whole trace
        waited = min(queue_wait(trace, sid) * NS, float(max(trace.duration, 0)))
        first_wait = int(waited) - later_waits
        if first_wait > 0:
            start = eff[sid][0]
            parent = trace.parent(sid)
            floor = eff[parent][0] if parent is not None and parent in eff else trace.start
            stretches.append((max(floor, start - first_wait), start))
    stretches += [
        (s.start, s.end)
        for s in segments
        if s.span_id and spans[s.span_id].attr_str(A.ROLE) == A.ROLE_QUEUE
    ]
    total, reached = 0, None
    for lo, hi in sorted(stretches):
        if reached is not None and lo < reached:
            lo = reached
        if hi > lo:
            total += hi - lo
        reached = hi if reached is None else max(reached, hi)
    return total / NS


def analyze_trace(
    trace: Trace,
    what_if_caps: Mapping[str, int] | None = None,
    witnesses: Witnesses | None = None,
    source: SourceWitness | None = None,
) -> TraceReport:
    """One trace's analysis; ``witnesses`` say who decides what depends on what."""
    segments = critical_path(trace)
    start = trace.start
    path = path_entries(trace, segments)
    on_path = {s.span_id for s in segments}
    stats: list[FanoutStats] = fanout_stats(trace)
    cost, fanout_costs = trace_cost(trace)
    fanouts = [
        fanout_entry(
            f,
            f.span_id in on_path or any(c in on_path for c in trace.children.get(f.span_id, ())),
            fanout_costs.get(f.span_id),
        )
        for f in stats
    ]
    plan = whatif(trace, None, witnesses, source)
    capped = _whatif_cap(trace, what_if_caps) if what_if_caps else None
    duration = trace.duration / NS
    waits = queue_waits(trace, {f.span_id: f.parallelism for f in stats})
    limits = adaptive_limits(trace)
    moving = {x["name"] for x in limits}
    for w in waits:  # an adaptive cap has no one value: what it did is in ``limits``
        if w["kind"] == "slot" and w["limiter"] in moving:
            w["max_concurrency"] = None
    queue_total = sum(w["wait"] for w in waits)  # lone calls' waits too, not only fan-outs'
    queue_path = _queue_on_path(trace, segments)
    blinds = (
        blind_pairs(trace, Evidence(trace, witnesses or Witnesses(), source))
        if plan.unknown_pairs
        else []
    )
    trace.cache.clear()  # one trace's intervals at a time, not a million spans' worth at once
    stragglers = [f.straggler_ratio for f in stats if f.branches >= 2]
    return TraceReport(
        trace_id=trace.trace_id,
        service=trace.service(),
        root=label(trace, trace.roots[0]) if len(trace.roots) == 1 else "(several roots)",
        root_role=_root_role(trace),
        start=start,
        duration=duration,
        spans=len(trace.spans),
        critical_path=path,
        by_operation=by_operation(path),
        fanouts=fanouts,
        opportunities=[opportunity_entry(trace, o) for o in plan.opportunities],
        whatif=plan.duration,
        saving=plan.saving,
        parallelizable_share=plan.saving / duration if duration > 0 else 0.0,
        queue_wait_total=queue_total,
        queue_wait_on_path=queue_path,
        queue_wait_share=queue_path / duration if duration > 0 else 0.0,
        straggler_ratio=max(stragglers, default=1.0),
        unknown_pairs=plan.unknown_pairs,
        queue_waits=waits,
        retries=retried_branches(trace, on_path),
        untraced=untraced(trace, path, duration),
        blind_pairs=blinds,
        warnings=[*trace.warnings, *plan.warnings, *_shared_waits(trace)],
        whatif_rate_wait=plan.rate_wait,
        whatif_cap=capped,
        candidate_pairs=plan.candidate_pairs,
        candidate_saving=plan.candidate_saving,
        candidates_counted=plan.candidates_counted,
        candidates=[opportunity_entry(trace, o) for o in plan.candidates],
        cost=cost,
        budgets=trace_budgets(trace),
        limits=limits,
    )


def _whatif_cap(trace: Trace, caps: Mapping[str, int]) -> schema.WhatIfCap:
    plan = CapPlan(caps)
    result = whatif(trace, plan)
    return {
        "caps": dict(caps),
        "matched": sorted(plan.matched),
        "whatif": result.duration,
        "saving": result.observed - result.duration,
    }


def _root_role(trace: Trace) -> str:
    """The root span's ``fanscope.role`` (``""`` for another span, or several roots)."""
    if len(trace.roots) != 1:
        return ""
    return trace.spans[trace.roots[0]].attr_str(A.ROLE) or ""


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def operation_stats(traces: Sequence[TraceReport]) -> dict[str, schema.OperationStats]:
    """Per operation: p50 and p95 of its time on the critical path, over the traces where it
    is on the path (``traces`` says in how many): an operation absent from a trace says
    nothing about its time, so it is not counted as 0 there."""
    samples: dict[str, list[float]] = {}
    for t in traces:
        for name, seconds in t.by_operation.items():
            samples.setdefault(name, []).append(seconds)
    out: dict[str, schema.OperationStats] = {}
    for name, values in samples.items():
        out[name] = {
            "traces": float(len(values)),
            "p50": _percentile(values, 50),
            "p95": _percentile(values, 95),
            "mean": statistics.fmean(values),
        }
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["p50"]))


def _as_spans(items: Iterable[Any]) -> Iterator[Span]:
    for item in items:
        if isinstance(item, Span):
            yield item
        elif hasattr(item, "context") and hasattr(item, "start_time"):
            yield from from_readable_spans([item])
        else:
            raise UsageError(
                f"analyze() takes spans, not {type(item).__name__}: pass read_file(path).spans "
                "or OpenTelemetry SDK spans (exporter.get_finished_spans())"
            )


def analyze(
    spans: Iterable[Span | ReadableSpan],
    *,
    trace_id: str | None = None,
    warnings: Sequence[str] = (),
    sources: Sequence[str] = (),
    what_if_caps: Mapping[str, int] | None = None,
    witnesses: Witnesses | None = None,
) -> Report:
    """Analyse every trace in ``spans`` (or only ``trace_id``).

    Args:
        spans: the analyzer's spans (``read_file(path).spans``, ``read_files(paths).spans``)
            or OpenTelemetry SDK spans (an in-memory exporter's ``get_finished_spans()``),
            of any number of traces, in any order.
        trace_id: analyse only this trace (its 32 hex digits, or the end of them).
        warnings: read warnings to carry into the report (``ReadResult.warnings``).
        sources: the files read, for the report's header.
        what_if_caps: also answer "what if the cap were N" (each trace's ``whatif_cap``):
            ``{"*": N}`` replaces every recorded cap, ``{NAME: N}`` sets the cap of the
            function or limiter NAME (``docs/analysis.md``).
        witnesses: who decides what depends on what (``Witnesses``: the source root, each
            witness on or off, whether candidates count); by default both witnesses, the
            source read under the working directory, candidates not counted.

    Returns:
        The :class:`Report`: one :class:`TraceReport` per trace with a root, in order of
        first appearance; ``to_dict()`` is the versioned JSON schema.

    Raises:
        UsageError: an item is neither kind of span, or a cap is not a whole number >= 1.
    """
    for name, cap in (what_if_caps or {}).items():
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1 or not name:
            raise UsageError(
                f"what-if cap {name}={cap!r}: a cap is a whole number >= 1 "
                f"(write {EVERY!r}: 16 for every cap, or 'summarize': 16 for one function)"
            )
    traces = build_traces(_as_spans(spans))
    if trace_id is not None:
        wanted = trace_id.lower()
        traces = [t for t in traces if t.trace_id == wanted or t.trace_id.endswith(wanted)]
    chosen = witnesses or Witnesses()
    source = chosen.witness()  # one for every trace: each file is read and parsed once
    reports = [analyze_trace(t, what_if_caps, chosen, source) for t in traces if t.roots]
    return Report(
        reports,
        operation_stats(reports),
        [*warnings, *_source_not_found(source)],
        list(sources),
        operation_costs(r.cost for r in reports),
    )


def _source_not_found(source: SourceWitness | None) -> list[str]:
    """A warning when files the traces name are not under the source root: run from another
    folder, the source witness sees none of their calls, its pairs stay candidates, and a
    gate on the what-if passes on evidence it never had."""
    if source is None or not source.missing:
        return []
    from fanscope.analysis.source import tail

    missing = sorted(source.missing)
    return [
        f"{len(missing)} source file(s) the trace names are not under {tail(source.index.root)} "
        f"(such as {tail(Path(missing[0]))}): the calls made there are judged without their "
        "source, so pairs among them stay candidates and gates do not count them; run "
        "'fanscope analyze' from the project's root or pass --source-root"
    ]


def _shared_waits(trace: Trace) -> list[str]:
    """A warning when calls waited for a limiter shared with other processes: the slots may have
    been held by calls this trace does not contain, so the what-if's schedule (which sees only
    this trace) may be faster than the shared limit allows."""
    waited, total = 0, 0.0
    for s in trace.spans.values():
        if s.attributes.get(A.QUEUE_SHARED) is True and s.attributes.get(A.ROLE) != A.ROLE_QUEUE:
            wait = s.attr_float(A.QUEUE_WAIT)
            if wait and 0 < wait < float("inf"):
                waited, total = waited + 1, total + wait
    if not waited:
        return []
    return [
        f"{waited} call(s) waited {total:.3g} s in all for a limiter shared with other processes; "
        "the what-if sees only this trace, so its savings assume those slots would have been free"
    ]
