"""The critical path: the chain of span segments that set a trace's end-to-end time.

The definition is Jaeger UI's (``packages/jaeger-ui/src/components/TracePage/CriticalPath``):
start at the end of the root; while the current span has a child that finished at or before
the current point, the time from that child's end to the point is the current span's own
time on the path, and the walk descends into that child (the last one to finish); when no
child is left, the rest of the span back to its start is its own time, and the walk returns
to the parent with the point moved to this span's start. Children are first clipped to their
parent (a child that starts before its parent or outlives it counts only inside the parent;
one entirely outside is ignored).

Where we differ from Jaeger UI's implementation, on purpose:

* iterative, not recursive: a few thousand sequential children do not overflow a stack, and a
  million spans take seconds;
* a child that ends exactly when the current point is counts (Jaeger UI requires strictly
  before, and so skips a sibling that ends exactly when the next one starts);
* subtrees whose parent is missing are kept as extra roots under a virtual root (see
  ``tree.py``) instead of being dropped;
* the tree is built from CHILD_OF before FOLLOWS_FROM references, and cycles are cut, so the
  walk always ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from fanscope.analysis.tree import VIRTUAL_ROOT, Trace


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a span's own time on the critical path (nanoseconds since the epoch).

    ``span_id`` is ``""`` for time under the virtual root of a trace with several roots.
    """

    span_id: str
    start: int
    end: int

    @property
    def duration(self) -> int:
        return self.end - self.start


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
            start = c_start if c_start > p_start else p_start
            end = c_end if c_end < p_end else p_end
            if end < start or (end == start and c_end > c_start):
                continue  # entirely outside its parent
            out[child_id] = (start, end)
            stack.append(child_id)
    trace.cache["effective_intervals"] = out
    return out


def critical_path(trace: Trace) -> list[Segment]:
    """The critical path of ``trace`` as segments in time order."""
    eff = effective_intervals(trace)
    spans = trace.spans
    if len(trace.roots) == 1:
        root = trace.roots[0]
    else:
        root = VIRTUAL_ROOT
        eff = {**eff, root: (trace.start, trace.end)}  # a copy: the shared one stays as it is
    # Only the spans the walk visits have their children sorted (by end, then start): a path
    # touches a small part of a big trace.
    kids_by_end: dict[str, list[str]] = {}
    pointer: dict[str, int] = {}

    def kids_of(node: str) -> list[str]:
        kids = kids_by_end.get(node)
        if kids is None:
            members = trace.roots if node == VIRTUAL_ROOT else trace.children.get(node, ())
            kids = [k for k in members if k in eff]
            kids.sort(key=lambda k: (eff[k][1], eff[k][0]))
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
            break
        bound = min(bound, start)
        # after the tree's repairs every parent id is a span of the trace, or None for a root
        node = spans[node].parent_id or VIRTUAL_ROOT
    segments.reverse()
    return segments


def self_time_on_path(segments: list[Segment]) -> dict[str, int]:
    """Nanoseconds of each span's own time on the path."""
    totals: dict[str, int] = {}
    for segment in segments:
        totals[segment.span_id] = totals.get(segment.span_id, 0) + segment.duration
    return totals
