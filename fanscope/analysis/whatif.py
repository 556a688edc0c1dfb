"""The what-if schedule: how long a trace would have taken with its steps run as early as allowed.

What may run together is decided in ``dependencies.py`` (what depends on what). The schedule
runs each child as early as its dependencies allow, keeping the parent's own time just before
it (the gap since the previous child ended: building the next prompt, say) and its own
duration, and respecting caps (``caps.py``): branches of a fan-out, and lone calls under
their limiters, are list-scheduled onto that many slots. Branches of one fan-out are
independent of each other and its fan-in depends on all of them. It is computed bottom-up,
so a parent's what-if uses its children's what-if durations; the root's is the trace's
what-if time. A branch keeps its recorded duration, retries and their waits included.

Rate limits and retry-after pauses are then applied to the whole schedule (``rates.py``).
The observed run is itself a schedule every limit allowed, so the what-if is never longer
than the run (unless the caps are lowered: ``caps.CapPlan``).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from fanscope.analysis import rates
from fanscope.analysis.caps import CapPlan, Caps, Group
from fanscope.analysis.critical_path import effective_intervals
from fanscope.analysis.dependencies import (
    Classification,
    Evidence,
    Heads,
    PairVerdict,
    StepDependencies,
    Wait,
    Witnesses,
)
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

if TYPE_CHECKING:
    from fanscope.analysis.witness import SourceWitness

#: Savings smaller than this (ns), or than 1% of the parent's window, are not reported.
MIN_SAVING_NS = 1_000_000


@dataclass
class Opportunity:
    """Children of one span that ran one after another and need not have.

    Attributes:
        run_together: groups of span ids that could run at the same time (each group ran
            sequentially before).
        keep_after: ``(span id, [span ids it depends on])`` for the steps that must stay
            after others.
        observed / whatif / saving: the children's window in seconds, observed and what-if.
    """

    parent_span_id: str
    parent_name: str
    run_together: list[list[str]]
    keep_after: list[tuple[str, list[str]]]
    observed: float
    whatif: float
    saving: float
    unknown_pairs: int = 0
    #: what the witnesses said of the pairs named: run together (independent, or counted
    #: candidates) and kept after (dependent, unknown, uncounted candidates)
    evidence: list[PairVerdict] = field(default_factory=list)
    candidate_pairs: int = 0


@dataclass
class WhatIf:
    """The what-if of one trace: its predicted duration and where the saving comes from.

    ``rate_wait``: seconds the rate limits (and retry-after pauses) add to the schedule.
    ``candidates`` are the opportunities that only candidate pairs (one witness looked)
    would open, with ``candidate_saving`` the time they would save on top; they are counted
    in ``duration`` only when :attr:`Witnesses.count_candidates` says so.
    """

    duration: float
    observed: float
    opportunities: list[Opportunity] = field(default_factory=list)
    unknown_pairs: int = 0
    warnings: list[str] = field(default_factory=list)
    rate_wait: float = 0.0
    candidates: list[Opportunity] = field(default_factory=list)
    candidate_pairs: int = 0
    candidate_saving: float = 0.0
    candidates_counted: bool = False

    @property
    def saving(self) -> float:
        return max(0.0, self.observed - self.duration)


def _bottom_up(trace: Trace) -> list[str]:
    """Every span with children reachable from a root, each after all of its descendants."""
    order = [root for root in trace.roots if root in trace.children]
    children = trace.children
    i = 0
    while i < len(order):  # breadth first: a parent before its descendants ...
        order.extend(k for k in children[order[i]] if k in children)
        i += 1
    order.reverse()  # ... so, reversed, every descendant before its parent
    return order


def whatif(
    trace: Trace,
    caps: CapPlan | None = None,
    witnesses: Witnesses | None = None,
    source: SourceWitness | None = None,
) -> WhatIf:
    """The what-if duration of ``trace`` and its parallelization opportunities.

    With a :class:`~fanscope.analysis.caps.CapPlan` that changes caps, the steps keep the
    order they ran in: the answer to "what if the cap were N", alone. ``witnesses`` say who
    decides what may run together; ``source`` is the source witness (shared across traces
    so each file is read once; by default one is made from ``witnesses``).
    """
    plan = caps if caps is not None else CapPlan()
    chosen = witnesses or Witnesses()
    evidence = None
    if not plan.keep_order:
        evidence = Evidence(trace, chosen, source if source is not None else chosen.witness())
    found = _plan(trace, plan, evidence, chosen.count_candidates)
    if found.candidate_pairs and evidence is not None:
        other = _plan(trace, plan, evidence, not chosen.count_candidates)
        strict, counted = (found, other) if not chosen.count_candidates else (other, found)
        found.candidate_saving = max(0.0, strict.duration - counted.duration)
        found.candidates = _candidate_opportunities(strict, counted)
        found.candidate_pairs = strict.candidate_pairs
    found.candidates_counted = chosen.count_candidates
    return found


def _candidate_opportunities(strict: WhatIf, counted: WhatIf) -> list[Opportunity]:
    """The opportunities counting candidates opens or widens, with the difference saved."""
    before = {o.parent_span_id: o for o in strict.opportunities}
    out = []
    for o in counted.opportunities:
        known = before.get(o.parent_span_id)
        extra = o.saving - (known.saving if known is not None else 0.0)
        if extra <= 0:
            continue
        evidence = [v for v in o.evidence if v.classification == Classification.CANDIDATE]
        out.append(replace(o, saving=extra, evidence=evidence))
    out.sort(key=lambda o: -o.saving)
    return out


def _plan(trace: Trace, plan: CapPlan, evidence: Evidence | None, count: bool) -> WhatIf:
    """One schedule: candidates counted as independent (``count``) or kept in order."""
    eff = effective_intervals(trace)
    flow = evidence.flow if evidence is not None else None
    children = trace.children
    # A span's what-if duration, when it differs from its observed one: spans without
    # children (most of them) and spans with one child keep their own and are not stored,
    # which matters at a million spans (every entry is a lookup in a big table). Likewise
    # ``moved``: how much later (negative: earlier) a child starts than observed, relative to
    # its parent, only when it does.
    predicted: dict[str, int] = {}
    moved: dict[str, int] = {}
    found: list[tuple[Opportunity, str, int, int]] = []  # with its parent and window
    unknown_total = candidates_total = 0
    for node in _bottom_up(trace):
        interval = eff.get(node)
        if interval is None:
            continue
        start, end = interval
        members = children[node]
        if len(members) == 1:  # one child: nothing to reorder; keep the time around it
            child = members[0]
            child_interval = eff.get(child)
            changed = predicted.get(child)
            if child_interval is not None and changed is not None:
                own = (end - start) - (child_interval[1] - child_interval[0])
                predicted[node] = _no_longer(own + changed, end - start, plan)
            continue
        kids = sorted((k for k in members if k in eff), key=eff.__getitem__)
        if not kids:
            continue
        here = Caps(trace, node, plan)
        if here.is_fanout:
            starts, finish = _schedule_branches(trace, node, kids, eff, predicted, here)
            opportunity, unknown, candidates = None, 0, 0
        else:
            starts, finish, opportunity, unknown, candidates = _schedule_steps(
                trace, node, kids, eff, predicted, evidence, here, count
            )
        unknown_total += unknown
        candidates_total += candidates
        for kid, kid_start in starts.items():
            if kid_start != eff[kid][0]:
                moved[kid] = kid_start - eff[kid][0]
        last = max(finish.values())
        predicted[node] = _no_longer(
            max(0, last - start) + max(0, end - max(eff[k][1] for k in kids)), end - start, plan
        )
        if opportunity is not None:
            # the window in what-if time: a step whose wait in line is removed starts before
            # its observed start, and the rate limits' pauses there are the window's too
            found.append((opportunity, node, min(eff[kids[0]][0], *starts.values()), last))
    if len(trace.roots) == 1:
        duration = predicted.get(trace.roots[0], trace.duration)
    else:
        duration = (
            max(eff[r][0] + predicted.get(r, eff[r][1] - eff[r][0]) for r in trace.roots)
            - trace.start
        )
    stretch = rates.stretch(trace, eff, moved)
    added = stretch.total if stretch is not None else 0
    duration += added
    if not plan.lowered:
        duration = min(duration, trace.duration)  # the observed run is a valid schedule
    offsets: dict[str, int] = {}  # shared: each span's sum of moves is walked up once
    kept = [_with_rates(o, node, a, b, trace, moved, stretch, offsets) for o, node, a, b in found]
    if not plan.lowered:  # no step alone saves more than the whole what-if, which moves it too
        kept = [_no_more_than(o, trace.duration - duration) for o in kept if o is not None]
    opportunities = sorted((o for o in kept if o is not None), key=lambda o: -o.saving)
    warnings = []
    if flow is not None and flow.exhausted:
        warnings.append(
            "the trace is nested too deeply to compare every step's fingerprints; "
            "the steps left over are treated as dependent (no saving claimed for them)"
        )
    result = WhatIf(
        duration / 1e9, trace.duration / 1e9, opportunities, unknown_total, warnings, added / 1e9
    )
    result.candidate_pairs = candidates_total
    return result


def _with_rates(
    o: Opportunity,
    node: str,
    first: int,
    last: int,
    trace: Trace,
    moved: dict[str, int],
    stretch: rates.Stretch | None,
    offsets: dict[str, int],
) -> Opportunity | None:
    """``o`` with the rate limits' pauses in its window; ``None`` when no saving is left."""
    if stretch is None:
        return o
    offset = rates.offset_of(trace, node, moved, offsets)
    pause = stretch.within(first + offset, last + offset)
    if not pause:
        return o
    observed = round(o.observed * 1e9)
    saving = round(o.saving * 1e9) - pause  # as if every pause there were the reordering's
    if saving < max(MIN_SAVING_NS, observed // 100):
        return None
    return replace(o, whatif=(observed - saving) / 1e9, saving=saving / 1e9)


def _no_more_than(o: Opportunity, whole: int) -> Opportunity | None:
    """``o`` saving at most ``whole`` nanoseconds, what the trace's what-if saves with every
    step moved; ``None`` when no saving is left.

    A step's window is stretched by the rate limits' pauses the whole schedule places in it
    (``_with_rates``), an estimate: where it placed fewer there than the window's own calls
    need (a slow sequential run, its calls moved together), the step alone would claim more
    than the whole run saves. Bounded by the whole, a claim is never the larger of the two.
    """
    saving = round(o.saving * 1e9)
    if saving <= whole:
        return o
    observed = round(o.observed * 1e9)
    if whole < max(MIN_SAVING_NS, observed // 100):
        return None
    return replace(o, whatif=(observed - whole) / 1e9, saving=whole / 1e9)


def _schedule_branches(
    trace: Trace,
    node: str,
    kids: list[str],
    eff: dict[str, tuple[int, int]],
    predicted: dict[str, int],
    caps: Caps,
) -> tuple[dict[str, int], dict[str, int]]:
    """A fan-out's children: branches as soon as a slot is free, the fan-in after them all.

    Returns each child's what-if start and finish.
    """
    node_start = eff[node][0]
    starts: dict[str, int] = {}
    finish: dict[str, int] = {}
    slots: dict[str, list[int]] = {}
    branches_done = node_start
    observed_done = node_start
    moving = _MovingCap(node_start, caps.fanout[0][1], caps.changes) if caps.changes else None
    for later in kids:  # observed start order: a list schedule as things happened
        s, e = eff[later]
        role = trace.spans[later].attr_str(A.ROLE)
        # The time before a child that was not waiting in line (starting its task, the
        # fan-in's turn on the event loop) is kept: no schedule removes it.
        if role == A.ROLE_FANIN:
            ready = branches_done + max(0, s - observed_done)
        else:
            ready = node_start + max(0, s - node_start - _first_wait(trace, later))
        if moving is not None and role == A.ROLE_BRANCH:
            starts[later] = begin = moving.take(ready, predicted.get(later, e - s))
            finish[later] = done = begin + predicted.get(later, e - s)
        else:
            groups = caps.groups(later)
            starts[later] = begin = _take_slots(groups, ready, slots, node_start, len(kids))
            finish[later] = done = begin + predicted.get(later, e - s)
            _free_slots(groups, done, slots)
        if role == A.ROLE_BRANCH:
            branches_done = max(branches_done, done)
            observed_done = max(observed_done, e)
    return starts, finish


class _MovingCap:
    """The slots of a fan-out whose cap moved while it ran (an adaptive cap): a branch starts
    when fewer branches run than the cap allows at that moment, as the limiter let them.

    Branches start in the order they did; one holding a slot keeps it when the cap is cut
    below what is held (as in the SDK), and a cut only holds back the next starts.
    """

    def __init__(self, start: int, first: int, changes: list[tuple[int, int]]) -> None:
        self.times = [start + at for at, _ in changes]
        self.caps = [first, *(cap for _, cap in changes)]
        self.running: list[int] = []  # finish times of the branches started
        self.last = start

    def take(self, ready: int, duration: int) -> int:
        """When a branch ready at ``ready`` starts (taking its slot until ``duration`` later)."""
        at = max(ready, self.last)
        running, times = self.running, self.times
        while True:
            while running and running[0] <= at:
                heapq.heappop(running)
            step = bisect.bisect_right(times, at)
            if len(running) < self.caps[step]:
                break
            # the next moment a slot may free: a branch ends, or the cap changes
            at = min(running[0], times[step]) if step < len(times) else running[0]
        self.last = at
        heapq.heappush(running, at + duration)
        return at


def _first_wait(trace: Trace, span_id: str) -> int:
    """Nanoseconds a branch waited in line before its span started (``docs/conventions.md``:
    ``fanscope.queue.wait_s`` less its ``queue wait`` spans; absent: 0)."""
    span = trace.spans[span_id]
    wait = span.attr_float(A.QUEUE_WAIT)
    if not wait or wait <= 0:
        return 0
    later = sum(
        trace.spans[k].duration
        for k in trace.children.get(span_id, ())
        if trace.spans[k].attributes.get(A.ROLE) == A.ROLE_QUEUE
    )
    # a damaged wait (huge, infinite) is at most the whole trace
    return max(0, int(min(wait * 1e9, float(max(trace.duration, 0)))) - later)


def _take_slots(
    groups: list[Group], ready: int, slots: dict[str, list[int]], start: int, kids: int
) -> int:
    """When a child ready at ``ready`` gets a slot in each of ``groups`` (taking them)."""
    for key, cap in groups:
        # more slots than children change nothing (and a damaged cap can be huge)
        heap = slots.setdefault(key, [start] * min(cap, kids))
        ready = max(ready, heapq.heappop(heap))
    return ready


def _free_slots(groups: list[Group], finish: int, slots: dict[str, list[int]]) -> None:
    for key, _ in groups:
        heapq.heappush(slots[key], finish)


class _InOrder:
    """Steps kept in the order they ran: each waits for every sibling that ended before it."""

    def __init__(self, kids: list[str], eff: dict[str, tuple[int, int]], floor: int) -> None:
        self.eff = eff
        self.position = {k: i for i, k in enumerate(kids)}
        self._by_end = sorted(kids, key=lambda k: (eff[k][1], self.position[k]))
        self._taken = 0
        self._ready, self._depth, self._last_end, self._latest = floor, -1, floor, ""

    def wait(self, later: str, placed: dict[str, tuple[int, int]]) -> Wait:
        by_end, eff = self._by_end, self.eff
        while self._taken < len(by_end):
            done = by_end[self._taken]
            if eff[done][1] > eff[later][0] or done not in placed:
                break
            self._taken += 1
            finish, level = placed[done]
            self._ready, self._depth = max(self._ready, finish), max(self._depth, level)
            self._last_end, self._latest = max(self._last_end, eff[done][1]), done
        after = [self._latest] if self._latest else []
        return Wait(self._ready, self._depth, after, 0, self._last_end)


def _no_longer(planned: int, observed: int, plan: CapPlan) -> int:
    """A span's what-if duration: never longer than it took, unless caps are lowered.

    What it did is a schedule every limit allowed, so a longer plan only means the schedule
    misread something (a cap recorded wrong, branches that overlapped more than the trace
    says they could); left longer, running a sibling beside it would be credited with time it
    never took.
    """
    return planned if plan.lowered else min(planned, observed)


def _schedule_steps(
    trace: Trace,
    node: str,
    kids: list[str],
    eff: dict[str, tuple[int, int]],
    predicted: dict[str, int],
    evidence: Evidence | None,
    caps: Caps,
    count: bool = False,
) -> tuple[dict[str, int], dict[str, int], Opportunity | None, int, int]:
    """Sequential steps: each as soon as what it depends on (or might) has finished.

    Returns each child's what-if start and finish, the opportunity found (if any) and the
    numbers of unknown and candidate pairs. Without ``evidence``, the steps keep the order
    they ran in; with it, candidates run together only when ``count`` says so.
    """
    node_start = eff[node][0]
    dependencies = (
        StepDependencies(kids, eff, evidence.flow, node_start, evidence.siblings(node, kids), count)
        if evidence is not None
        else _InOrder(kids, eff, node_start)
    )
    position = dependencies.position
    placed: dict[str, tuple[int, int]] = {}  # child -> (what-if finish, dependency level)
    starts: dict[str, int] = {}
    finish: dict[str, int] = {}
    level: dict[str, int] = {}
    after: dict[str, list[str]] = {}
    heads: dict[str, list[Heads]] = {}  # named only when an opportunity is reported
    slots: dict[str, list[int]] = {}
    unknown = candidates = 0
    for later in kids:  # observed start order
        s, e = eff[later]
        wait = dependencies.wait(later, placed)
        unknown += wait.unknown
        candidates += wait.candidates
        # the parent's own time just before it stays; a wait in line is the schedule's to make
        ready = wait.ready + (gap := max(0, s - wait.previous_end - _first_wait(trace, later)))
        groups = caps.groups(later)
        begin = _take_slots(groups, ready, slots, node_start, len(kids))
        if begin > ready:
            # it waits for a slot: the parent's own time before it follows that wait instead of
            # hiding under it (else two calls a cap of one keeps apart would "save" that time)
            begin += gap
        starts[later] = begin
        finish[later] = begin + predicted.get(later, e - s)
        _free_slots(groups, finish[later], slots)
        level[later] = wait.depth + 1
        placed[later] = (finish[later], level[later])
        after[later] = sorted(set(wait.after), key=position.__getitem__)
        if wait.heads:
            heads[later] = wait.heads

    first = eff[kids[0]][0]
    observed = max(eff[k][1] for k in kids) - first
    planned = max(finish.values()) - first
    threshold = max(MIN_SAVING_NS, observed // 100)
    if evidence is None or observed - planned < threshold:
        return starts, finish, None, unknown, candidates
    # the saving of reordering alone: against the same children kept in order (their own
    # what-ifs may be shorter too, but that saving is theirs, reported under them)
    in_order = max(_schedule_steps(trace, node, kids, eff, predicted, None, caps)[1].values())
    saving = in_order - first - planned
    if saving < threshold:
        return starts, finish, None, unknown, candidates
    for kid, taken in heads.items():
        names = set(after[kid]).union(*taken)
        after[kid] = sorted(names, key=position.__getitem__)
    opportunity = _opportunity(trace, node, kids, eff, level, after, observed, observed - saving)
    opportunity.unknown_pairs = unknown
    opportunity.candidate_pairs = candidates
    opportunity.evidence = _evidence(evidence, node, kids, eff, opportunity)
    return starts, finish, opportunity, unknown, candidates


#: Pairs whose evidence an opportunity carries, at most.
MAX_EVIDENCE = 12


def _evidence(
    evidence: Evidence,
    node: str,
    kids: list[str],
    eff: dict[str, tuple[int, int]],
    opportunity: Opportunity,
) -> list[PairVerdict]:
    """What the witnesses said of the pairs an opportunity names: consecutive members of each
    group that ran one after another, and each step kept after another."""
    out: list[PairVerdict] = []
    for group in opportunity.run_together:
        for a, b in itertools.pairwise(group):
            if eff[a][1] <= eff[b][0] and len(out) < MAX_EVIDENCE:
                out.append(evidence.classify(node, kids, a, b))
    for step, afters in opportunity.keep_after:
        for a in afters:
            if len(out) < MAX_EVIDENCE:
                out.append(evidence.classify(node, kids, a, step))
    return out


def _opportunity(
    trace: Trace,
    node: str,
    kids: list[str],
    eff: dict[str, tuple[int, int]],
    level: dict[str, int],
    after: dict[str, list[str]],
    observed: int,
    planned: int,
) -> Opportunity:
    by_level: dict[int, list[str]] = {}
    for kid in kids:
        by_level.setdefault(level[kid], []).append(kid)
    groups = [members for members in by_level.values() if _one_after_another(members, eff)]
    keep_after = [(k, _direct(after, k)) for k in kids if after[k] and level[k] > 0]
    return Opportunity(
        parent_span_id=node,
        parent_name=trace.spans[node].name,
        run_together=groups,
        keep_after=keep_after,
        observed=observed / 1e9,
        whatif=planned / 1e9,
        saving=(observed - planned) / 1e9,
    )


def _one_after_another(members: list[str], eff: dict[str, tuple[int, int]]) -> bool:
    """Whether any two of ``members`` (in start order) ran one after the other."""
    earliest_end: int | None = None
    for kid in members:
        start, end = eff[kid]
        if earliest_end is not None and earliest_end <= start:
            return True
        earliest_end = end if earliest_end is None else min(earliest_end, end)
    return False


def _direct(after: dict[str, list[str]], kid: str) -> list[str]:
    """What ``kid`` must stay after, less what one of those must already stay after."""
    implied = {q for p in after[kid] for q in after.get(p, ())}
    return [p for p in after[kid] if p not in implied]
