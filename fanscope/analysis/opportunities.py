"""Sequential waiting, parallelization opportunities, and the what-if time.

For every span, its children are the steps it took. Two children that ran one after another
(the earlier ended before the later started) are related by their data-flow fingerprints
(``docs/dataflow.md``), each child counting its own and its descendants':

* **depends**: an input fingerprint of the later one is an output fingerprint of the earlier;
* **independent**: both were fingerprinted (fanscope ``branch``/``step`` spans, or spans with
  ``fanscope.dataflow.*``, in a trace that has fingerprints at all) and nothing matches;
* **unknown**: otherwise (spans of other instrumentations). Unknown is treated as depends:
  the analyzer never claims a saving it cannot show.

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
from collections.abc import Iterable
from dataclasses import dataclass, field

from fanscope.analysis.critical_path import effective_intervals
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

#: Savings smaller than this (ns), or than 1% of the parent's window, are not reported.
MIN_SAVING_NS = 1_000_000
#: A parent with more children than this compares each only with its latest predecessors.
PAIR_WINDOW = 256

DEPENDS, INDEPENDENT, UNKNOWN = "depends", "independent", "unknown"
_FINGERPRINTED_ROLES = frozenset({A.ROLE_BRANCH, A.ROLE_STEP, A.ROLE_FANOUT})


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


def _prints(trace: Trace, span_id: str, key: str) -> set[str]:
    return set(trace.spans[span_id].attr_strs(key))


class _Flow:
    """Subtree fingerprints of spans, computed on demand."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.any = any(
            A.DATAFLOW_INPUTS in s.attributes or A.DATAFLOW_OUTPUTS in s.attributes
            for s in trace.spans.values()
        )
        self._cache: dict[str, tuple[set[str], set[str], bool]] = {}

    def of(self, span_id: str) -> tuple[set[str], set[str], bool]:
        """(inputs, outputs, fingerprinted) of a span and its descendants."""
        cached = self._cache.get(span_id)
        if cached is not None:
            return cached
        ins, outs, known = set(), set(), False
        for sid in (span_id, *self.trace.descendants(span_id)):
            span = self.trace.spans[sid]
            ins |= _prints(self.trace, sid, A.DATAFLOW_INPUTS)
            outs |= _prints(self.trace, sid, A.DATAFLOW_OUTPUTS)
            known = (
                known
                or span.attr_str(A.ROLE) in _FINGERPRINTED_ROLES
                or bool(
                    A.DATAFLOW_INPUTS in span.attributes or A.DATAFLOW_OUTPUTS in span.attributes
                )
            )
        result = (ins, outs, known and self.any)
        self._cache[span_id] = result
        return result

    def relation(self, earlier: str, later: str) -> str:
        _, outs, known_earlier = self.of(earlier)
        ins, _, known_later = self.of(later)
        if outs & ins:
            return DEPENDS
        return INDEPENDENT if known_earlier and known_later else UNKNOWN


def _post_order(trace: Trace) -> Iterable[str]:
    stack = [(root, False) for root in trace.roots]
    while stack:
        node, done = stack.pop()
        if done:
            yield node
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in trace.children.get(node, ()))


def whatif(trace: Trace) -> WhatIf:
    """The what-if duration of ``trace`` and its parallelization opportunities."""
    eff = effective_intervals(trace)
    flow = _Flow(trace)
    predicted: dict[str, int] = {}
    opportunities: list[Opportunity] = []
    unknown_total = 0
    for node in _post_order(trace):
        if node not in eff:
            continue
        start, end = eff[node]
        kids = sorted((k for k in trace.children.get(node, ()) if k in eff), key=lambda k: eff[k])
        if not kids:
            predicted[node] = end - start
            continue
        if len(kids) == 1 and _cap_group(trace, node, kids[0]) is None:
            child = kids[0]  # one child: nothing to reorder; keep the time around it
            predicted[node] = (end - start) - (eff[child][1] - eff[child][0]) + predicted[child]
            continue
        finish, opportunity, unknown = _schedule(trace, node, kids, eff, predicted, flow)
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


def _cap_group(trace: Trace, parent: str, child: str) -> tuple[str, int] | None:
    span = trace.spans[child]
    parent_span = trace.spans[parent]
    if parent_span.attr_str(A.ROLE) == A.ROLE_FANOUT and span.attr_str(A.ROLE) == A.ROLE_BRANCH:
        cap = parent_span.attr_int(A.FANOUT_MAX_CONCURRENCY)
        return (f"fanout:{parent}", cap) if cap is not None and cap > 0 else None
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
) -> tuple[dict[str, int], Opportunity | None, int]:
    """Schedule ``node``'s children as early as allowed; return their what-if finish times."""
    is_fanout = trace.spans[node].attr_str(A.ROLE) == A.ROLE_FANOUT
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
        group = _cap_group(trace, node, later)
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
