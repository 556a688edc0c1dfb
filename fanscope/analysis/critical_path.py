"""The critical path: the chain of span segments that set a trace's end-to-end time.

The definition is Jaeger UI's (``packages/jaeger-ui/src/components/TracePage/CriticalPath``):

* **clipping**: children are first clipped to their (clipped) parent; a child that starts at
  or after its parent's end, or ends at or before its parent's start, is dropped with its
  subtree; a CONSUMER child of a PRODUCER span does not block it and is dropped too;
* **one root**: start at the end of the root; while the current span has a child that
  finished by the current point, the time from that child's end to the point is the current
  span's own time on the path, and the walk descends into that child: the last one to
  finish and, on a tie, the one that started earliest (then the first in the trace's order);
  when no child is left, the rest of the span back to its start is its own time, and the
  walk returns to the parent with the point moved to this span's start;
* **several roots** (spans whose parent is missing, a second root): Jaeger UI draws one
  path per root. A report has one chain across the trace's window, so each instant is given
  to one root and shows that root's own path: walking back from the trace's end, a root
  running at the current point owns the time back to its start (the one that started
  earliest, when several were running); when none is running, the one that ended last before
  the point (ties as above) owns its whole time, and the gap after it is ``(no span)``. So
  ``(no span)`` is only ever time no span covers.

Where we differ from Jaeger UI's implementation, on purpose:

* iterative, not recursive: a few thousand sequential children do not overflow a stack, and a
  million spans take seconds;
* a child that ends exactly when the current point is counts (Jaeger UI requires strictly
  before when coming back to a parent, and so skips a sibling that ends exactly when the
  next one starts); each child is taken at most once;
* the tree is built from CHILD_OF before FOLLOWS_FROM references, and cycles are cut, so the
  walk always ends;
* times are compared in nanoseconds (Jaeger keeps microseconds: two ends less than a
  microsecond apart tie there and not here).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from fanscope.analysis.tree import VIRTUAL_ROOT, Trace


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a span's own time on the critical path (nanoseconds since the epoch).

    ``span_id`` is ``""`` (``VIRTUAL_ROOT``) for time no span of the trace covers.
    """

    span_id: str
    start: int
    end: int

    @property
    def duration(self) -> int:
        return self.end - self.start


PRODUCER, CONSUMER = 4, 5  # OTLP span kinds


def effective_intervals(trace: Trace) -> dict[str, tuple[int, int]]:
    """Every span's interval clipped to its parent's (absent: entirely outside its parent).

    Computed once per trace (kept in ``trace.cache``); callers must not change it.
    """
    cached: dict[str, tuple[int, int]] | None = trace.cache.get("effective_intervals")
    if cached is not None:
        return cached
    out: dict[str, tuple[int, int]] = {}
    spans, children = trace.spans, trace.children
    stack: list[str] = []
    for root in trace.roots:
        span = spans[root]
        out[root] = (span.start, span.end)
        stack.append(root)
    while stack:
        parent = stack.pop()
        kids = children.get(parent)
        if not kids:
            continue
        p_start, p_end = out[parent]
        for child_id in kids:
            child = spans[child_id]
            c_start, c_end = child.start, child.end
            if c_start >= p_start:
                if c_start >= p_end:
                    continue  # starts when its parent has ended: outside
            elif c_end <= p_start:
                continue  # ended before its parent started: outside
            out[child_id] = (
                c_start if c_start > p_start else p_start,
                c_end if c_end < p_end else p_end,
            )
            stack.append(child_id)
    trace.cache["effective_intervals"] = out
    return out


def critical_path(trace: Trace) -> list[Segment]:
    """The critical path of ``trace`` as segments in time order, covering its whole window."""
    eff = effective_intervals(trace)
    roots = sorted((r for r in trace.roots if r in eff), key=lambda r: eff[r][0])  # stable
    # the latest end among the roots that started first: prefix maxima, to find in O(log n)
    # the root that owns the time before a point
    reach = list(itertools.accumulate((eff[r][1] for r in roots), max))
    starts = [eff[r][0] for r in roots]
    segments: list[Segment] = []
    point = max(reach, default=0)
    while True:
        started = bisect.bisect_left(starts, point)  # roots that started before the point
        if not started:
            break
        # running at the point: the first that reaches it; else the last to end before it
        # (ties on the end: the first in start order)
        target = min(point, reach[started - 1])
        root = roots[bisect.bisect_left(reach, target, 0, started)]
        start, end = eff[root]
        if end < point:
            segments.append(Segment(VIRTUAL_ROOT, end, point))
        path = _root_path(trace, root, eff)  # reverse time order
        segments.extend(path if end <= point else reversed(_clip(path, point)))
        point = start
    segments.reverse()
    return segments


def _clip(path: list[Segment], end: int) -> list[Segment]:
    """The part of a root's path (in reverse time order) before ``end``, in time order."""
    out = []
    for seg in reversed(path):
        if seg.start >= end:
            break
        out.append(seg if seg.end <= end else Segment(seg.span_id, seg.start, end))
    return out


def _root_path(trace: Trace, root: str, eff: dict[str, tuple[int, int]]) -> list[Segment]:
    """Jaeger UI's path of one root, as segments in reverse time order."""
    spans = trace.spans
    # Only the spans the walk visits have their children sorted (by end, then the earliest
    # start, then the first in the trace's order, last): a path touches a small part of a
    # big trace.
    kids_by_end: dict[str, list[str]] = {}
    pointer: dict[str, int] = {}

    def kids_of(node: str) -> list[str]:
        kids = kids_by_end.get(node)
        if kids is None:
            members = trace.children.get(node, ())
            blocking = spans[node].kind != PRODUCER
            kids = [k for k in members if k in eff and (blocking or spans[k].kind != CONSUMER)]
            kids.reverse()  # the sort is stable: of equal keys, the first child ends up last
            kids.sort(key=lambda k: (eff[k][1], -eff[k][0]))
            kids_by_end[node] = kids
            pointer[node] = len(kids) - 1
        return kids

    segments: list[Segment] = []
    node = root
    bound = eff[root][1]
    while True:
        kids = kids_of(node)
        chosen = None
        i = pointer[node]
        # bounds only move back in time, so a child ending after the bound never comes back
        while i >= 0 and eff[kids[i]][1] > bound:
            i -= 1
        if i >= 0:
            chosen = kids[i]
            pointer[node] = i - 1
        else:
            pointer[node] = -1
        if chosen is not None:
            child_end = eff[chosen][1]
            if child_end < bound:
                segments.append(Segment(node, child_end, bound))
            node, bound = chosen, child_end
            continue
        start = eff[node][0]
        if start < bound:
            segments.append(Segment(node, start, bound))
        if node == root:
            return segments
        bound = min(bound, start)
        # after the tree's repairs every parent id is a span of the trace
        node = spans[node].parent_id or root


def self_time_on_path(segments: list[Segment]) -> dict[str, int]:
    """Nanoseconds of each span's own time on the path."""
    totals: dict[str, int] = {}
    for segment in segments:
        totals[segment.span_id] = totals.get(segment.span_id, 0) + segment.duration
    return totals
