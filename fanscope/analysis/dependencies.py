"""What depends on what: two witnesses for sibling steps that ran one after another.

For every span, its children are the steps it took. Two children that ran one after another
(the earlier ended before the later started) are related by two witnesses:

* the **fingerprints** (``docs/dataflow.md``): a later step *depends* when one of its input
  fingerprints is among the earlier one's output fingerprints; the two are *independent* when
  both have fingerprints and none match; otherwise (no fingerprints to compare, or the later
  one's inputs marked partial: they may miss an earlier output) they cannot look. Each child
  counts its own fingerprints and its descendants' (a step's output may be on the step's span,
  the prompt that used it on an LLM call span inside the later step);
* the **source** (:mod:`fanscope.analysis.witness`): the caller's code, read at the lines the
  spans were called from, says whether a value the earlier call made can reach what the later
  one reads; or it abstains (no source, a changed file, a call site it cannot follow).

A pair is **dependent** when either witness says so; **independent** only when the source
shows no path and the fingerprints show no overlap; a **candidate** when only one witness
could look and found nothing; **unknown** when neither could. By default only independent
pairs may run together (in the what-if, the headline saving and the gates); candidates are
listed apart with what they could save, and :attr:`Witnesses.count_candidates` counts them.

:func:`classify` states this for one pair, with each witness's evidence; :func:`classify_pairs`
for every pair of a set of spans (what ``benchmarks/dataflow_truth.py`` measures);
:class:`StepDependencies` answers it for all the children of one span in one pass (what the
what-if schedule in ``whatif.py`` uses).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from fanscope.analysis.subtree_prints import Lazy, SubtreePrints
from fanscope.analysis.tree import Trace, build_traces
from fanscope.sdk import attributes as A

if TYPE_CHECKING:
    from fanscope.analysis.model import Span
    from fanscope.analysis.witness import SiblingSources, SourceVerdict, SourceWitness

IN, OUT = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS
PARTIAL = A.DATAFLOW_PARTIAL

Prints = tuple[Set[str], Set[str]]
_NONE: Prints = (frozenset(), frozenset())


class Relation(StrEnum):
    """What the fingerprints say about a later sibling and one that ended before it."""

    DEPENDS = "depends"
    INDEPENDENT = "independent"
    UNKNOWN = "unknown"


class Classification(StrEnum):
    """What both witnesses together say about a pair."""

    DEPENDENT = "dependent"
    INDEPENDENT = "independent"
    CANDIDATE = "candidate"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Witnesses:
    """Which witnesses decide, and whether candidates count.

    Attributes:
        source_root: where the callers' source is read (default: the working directory).
        source: read the source at all (off: the fingerprints alone can only make
            candidates).
        fingerprints: use the fingerprints (off: the source alone can only make candidates).
        count_candidates: let pairs only one witness could look at run together in the
            what-if, the headline saving and the gates.
    """

    source_root: str | os.PathLike[str] | None = None
    source: bool = True
    fingerprints: bool = True
    count_candidates: bool = False

    def witness(self) -> SourceWitness | None:
        if not self.source:
            return None
        from fanscope.analysis.witness import SourceWitness

        return SourceWitness(self.source_root)


class Flow:
    """Fingerprints of a span and its descendants, computed on demand.

    A span's outputs count only what its subtree made: an output fingerprint that the span
    that recorded it (or one of that span's descendants) also had among its inputs, or that
    an ancestor had among its own inputs, is an echo (an answer repeating its question, a step
    returning the value it was given) and is no evidence that a later step read this one.

    The answers come from an index of the trace built once
    (:class:`fanscope.analysis.subtree_prints.SubtreePrints`): a query costs the fingerprints
    in the subtree, not a walk of it. The answers themselves can still add up to the square
    of a trace's size (a trace nested thousands of levels deep with a sibling at every level
    asks at every level about everything below), so the queries of one trace share a budget
    of span visits, charged as if each walked its subtree (ten per span in the trace, and at
    least a million); past it, a span's fingerprints read as none (unknown: kept in order, no
    saving claimed) and ``exhausted`` is set, for the trace's warning. With ``enabled`` off
    every span reads as having none.
    """

    def __init__(self, trace: Trace, enabled: bool = True) -> None:
        self.trace = trace
        self.enabled = enabled
        self._cache: dict[str, Prints] = {}
        self._index: SubtreePrints | None = None
        self.budget = max(1_000_000, 10 * len(trace.spans))
        self.exhausted = False

    def of(self, span_id: str) -> Prints:
        """(inputs, outputs) fingerprints of a span and its descendants."""
        if not self.enabled:
            return _NONE
        cached = self._cache.get(span_id)
        if cached is not None:
            return cached
        index = self._index
        if index is None:
            index = self._index = SubtreePrints(self.trace)
        size = index.size(span_id)
        if size > self.budget:  # a walk of the subtree would run out of visits
            self.budget = -1
            self.exhausted = True
            self._cache[span_id] = _NONE
            return _NONE
        self.budget -= size
        result = index.of(span_id)
        self._cache[span_id] = result
        return result


def relation(flow: Flow, earlier: str, later: str) -> Relation:
    """What the fingerprints say of ``later`` and ``earlier`` (which ended before it)."""
    ins = flow.of(later)[0]
    outs = flow.of(earlier)[1]
    if not ins or not outs:
        return Relation.UNKNOWN
    return Relation.DEPENDS if not ins.isdisjoint(outs) else Relation.INDEPENDENT


def combine(fingerprints: Relation, source: str) -> Classification:
    """Both witnesses' findings (``source``: ``dependent``, ``independent`` or ``abstain``)."""
    if fingerprints == Relation.DEPENDS or source == "dependent":
        return Classification.DEPENDENT
    if fingerprints == Relation.INDEPENDENT and source == "independent":
        return Classification.INDEPENDENT
    if fingerprints == Relation.INDEPENDENT or source == "independent":
        return Classification.CANDIDATE
    return Classification.UNKNOWN


def waits(classification: Classification, count_candidates: bool) -> bool:
    """Whether the later step of a pair must stay after the earlier one."""
    if classification == Classification.INDEPENDENT:
        return False
    return not (count_candidates and classification == Classification.CANDIDATE)


@dataclass(frozen=True)
class PairVerdict:
    """Both witnesses on one pair: the classification, who decided, and their evidence."""

    earlier: str
    later: str
    classification: Classification
    decided_by: str  # "source", "fingerprints", "both" or "none"
    source: str  # the source witness's evidence (or why it abstained)
    fingerprints: str  # the fingerprints' evidence (or why they could not look)
    source_verdict: str  # "dependent", "independent" or "abstain"
    fingerprint_relation: Relation


class Evidence:
    """The witnesses for one trace: fingerprints, and the source when it is read."""

    def __init__(self, trace: Trace, witnesses: Witnesses, source: SourceWitness | None) -> None:
        self.trace = trace
        self.witnesses = witnesses
        self.flow = Flow(trace, witnesses.fingerprints)
        self.source = source
        self._siblings: dict[str, SiblingSources | None] = {}

    def siblings(self, parent: str, kids: list[str]) -> SiblingSources | None:
        """The source witness's view of ``parent``'s children (``None``: it is not read)."""
        if self.source is None:
            return None
        known = self._siblings.get(parent)
        if known is None and parent not in self._siblings:
            from fanscope.analysis.witness import SiblingSources

            known = SiblingSources(self.source, self.trace, kids)
            self._siblings[parent] = known
        return known

    def classify(self, parent: str, kids: list[str], earlier: str, later: str) -> PairVerdict:
        fp = relation(self.flow, earlier, later)
        sources = self.siblings(parent, kids)
        verdict = sources.verdict(earlier, later) if sources is not None else None
        return _verdict(self.trace, earlier, later, fp, verdict, self.flow.enabled)


def _verdict(
    trace: Trace,
    earlier: str,
    later: str,
    fp: Relation,
    source: SourceVerdict | None,
    fingerprints_on: bool,
) -> PairVerdict:
    said = source.verdict.value if source is not None else "abstain"
    why = source.evidence if source is not None else "the source is not read (turned off)"
    classification = combine(fp, said)
    fp_text = _fingerprint_evidence(trace, earlier, later, fp, fingerprints_on)
    if classification == Classification.DEPENDENT:
        both = fp == Relation.DEPENDS and said == "dependent"
        decided = "both" if both else "fingerprints" if fp == Relation.DEPENDS else "source"
    elif classification == Classification.INDEPENDENT:
        decided = "both"
    elif classification == Classification.CANDIDATE:
        decided = "fingerprints" if fp == Relation.INDEPENDENT else "source"
    else:
        decided = "none"
    return PairVerdict(earlier, later, classification, decided, why, fp_text, said, fp)


def _fingerprint_evidence(
    trace: Trace, earlier: str, later: str, fp: Relation, enabled: bool
) -> str:
    if not enabled:
        return "fingerprints are not used (turned off)"
    if fp == Relation.DEPENDS:
        return "an input of the later call has the fingerprint of an output of the earlier"
    if fp == Relation.INDEPENDENT:
        return "no input fingerprint of the later call matches an output of the earlier"
    return "no fingerprints to compare on one side"


@dataclass(frozen=True, slots=True)
class Wait:
    """What one step must wait for among the siblings that ended before it started.

    Attributes:
        ready: the latest of their ``placed`` finish times that it must stay after, or the
            floor when none.
        depth: the deepest of their ``placed`` levels that it must stay after, or -1.
        after: the siblings it waits for, as named in reports: each producer of an input,
            and the latest of each group it waits for for another reason.
        unknown: how many of the pairs it forms with them neither witness could look at.
        candidates: how many of them only one witness could look at (and found nothing).
        previous_end: the latest observed end among them (the floor when none): the
            parent's own time between that and this step's start stays with the step.
    """

    ready: int
    depth: int
    after: list[str]
    unknown: int
    previous_end: int
    candidates: int = 0
    #: groups it waits for as a whole: it is kept after each of their heads too
    heads: list[Heads] = field(default_factory=list)


class Heads:
    """The members of a group of siblings that no later member of it waited for, as the
    group held them when a step took it: the step is kept after each of them. The latest
    member is one; others are those it did not wait for (siblings that ran beside it).

    The group's list only grows until a member that waited for it collapses it, so a
    reference and its length name the members of that moment in O(1)."""

    __slots__ = ("names", "size")

    def __init__(self, names: list[str]) -> None:
        self.names, self.size = names, len(names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names[: self.size])


# (finish, level, count, latest, heads) of a group of siblings that have ended
_Agg = tuple[int, int, int, str, list[str]]


def _add(agg: _Agg | None, finish: int, level: int, kid: str, waited: list[Heads]) -> _Agg:
    if agg is None:
        return (finish, level, 1, kid, [kid])
    names = agg[4]
    cut = max((ref.size for ref in waited if ref.names is names), default=None)
    if cut is None:
        names.append(kid)  # it did not wait for the group: one more head
    else:
        names = [*names[cut:], kid]  # it waited for those heads: they are behind it now
    return (max(agg[0], finish), max(agg[1], level), agg[2] + 1, kid, names)


@dataclass
class _Group:
    """The siblings of one source class that have ended: all of them, and those without
    output fingerprints."""

    every: _Agg | None = None
    blind: _Agg | None = None


class StepDependencies:
    """The children of one span, in start order: what each must wait for, in one pass.

    O(n log n + n·c) for n children whose call sites fall into c source classes (a class: one
    call site, or one execution of it; the sites of a function are few): the children that
    ended before the current one started are taken in order of their end and kept as running
    maxima (of all of them, and of those without output fingerprints), per source class, and
    as an index from output fingerprint to its producers. The current child waits for the
    producers of its inputs, for the source classes the source says it depends on, and for
    what is left unknown or only a candidate (unless candidates count). The pairs it forms
    with the others are independent (or counted candidates).

    The times folded are the caller's (``placed``: a sibling's what-if finish and level), so
    that the schedule decides when things run and this class only what waits for what.
    """

    def __init__(
        self,
        kids: list[str],
        eff: Mapping[str, tuple[int, int]],
        flow: Flow,
        floor: int,
        sources: SiblingSources | None = None,
        count_candidates: bool = False,
    ) -> None:
        self.kids, self.eff, self.flow, self.floor = kids, eff, flow, floor
        self.sources = sources
        self.count_candidates = count_candidates
        position = {k: i for i, k in enumerate(kids)}
        self.position = position
        self._by_end = sorted(kids, key=lambda k: (eff[k][1], position[k]))
        self._taken = 0
        self._last_end = floor
        self._all: _Agg | None = None
        self._blind: _Agg | None = None
        self._groups: dict[Hashable, _Group] = {}
        self._producers: dict[str, tuple[int, int, str]] = {}  # print -> finish, level, latest
        self._makers: dict[str, list[str]] = {}  # print -> every sibling that output it
        self._waited: dict[str, list[Heads]] = {}  # sibling not yet ended -> groups it took

    def _admit(self, before: int, placed: Mapping[str, tuple[int, int]]) -> None:
        """Take in every sibling that ended at or before ``before`` and has been placed."""
        by_end, eff = self._by_end, self.eff
        while self._taken < len(by_end):
            done = by_end[self._taken]
            if eff[done][1] > before or done not in placed:
                break  # not ended yet (or a zero-length sibling at this instant, not yet placed)
            self._taken += 1
            f, lv = placed[done]
            waited = self._waited.pop(done, [])
            self._last_end = max(self._last_end, eff[done][1])
            self._all = _add(self._all, f, lv, done, waited)
            outs = self.flow.of(done)[1]
            blind = not outs
            if blind:
                self._blind = _add(self._blind, f, lv, done, waited)
            group = self._groups.setdefault(self._class(done), _Group())
            group.every = _add(group.every, f, lv, done, waited)
            if blind:
                group.blind = _add(group.blind, f, lv, done, waited)
            producers = self._producers
            for fp in outs:
                self._makers.setdefault(fp, []).append(done)
                known = producers.get(fp)
                if known is None:
                    producers[fp] = (f, lv, done)
                else:
                    producers[fp] = (max(known[0], f), max(known[1], lv), done)

    def _class(self, kid: str) -> Hashable:
        return self.sources.class_of(kid) if self.sources is not None else None

    def wait(self, later: str, placed: Mapping[str, tuple[int, int]]) -> Wait:
        """What ``later`` (the next child in start order) must wait for.

        ``placed`` maps each child already scheduled to its (what-if finish, level).
        """
        self._admit(self.eff[later][0], placed)
        ins = self.flow.of(later)[0]
        ready, depth = self.floor, -1
        after: list[str] = []
        heads: list[Heads] = []
        unknown = candidates = 0

        def take(agg: _Agg | None) -> None:
            nonlocal ready, depth
            if agg is not None:
                ready, depth = max(ready, agg[0]), max(depth, agg[1])
                after.append(agg[3])
                heads.append(Heads(agg[4]))

        makers: set[str] = set()
        producers = self._producers
        size = ins.bound() if isinstance(ins, Lazy) else len(ins)
        # the fingerprints say these depend: the inputs found among the outputs before it,
        # looked up from the smaller side (a deep step's inputs need not be listed)
        found = ins if size <= len(producers) else [fp for fp in producers if fp in ins]
        for fp in found:
            known = producers.get(fp)
            if known is not None:
                ready, depth = max(ready, known[0]), max(depth, known[1])
                after.append(known[2])
                makers.update(self._makers[fp])
        depending: dict[Hashable, int] = {}
        for maker in makers:
            key = self._class(maker)
            depending[key] = depending.get(key, 0) + 1
        mine = self._class(later)
        for cls, group in self._groups.items():
            said = self.sources.between(cls, mine) if self.sources is not None else "abstain"
            blind = group.every if not ins else group.blind  # fingerprints cannot look
            # the rest the fingerprints say are independent of it...
            seeing = _count(group.every) - _count(blind) - depending.get(cls, 0)
            if said == "dependent":
                take(group.every)
                continue
            if said == "independent":
                # ... so with the source, independent; without fingerprints, a candidate
                candidates += _count(blind)
                if not self.count_candidates:
                    take(blind)
                continue
            unknown += _count(blind)
            candidates += max(0, seeing)
            take(blind)
            if not self.count_candidates:
                take(group.every)
        self._waited[later] = heads
        return Wait(ready, depth, after, unknown, self._last_end, candidates, heads)


def _count(agg: _Agg | None) -> int:
    return agg[2] if agg is not None else 0


# -- every pair --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Two sibling spans that ran one after another, and what the witnesses say of them."""

    parent: Span
    earlier: Span
    later: Span
    verdict: PairVerdict


def classify_pairs(
    spans: Iterable[Span] | Trace,
    witnesses: Witnesses | None = None,
) -> list[Pair]:
    """Every pair of sibling spans that ran one after another, classified.

    The entry point for measuring the witnesses (``benchmarks/dataflow_truth.py``): pass a
    trace's spans (``read_file(path).spans``) and where its callers' source is
    (``Witnesses(source_root=...)``); ``Witnesses(source=False)`` or
    ``Witnesses(fingerprints=False)`` measures one witness alone.
    """
    chosen = witnesses or Witnesses()
    traces = [spans] if isinstance(spans, Trace) else build_traces(spans)
    source = chosen.witness()
    out: list[Pair] = []
    for trace in traces:
        evidence = Evidence(trace, chosen, source)
        for parent, members in trace.children.items():
            kids = sorted(members, key=lambda k: (trace.spans[k].start, trace.spans[k].end))
            for i, earlier in enumerate(kids):
                first = trace.spans[earlier]
                for later in kids[i + 1 :]:
                    second = trace.spans[later]
                    if first.end > second.start:
                        continue  # overlapping: they ran together already
                    verdict = evidence.classify(parent, kids, earlier, later)
                    out.append(Pair(trace.spans[parent], first, second, verdict))
    return out


@dataclass
class Candidates:
    """Candidate pairs of one parent, as a report lists them (a few, and how many)."""

    count: int = 0
    examples: list[PairVerdict] = field(default_factory=list)
