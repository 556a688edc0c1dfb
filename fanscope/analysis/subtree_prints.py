"""The fingerprints of every subtree of a trace, indexed once so that a query costs its answer.

:class:`fanscope.analysis.dependencies.Flow` asks, for a span, which fingerprints it and its
descendants took in and which they made (``docs/dataflow.md``). Walking the subtree for each
question costs its size in Python, and a trace nested thousands of levels deep asks it at
every level. This index lays the trace out once in depth-first order, so that every subtree is
one slice of it:

* the **inputs** of a subtree are the input fingerprints in its slice (one C-level copy);
  it is *partial* when a span in the slice marks its inputs partial (counted by a running sum);
* the **outputs** of a subtree are the output fingerprints in its slice that are not echoes.
  Whether an output of span ``x`` echoes an input of ``x`` or of its descendants does not
  depend on the subtree asked about: it is decided once, by a binary search among the
  positions of the spans that took that fingerprint in. Whether it echoes an input of an
  ancestor of the span asked about depends only on that span's depth: each output keeps the
  depth of the highest ancestor of ``x`` that took it in, and counts for a subtree whose root
  is no deeper than that.

Building the index costs O(n + f log f) for n spans and f fingerprints. A query answers with
two lazy sets that cost nothing until read: whether the inputs are empty is a subtraction,
whether they hold one fingerprint a binary search, so a later step's inputs can be checked
against the few outputs of the steps before it without being listed; listing them (or the
outputs) costs the fingerprints in the slice, never the spans.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Set

from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

IN, OUT = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS
PARTIAL = A.DATAFLOW_PARTIAL

_NO_HOLDER = 1 << 62  # an output no ancestor took in counts for every subtree that holds it


class SubtreePrints:
    """Every subtree's input and output fingerprints (see the module's docstring)."""

    def __init__(self, trace: Trace) -> None:
        spans = trace.spans
        order = list(_preorder(trace))
        self.first: dict[str, int] = {}  # a span's position in ``order``
        self.depth: dict[str, int] = {}
        ins_at: list[list[str]] = []
        self.holders: dict[str, list[int]] = {}  # fingerprint -> positions that took it in
        holders = self.holders
        for position, (sid, depth) in enumerate(order):
            self.first[sid] = position
            self.depth[sid] = depth
            own = spans[sid].attr_strs(IN) if IN in spans[sid].attributes else []
            ins_at.append(own)
            for fp in own:
                at = holders.setdefault(fp, [])
                if not at or at[-1] != position:
                    at.append(position)
        n = len(order)
        self.end: dict[str, int] = {}  # one past the last position of a span's subtree
        open_spans: list[str] = []
        for position, (sid, depth) in enumerate(order):
            while len(open_spans) > depth:
                self.end[open_spans.pop()] = position
            open_spans.append(sid)
        while open_spans:
            self.end[open_spans.pop()] = n

        self.in_prints: list[str] = []
        self.in_offset = [0]
        self.partial = [0]  # running count of spans marking their inputs partial
        self.out_prints: list[str] = []
        self.out_holder: list[int] = []  # depth of the highest ancestor that took it in
        self.out_offset = [0]
        above: dict[str, list[int]] = {}  # fingerprint -> depths of the open spans taking it in
        path: list[list[str]] = []  # each open span's own distinct inputs
        for position, (sid, depth) in enumerate(order):
            while len(path) > depth:
                _close(above, path.pop())
            own = ins_at[position]
            self.in_prints += own
            self.in_offset.append(len(self.in_prints))
            self.partial.append(self.partial[-1] + (PARTIAL in own))
            end = self.end[sid]
            made = spans[sid].attr_strs(OUT) if OUT in spans[sid].attributes else []
            for fp in made:
                if _held_within(holders.get(fp), position, end):
                    continue  # an echo of an input of the span or of one of its descendants
                depths = above.get(fp)
                self.out_prints.append(fp)
                self.out_holder.append(depths[0] if depths else _NO_HOLDER)
            self.out_offset.append(len(self.out_prints))
            distinct = list(dict.fromkeys(own))
            for fp in distinct:
                above.setdefault(fp, []).append(depth)
            path.append(distinct)

    def __contains__(self, span_id: str) -> bool:
        return span_id in self.first

    def size(self, span_id: str) -> int:
        """How many spans the subtree of ``span_id`` holds (itself included)."""
        return self.end[span_id] - self.first[span_id]

    def of(self, span_id: str) -> tuple[Set[str], Set[str]]:
        """(inputs, outputs) of the span and its descendants; inputs empty when partial."""
        a, b = self.first[span_id], self.end[span_id]
        ins: Set[str] = _NOTHING
        if self.partial[b] == self.partial[a] and self.in_offset[b] > self.in_offset[a]:
            ins = Inputs(self, a, b)
        lo, hi = self.out_offset[a], self.out_offset[b]
        outs: Set[str] = _NOTHING
        if hi > lo:
            depth = self.depth[span_id]
            outs = Lazy(lambda: self._outputs(lo, hi, depth))
        return ins, outs

    def _outputs(self, lo: int, hi: int, depth: int) -> frozenset[str]:
        prints, holder = self.out_prints, self.out_holder
        return frozenset(prints[i] for i in range(lo, hi) if holder[i] >= depth)


_NOTHING: frozenset[str] = frozenset()


class Lazy(Set[str]):
    """A set of fingerprints listed on first use."""

    def __init__(self, make: Callable[[], frozenset[str]]) -> None:
        self._make: Callable[[], frozenset[str]] | None = make
        self._listed: frozenset[str] = _NOTHING

    def listed(self) -> frozenset[str]:
        if self._make is not None:
            self._listed, self._make = self._make(), None
        return self._listed

    def __contains__(self, fp: object) -> bool:
        return fp in self.listed()

    def __iter__(self) -> Iterator[str]:
        return iter(self.listed())

    def __len__(self) -> int:
        return len(self.listed())

    def __hash__(self) -> int:
        return hash(self.listed())

    def __repr__(self) -> str:
        return repr(self.listed())

    def bound(self) -> int:
        """At least its length, without listing it."""
        return len(self.listed())


class Inputs(Lazy):
    """The input fingerprints of one slice: empty or not, and membership, without listing."""

    def __init__(self, index: SubtreePrints, first: int, end: int) -> None:
        lo, hi = index.in_offset[first], index.in_offset[end]
        super().__init__(lambda: frozenset(index.in_prints[lo:hi]))
        self._holders, self._first, self._end = index.holders, first, end
        self._bound = hi - lo

    def __contains__(self, fp: object) -> bool:
        return isinstance(fp, str) and _held_within(self._holders.get(fp), self._first, self._end)

    def __bool__(self) -> bool:
        return self._bound > 0

    def bound(self) -> int:
        return self._bound


def _preorder(trace: Trace) -> Iterator[tuple[str, int]]:
    """Every span once with its depth, each subtree contiguous (roots first, then any span
    no root reaches)."""
    seen: set[str] = set()
    for start in itertools.chain(trace.roots, trace.spans):
        if start in seen:
            continue
        stack = [(start, 0)]
        while stack:
            sid, depth = stack.pop()
            if sid in seen or sid not in trace.spans:
                continue
            seen.add(sid)
            yield sid, depth
            kids = trace.children.get(sid, ())
            stack.extend((kid, depth + 1) for kid in reversed(kids))


def _held_within(positions: list[int] | None, first: int, end: int) -> bool:
    """Whether a span at a position in ``[first, end)`` took the fingerprint in."""
    if not positions:
        return False
    i = bisect.bisect_left(positions, first)
    return i < len(positions) and positions[i] < end


def _close(above: dict[str, list[int]], inputs: list[str]) -> None:
    for fp in inputs:
        depths = above[fp]
        depths.pop()
        if not depths:
            del above[fp]
