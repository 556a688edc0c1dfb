"""Sequential waiting, parallelization opportunities, and the what-if time.

For every span, its children are the steps it took. Two children that ran one after another
(the earlier ended before the later started) are related by their data-flow fingerprints
(``docs/dataflow.md``). Each child counts its own fingerprints and its descendants': a step's
output may be recorded on the step's span, and the prompt that used it on an LLM call span
inside the later step.

* **depends**: an input fingerprint of the later one is an output fingerprint of the earlier;
* **independent**: the earlier one has output fingerprints, the later one has input
  fingerprints, and none match;
* **unknown**: either side has none to compare (spans of other instrumentations, fingerprints
  turned off, a value fanscope does not hash, a step without arguments). Unknown is treated
  as depends: the analyzer never claims a saving it cannot show.

The **what-if** schedule runs each child as early as its dependencies allow, keeping the
parent's own time just before it (the gap since the previous child ended: building the next
prompt, say) and its own duration, and respecting caps: branches of a fan-out under
``fanscope.fanout.max_concurrency`` and lone calls under ``fanscope.branch.max_concurrency``
are list-scheduled onto that many slots. Branches of one fan-out are independent of each other
and its fan-in depends on all of them. It is computed bottom-up, so a parent's what-if uses
its children's what-if durations; the root's is the trace's what-if time.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from fanscope.analysis.critical_path import effective_intervals
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

#: Savings smaller than this (ns), or than 1% of the parent's window, are not reported.
MIN_SAVING_NS = 1_000_000
#: A parent with more children than this compares each only with its latest predecessors.
PAIR_WINDOW = 256

DEPENDS, INDEPENDENT, UNKNOWN = "depends", "independent", "unknown"
IN, OUT = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS


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

    @property
    def saving(self) -> float:
        return max(0.0, self.observed - self.duration)


class _Flow:
    """Fingerprints of a span and its descendants, computed on demand."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._cache: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def of(self, span_id: str) -> tuple[frozenset[str], frozenset[str]]:
        """(inputs, outputs) fingerprints of a span and its descendants."""
        cached = self._cache.get(span_id)
        if cached is not None:
            return cached
        ins: set[str] = set()
        outs: set[str] = set()
        spans = self.trace.spans
        for sid in (span_id, *self.trace.descendants(span_id)):
            span = spans[sid]
            attributes = span.attributes
            if IN in attributes:
                ins.update(span.attr_strs(IN))
            if OUT in attributes:
                outs.update(span.attr_strs(OUT))
        result = (frozenset(ins), frozenset(outs))
        self._cache[span_id] = result
        return result

    def relation(self, earlier: str, later: str) -> str:
        outs = self.of(earlier)[1]
        ins = self.of(later)[0]
        if not outs or not ins:
            return UNKNOWN  # nothing to compare: no evidence either way
        return DEPENDS if not outs.isdisjoint(ins) else INDEPENDENT


def _bottom_up(trace: Trace) -> list[str]:
    """Every span reachable from a root, each after all of its descendants."""
    order = list(trace.roots)
    children = trace.children
    i = 0
    while i < len(order):  # breadth first: a parent before its descendants ...
        kids = children.get(order[i])
        if kids:
            order.extend(kids)
        i += 1
    order.reverse()  # ... so, reversed, every descendant before its parent
    return order


def whatif(trace: Trace) -> WhatIf:
    """The what-if duration of ``trace`` and its parallelization opportunities."""
    eff = effective_intervals(trace)
    flow = _Flow(trace)
    children = trace.children
    predicted: dict[str, int] = {}
    opportunities: list[Opportunity] = []
    unknown_total = 0
    for node in _bottom_up(trace):
        interval = eff.get(node)
        if interval is None:
            continue
        start, end = interval
        members = children.get(node)
        kids = sorted((k for k in members if k in eff), key=eff.__getitem__) if members else []
        if not kids:
            predicted[node] = end - start
            continue
        caps = _Caps(trace, node)
        if len(kids) == 1 and caps.group(kids[0]) is None:
            child = kids[0]  # one child: nothing to reorder; keep the time around it
            predicted[node] = (end - start) - (eff[child][1] - eff[child][0]) + predicted[child]
            continue
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
        duration = max(eff[r][0] + predicted.get(r, 0) for r in trace.roots) - trace.start
    opportunities.sort(key=lambda o: -o.saving)
    return WhatIf(duration / 1e9, trace.duration / 1e9, opportunities, unknown_total)


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
    flow: _Flow,
    caps: _Caps,
) -> tuple[dict[str, int], Opportunity | None, int]:
    """Schedule ``node``'s children as early as allowed; return their what-if finish times."""
    is_fanout = caps.is_fanout
    node_start = eff[node][0]
    preds: dict[str, list[str]] = {}
    unknown = 0
    for j, later in enumerate(kids):
        later_start = eff[later][0]
        found: list[str] = []
        if is_fanout:
            if trace.spans[later].attr_str(A.ROLE) == A.ROLE_FANIN:
                found = [k for k in kids[:j] if trace.spans[k].attr_str(A.ROLE) == A.ROLE_BRANCH]
        else:
            for earlier in kids[max(0, j - PAIR_WINDOW) : j]:
                if eff[earlier][1] > later_start:
                    continue  # they overlapped: already concurrent, no order to keep
                relation = flow.relation(earlier, later)
                if relation != INDEPENDENT:
                    found.append(earlier)
                    unknown += relation == UNKNOWN
            if j > PAIR_WINDOW:  # conservatively after everything older than the window
                found.extend(k for k in kids[: j - PAIR_WINDOW] if eff[k][1] <= later_start)
        preds[later] = found

    finish: dict[str, int] = {}
    slots: dict[str, list[int]] = {}
    for j, later in enumerate(kids):  # observed start order: a list schedule as things happened
        s, e = eff[later]
        gap = 0
        if not is_fanout:  # the parent's own time just before this child is kept with it
            ends = [eff[k][1] for k in kids[max(0, j - PAIR_WINDOW) : j] if eff[k][1] <= s]
            gap = s - max([node_start, *ends])
        ready = max((finish[p] for p in preds[later]), default=node_start) + gap
        group = caps.group(later)
        if group is not None:
            # more slots than children change nothing (and a damaged cap can be huge)
            heap = slots.setdefault(group[0], [node_start] * min(group[1], len(kids)))
            ready = max(ready, heapq.heappop(heap))
        finish[later] = ready + predicted.get(later, e - s)
        if group is not None:
            heapq.heappush(slots[group[0]], finish[later])

    if is_fanout:
        return finish, None, unknown
    observed = max(eff[k][1] for k in kids) - eff[kids[0]][0]
    planned = max(finish.values()) - eff[kids[0]][0]
    saving = observed - planned
    if saving < max(MIN_SAVING_NS, observed // 100):
        return finish, None, unknown
    return finish, _opportunity(trace, node, kids, eff, preds, observed, planned), unknown


def _opportunity(
    trace: Trace,
    node: str,
    kids: list[str],
    eff: dict[str, tuple[int, int]],
    preds: dict[str, list[str]],
    observed: int,
    planned: int,
) -> Opportunity:
    level: dict[str, int] = {}
    for kid in kids:
        level[kid] = 1 + max((level[p] for p in preds[kid]), default=-1)
    by_level: dict[int, list[str]] = {}
    for kid in kids:
        by_level.setdefault(level[kid], []).append(kid)
    groups = []
    for members in by_level.values():
        sequential = any(
            eff[a][1] <= eff[b][0] for i, a in enumerate(members) for b in members[i + 1 :]
        )
        if len(members) > 1 and sequential:
            groups.append(members)
    keep_after = [(k, _direct(preds, k)) for k in kids if preds[k] and level[k] > 0]
    return Opportunity(
        parent_span_id=node,
        parent_name=trace.spans[node].name,
        run_together=groups,
        keep_after=[(k, p) for k, p in keep_after if p],
        observed=observed / 1e9,
        whatif=planned / 1e9,
        saving=(observed - planned) / 1e9,
    )


def _direct(preds: dict[str, list[str]], kid: str) -> list[str]:
    """The predecessors of ``kid`` that are not already implied by another predecessor."""
    implied: set[str] = set()
    for p in preds[kid]:
        stack = list(preds[p])
        while stack:
            q = stack.pop()
            if q not in implied:
                implied.add(q)
                stack.extend(preds[q])
    return [p for p in preds[kid] if p not in implied]
