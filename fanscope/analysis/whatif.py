"""The what-if schedule: how long a trace would have taken with its steps run as early as allowed.

What may run together is decided in ``dependencies.py`` (what depends on what). The schedule
runs each child as early as its dependencies allow, keeping the parent's own time just before
it (the gap since the previous child ended: building the next prompt, say) and its own
duration, and respecting caps: branches of a fan-out under ``fanscope.fanout.max_concurrency``
and lone calls under ``fanscope.branch.max_concurrency`` are list-scheduled onto that many
slots. Branches of one fan-out are independent of each other and its fan-in depends on all of
them. It is computed bottom-up, so a parent's what-if uses its children's what-if durations;
the root's is the trace's what-if time.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from fanscope.analysis.critical_path import effective_intervals
from fanscope.analysis.dependencies import Flow, StepDependencies
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

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


@dataclass
class WhatIf:
    """The what-if of one trace: its predicted duration and where the saving comes from."""

    duration: float
    observed: float
    opportunities: list[Opportunity] = field(default_factory=list)
    unknown_pairs: int = 0
    warnings: list[str] = field(default_factory=list)

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


def whatif(trace: Trace) -> WhatIf:
    """The what-if duration of ``trace`` and its parallelization opportunities."""
    eff = effective_intervals(trace)
    flow = Flow(trace)
    spans, children = trace.spans, trace.children
    # A span's what-if duration, when it differs from its observed one: spans without
    # children (most of them) and spans with one plain child keep their own and are not
    # stored, which matters at a million spans (every entry is a lookup in a big table).
    predicted: dict[str, int] = {}
    opportunities: list[Opportunity] = []
    unknown_total = 0
    for node in _bottom_up(trace):
        interval = eff.get(node)
        if interval is None:
            continue
        start, end = interval
        members = children[node]
        if len(members) == 1:
            child = members[0]
            child_interval = eff.get(child)
            if child_interval is None:
                continue  # entirely outside: the node keeps its own time
            if A.BRANCH_MAX_CONCURRENCY not in spans[child].attributes:
                # one child: nothing to reorder; keep the time around it
                changed = predicted.get(child)
                if changed is not None:
                    own = (end - start) - (child_interval[1] - child_interval[0])
                    predicted[node] = own + changed
                continue
            kids = [child]
        else:
            kids = sorted((k for k in members if k in eff), key=eff.__getitem__)
            if not kids:
                continue
        caps = _Caps(trace, node)
        finish, opportunity, unknown = _schedule(trace, node, kids, eff, predicted, flow, caps)
        unknown_total += unknown
        last_observed = max(eff[k][1] for k in kids)
        tail = max(0, end - last_observed)
        predicted[node] = max(0, max(finish.values()) - start) + tail
        if opportunity is not None:
            opportunities.append(opportunity)
    if len(trace.roots) == 1:
        duration = predicted.get(trace.roots[0], trace.duration)
    else:
        duration = (
            max(eff[r][0] + predicted.get(r, eff[r][1] - eff[r][0]) for r in trace.roots)
            - trace.start
        )
    opportunities.sort(key=lambda o: -o.saving)
    warnings = []
    if flow.exhausted:
        warnings.append(
            "the trace is nested too deeply to compare every step's fingerprints; "
            "the steps left over are treated as dependent (no saving claimed for them)"
        )
    return WhatIf(duration / 1e9, trace.duration / 1e9, opportunities, unknown_total, warnings)


class _Caps:
    """Which slots a child of ``parent`` must take: its fan-out's cap, or its function's."""

    def __init__(self, trace: Trace, parent: str) -> None:
        self.spans = trace.spans
        parent_span = trace.spans[parent]
        self.is_fanout = parent_span.attr_str(A.ROLE) == A.ROLE_FANOUT
        cap = parent_span.attr_int(A.FANOUT_MAX_CONCURRENCY) if self.is_fanout else None
        self.fanout = (f"fanout:{parent}", cap) if cap is not None and cap > 0 else None

    def group(self, child: str) -> tuple[str, int] | None:
        span = self.spans[child]
        if self.is_fanout and span.attr_str(A.ROLE) == A.ROLE_BRANCH:
            return self.fanout
        cap = span.attr_int(A.BRANCH_MAX_CONCURRENCY)
        if cap is not None and cap > 0:
            return (f"function:{span.attr_str(A.FUNCTION) or span.name}", cap)
        return None


def _schedule(
    trace: Trace,
    node: str,
    kids: list[str],
    eff: dict[str, tuple[int, int]],
    predicted: dict[str, int],
    flow: Flow,
    caps: _Caps,
) -> tuple[dict[str, int], Opportunity | None, int]:
    """Schedule ``node``'s children as early as allowed; return their what-if finish times."""
    if caps.is_fanout:
        return _schedule_branches(trace, node, kids, eff, predicted, caps), None, 0
    return _schedule_steps(trace, node, kids, eff, predicted, flow, caps)


def _schedule_branches(
    trace: Trace,
    node: str,
    kids: list[str],
    eff: dict[str, tuple[int, int]],
    predicted: dict[str, int],
    caps: _Caps,
) -> dict[str, int]:
    """A fan-out's children: branches as soon as a slot is free, the fan-in after them all."""
    node_start = eff[node][0]
    finish: dict[str, int] = {}
    slots: dict[str, list[int]] = {}
    branches_done = node_start
    observed_done = node_start
    for later in kids:  # observed start order: a list schedule as things happened
        s, e = eff[later]
        span = trace.spans[later]
        role = span.attr_str(A.ROLE)
        # The time before a child that was not waiting in line (starting its task, the
        # fan-in's turn on the event loop) is kept: no schedule removes it.
        if role == A.ROLE_FANIN:
            ready = branches_done + max(0, s - observed_done)
        else:
            waited = int((span.attr_float(A.QUEUE_WAIT) or 0.0) * 1e9)
            ready = node_start + max(0, s - node_start - max(0, waited))
        group = caps.fanout if role == A.ROLE_BRANCH else caps.group(later)
        done = _take_slot(group, ready, slots, node_start, len(kids))
        done += predicted.get(later, e - s)
        finish[later] = done
        _free_slot(group, done, slots)
        if role == A.ROLE_BRANCH:
            branches_done = max(branches_done, finish[later])
            observed_done = max(observed_done, e)
    return finish


def _take_slot(
    group: tuple[str, int] | None, ready: int, slots: dict[str, list[int]], start: int, kids: int
) -> int:
    if group is None:
        return ready
    # more slots than children change nothing (and a damaged cap can be huge)
    heap = slots.setdefault(group[0], [start] * min(group[1], kids))
    return max(ready, heapq.heappop(heap))


def _free_slot(group: tuple[str, int] | None, finish: int, slots: dict[str, list[int]]) -> None:
    if group is not None:
        heapq.heappush(slots[group[0]], finish)


def _schedule_steps(
    trace: Trace,
    node: str,
    kids: list[str],
    eff: dict[str, tuple[int, int]],
    predicted: dict[str, int],
    flow: Flow,
    caps: _Caps,
) -> tuple[dict[str, int], Opportunity | None, int]:
    """Sequential steps: each as soon as what it depends on (or might) has finished."""
    node_start = eff[node][0]
    dependencies = StepDependencies(kids, eff, flow, node_start)
    position = dependencies.position
    placed: dict[str, tuple[int, int]] = {}  # child -> (what-if finish, dependency level)
    finish: dict[str, int] = {}
    level: dict[str, int] = {}
    after: dict[str, list[str]] = {}
    slots: dict[str, list[int]] = {}
    unknown = 0
    for later in kids:  # observed start order
        s, e = eff[later]
        wait = dependencies.wait(later, placed)
        unknown += wait.unknown
        ready = wait.ready + s - wait.previous_end  # the parent's own time just before it
        group = caps.group(later)
        start = _take_slot(group, ready, slots, node_start, len(kids))
        finish[later] = start + predicted.get(later, e - s)
        _free_slot(group, finish[later], slots)
        level[later] = wait.depth + 1
        placed[later] = (finish[later], level[later])
        after[later] = sorted(set(wait.after), key=position.__getitem__)

    observed = max(eff[k][1] for k in kids) - eff[kids[0]][0]
    planned = max(finish.values()) - eff[kids[0]][0]
    if observed - planned < max(MIN_SAVING_NS, observed // 100):
        return finish, None, unknown
    opportunity = _opportunity(trace, node, kids, eff, level, after, observed, planned)
    return finish, opportunity, unknown


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
