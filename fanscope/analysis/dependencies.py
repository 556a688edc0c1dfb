"""What depends on what: the relation between sibling steps that ran one after another.

For every span, its children are the steps it took. Two children that ran one after another
(the earlier ended before the later started) are related by their data-flow fingerprints
(``docs/dataflow.md``). Each child counts its own fingerprints and its descendants': a step's
output may be recorded on the step's span, and the prompt that used it on an LLM call span
inside the later step.

* **depends**: an input fingerprint of the later one is an output fingerprint of the earlier;
* **independent**: the earlier one has output fingerprints, the later one has input
  fingerprints, and none match;
* **unknown**: either side has none to compare (spans of other instrumentations, fingerprints
  turned off, a value fanscope does not hash, a step without arguments), or the later one's
  inputs are marked partial (they may miss an earlier output: ``docs/dataflow.md``).
  Unknown is treated as depends: the analyzer never claims a saving it cannot show.

:func:`relation` states this for one pair; :class:`StepDependencies` answers it for all the
children of one span in a single pass (what the what-if schedule in ``whatif.py`` uses).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

IN, OUT = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS
PARTIAL = A.DATAFLOW_PARTIAL

Prints = tuple[frozenset[str], frozenset[str]]
_NONE: Prints = (frozenset(), frozenset())


class Relation(StrEnum):
    """How a later sibling relates to one that ended before it started."""

    DEPENDS = "depends"
    INDEPENDENT = "independent"
    UNKNOWN = "unknown"


class Flow:
    """Fingerprints of a span and its descendants, computed on demand.

    Each query walks the span's subtree, so a trace nested thousands of levels deep with a
    sibling at every level would cost the square of its size. The walks of one trace share a
    budget of span visits (ten per span in the trace, and at least a million); past it, a
    span's fingerprints read as none (unknown: kept in order, no saving claimed) and
    ``exhausted`` is set, for the trace's warning.
    """

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._cache: dict[str, Prints] = {}
        self.budget = max(1_000_000, 10 * len(trace.spans))
        self.exhausted = False

    def of(self, span_id: str) -> Prints:
        """(inputs, outputs) fingerprints of a span and its descendants."""
        cached = self._cache.get(span_id)
        if cached is not None:
            return cached
        ins: set[str] = set()
        outs: set[str] = set()
        partial = False
        spans = self.trace.spans
        for sid in itertools.chain((span_id,), self.trace.descendants(span_id)):  # lazily
            self.budget -= 1
            if self.budget < 0:
                self.exhausted = True
                self._cache[span_id] = _NONE
                return _NONE
            span = spans[sid]
            attributes = span.attributes
            if IN in attributes:
                prints = span.attr_strs(IN)
                if PARTIAL in prints:  # may miss an earlier output: compare nothing
                    partial = True
                ins.update(prints)
            if OUT in attributes:
                outs.update(span.attr_strs(OUT))
        result = (frozenset() if partial else frozenset(ins), frozenset(outs))
        self._cache[span_id] = result
        return result


def relation(flow: Flow, earlier: str, later: str) -> Relation:
    """The relation of ``later`` to ``earlier`` (which ended before ``later`` started)."""
    ins = flow.of(later)[0]
    outs = flow.of(earlier)[1]
    if not ins or not outs:
        return Relation.UNKNOWN
    return Relation.DEPENDS if not ins.isdisjoint(outs) else Relation.INDEPENDENT


@dataclass(frozen=True, slots=True)
class Wait:
    """What one step must wait for among the siblings that ended before it started.

    Attributes:
        ready: the latest of their ``placed`` finish times that it depends on (or might:
            unknown), or the floor when none.
        depth: the deepest of their ``placed`` levels that it depends on, or -1.
        after: the siblings it waits for, as named in reports: each producer of an input,
            and the latest of the ones it waits for for want of fingerprints.
        unknown: how many of the pairs it forms with them are unknown.
        previous_end: the latest observed end among them (the floor when none): the
            parent's own time between that and this step's start stays with the step.
    """

    ready: int
    depth: int
    after: list[str]
    unknown: int
    previous_end: int


class StepDependencies:
    """The children of one span, in start order: what each must wait for, in one pass.

    O(n log n) for n children: the children that ended before the current one started are
    taken in order of their end and kept as running maxima (of all of them, and of those
    without output fingerprints) and as an index from output fingerprint to its producers.
    A step without input fingerprints waits for all of them (unknown); one with inputs waits
    for the producers of its inputs (depends) and for those without output fingerprints
    (unknown). The pairs it forms with every other earlier sibling are independent.

    The times folded are the caller's (``placed``: a sibling's what-if finish and level),
    so that the schedule decides when things run and this class only what waits for what.
    """

    def __init__(
        self,
        kids: list[str],
        eff: Mapping[str, tuple[int, int]],
        flow: Flow,
        floor: int,
    ) -> None:
        self.kids, self.eff, self.flow, self.floor = kids, eff, flow, floor
        position = {k: i for i, k in enumerate(kids)}
        self.position = position
        self._by_end = sorted(kids, key=lambda k: (eff[k][1], position[k]))
        self._taken = 0
        self._last_end = floor
        self._all = (floor, -1, 0, "")  # finish, level, count, latest
        self._blind = (floor, -1, 0, "")
        self._producers: dict[str, tuple[int, int, str]] = {}  # print -> finish, level, latest

    def _admit(self, before: int, placed: Mapping[str, tuple[int, int]]) -> None:
        """Take in every sibling that ended at or before ``before`` and has been placed."""
        by_end, eff = self._by_end, self.eff
        while self._taken < len(by_end):
            done = by_end[self._taken]
            if eff[done][1] > before or done not in placed:
                break  # not ended yet (or a zero-length sibling at this instant, not yet placed)
            self._taken += 1
            f, lv = placed[done]
            self._last_end = max(self._last_end, eff[done][1])
            af, al, ac, _ = self._all
            self._all = (max(af, f), max(al, lv), ac + 1, done)
            outs = self.flow.of(done)[1]
            if not outs:
                bf, bl, bc, _ = self._blind
                self._blind = (max(bf, f), max(bl, lv), bc + 1, done)
            producers = self._producers
            for fp in outs:
                known = producers.get(fp)
                if known is None:
                    producers[fp] = (f, lv, done)
                else:
                    producers[fp] = (max(known[0], f), max(known[1], lv), done)

    def wait(self, later: str, placed: Mapping[str, tuple[int, int]]) -> Wait:
        """What ``later`` (the next child in start order) must wait for.

        ``placed`` maps each child already scheduled to its (what-if finish, level).
        """
        self._admit(self.eff[later][0], placed)
        ins = self.flow.of(later)[0]
        if not ins:  # nothing to compare: after everything that ended before it
            ready, depth, count, latest = self._all
            return Wait(ready, depth, [latest] if count else [], count, self._last_end)
        ready, depth, count, latest = self._blind
        after = [latest] if count else []
        for fp in ins:
            known = self._producers.get(fp)
            if known is not None:
                ready, depth = max(ready, known[0]), max(depth, known[1])
                after.append(known[2])
        return Wait(ready, depth, after, count, self._last_end)
