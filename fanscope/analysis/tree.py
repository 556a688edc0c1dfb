"""The span tree of one trace, repaired: every damage found is fixed and named in a warning.

Repairs, in order:

* **duplicate span ids**: the first span with an id is kept, later ones are dropped;
* **negative durations**: a span that ends before it starts is given zero duration;
* **missing parents**: a span whose parent is not in the trace becomes a root with its
  subtree (as Jaeger UI does);
* **a span that is its own parent** becomes a root;
* **cycles**: a span whose ancestors lead back to itself has its parent link cut there;
* **several roots**: each root owns its time on the critical path (``critical_path.py``);
  time that no root covers is ``(no span)``;
* **clock skew**: children that start before their parent or end after it (clock skew
  between hosts, or work that outlived its parent) keep their own times in the tree; the
  critical path and the what-if see them clipped to the parent, as Jaeger UI does
  (``effective_intervals``), and the trace gets a warning naming how many.

Every repair is named in one warning line of ``Trace.warnings``. Repairs never change the
spans given: a repaired span is a copy, kept in ``Trace.spans``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fanscope.analysis.model import Span

VIRTUAL_ROOT = ""


@dataclass
class Trace:
    """One trace's spans, tree and repairs."""

    trace_id: str
    spans: dict[str, Span]
    children: dict[str, list[str]]
    roots: list[str]
    warnings: list[str] = field(default_factory=list)
    #: Values computed once per trace and shared by the analyses (``effective_intervals``).
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def start(self) -> int:
        return min(self.spans[r].start for r in self.roots)

    @property
    def end(self) -> int:
        return max(self.spans[r].end for r in self.roots)

    @property
    def duration(self) -> int:
        return self.end - self.start

    def parent(self, span_id: str) -> str | None:
        parent = self.spans[span_id].parent_id
        return parent if parent in self.spans else None

    def service(self) -> str:
        for root in self.roots:
            if self.spans[root].service:
                return self.spans[root].service
        return next((s.service for s in self.spans.values() if s.service), "")

    def descendants(self, span_id: str) -> Iterable[str]:
        stack = list(self.children.get(span_id, ()))
        while stack:
            current = stack.pop()
            yield current
            stack.extend(self.children.get(current, ()))


def build_traces(spans: Iterable[Span]) -> list[Trace]:
    """Group spans by trace and build each repaired tree, in order of first appearance."""
    grouped: dict[str, list[Span]] = {}
    for span in spans:
        grouped.setdefault(span.trace_id, []).append(span)
    return [build_trace(trace_id, members) for trace_id, members in grouped.items()]


def build_trace(trace_id: str, members: list[Span]) -> Trace:
    warnings: list[str] = []
    by_id: dict[str, Span] = {}
    duplicates = 0
    negative = 0
    for span in members:
        if span.span_id in by_id:
            duplicates += 1
            continue
        if span.end < span.start:
            negative += 1
            span = replace(span, end=span.start)  # repairs copy: the caller's spans stay as given
        by_id[span.span_id] = span
    if duplicates:
        warnings.append(f"{duplicates} span(s) repeat an earlier span id; the first is kept")
    if negative:
        warnings.append(f"{negative} span(s) end before they start; read as zero duration")

    orphans = 0
    selves = 0
    cut: list[str] = []
    for span in by_id.values():
        if span.parent_id is not None and (
            span.parent_id not in by_id or span.parent_id == span.span_id
        ):
            if span.parent_id == span.span_id:
                selves += 1
            else:
                orphans += 1
            cut.append(span.span_id)
    for span_id in cut:
        by_id[span_id] = replace(by_id[span_id], parent_id=None)
    cycles = _break_cycles(by_id)
    if orphans:
        warnings.append(f"{orphans} span(s) have a parent missing from the trace; kept as roots")
    if selves:
        warnings.append(f"{selves} span(s) name themselves as their parent; read as roots")
    if cycles:
        warnings.append(f"{cycles} parent cycle(s) broken; the span closing each is a root")

    children: dict[str, list[str]] = {}
    roots: list[str] = []
    skewed = 0
    for span in by_id.values():
        parent_id = span.parent_id
        if parent_id is None:
            roots.append(span.span_id)
        else:
            children.setdefault(parent_id, []).append(span.span_id)
            parent = by_id[parent_id]
            if span.start < parent.start or span.end > parent.end:
                skewed += 1
    if len(roots) > 1:
        warnings.append(
            f"{len(roots)} root spans; each root's time is its own on the critical path, "
            "and time no root covers is (no span)"
        )
    if skewed:
        warnings.append(
            f"{skewed} span(s) start before or end after their parent (clock skew, or work "
            "that outlived it); clipped to the parent, as Jaeger UI does"
        )
    return Trace(trace_id, by_id, children, roots, warnings)


def _break_cycles(by_id: dict[str, Span]) -> int:
    """Cut the parent link that closes each cycle; return how many were cut."""
    state: dict[str, int] = {}  # 1: on the current walk, 2: known to reach a root
    cut = 0
    for start in by_id:
        if state.get(start) == 2:
            continue
        path = []
        current: str | None = start
        while current is not None and state.get(current) is None:
            state[current] = 1
            path.append(current)
            current = by_id[current].parent_id
        if current is not None and state.get(current) == 1:
            by_id[current] = replace(by_id[current], parent_id=None)  # its ancestors lead to it
            cut += 1
        for node in path:
            state[node] = 2
    return cut
