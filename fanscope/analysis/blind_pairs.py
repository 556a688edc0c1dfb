"""Steps kept in order for want of fingerprints: which, and what would give them fingerprints.

The what-if keeps a later step after an earlier one when either side has no data-flow
fingerprints to compare (``dependencies.py``: unknown). ``unknown_pairs`` counts those pairs;
this names them, one per later step (with the sibling that ended last before it), and says
which side had nothing to compare and why it usually happens:

* a span another instrumentation made carries no fingerprints: ``@traced`` on the function
  that makes it records them;
* a fanscope step with no input fingerprints took no arguments worth hashing: pass what it
  uses as arguments;
* a fanscope step with no output fingerprints returned nothing fanscope hashes (``None``, or a
  value of a type it does not fingerprint): return what the next steps use; or returned only
  what its inputs already held (an echo, ``docs/dataflow.md``), which is nothing of its own;
* no span of the trace has any fingerprint: they were turned off
  (``configure(fingerprints=False)``).

A pair the source witness decides (dependent or independent) is not named: the source saw
what the fingerprints could not, so fingerprints would change nothing for it. For a later
step, the sibling named is the latest one before it whose pair neither witness could look at.
"""

from __future__ import annotations

import bisect
import itertools

from fanscope.analysis.critical_path import effective_intervals
from fanscope.analysis.dependencies import (
    Classification,
    Evidence,
    Flow,
    Relation,
    relation,
)
from fanscope.analysis.schema import BlindPair, StepRef
from fanscope.analysis.tree import Trace
from fanscope.analysis.witness import CallSite
from fanscope.sdk import attributes as A

NS = 1e9
#: At most this many pairs are named per trace (``unknown_pairs`` counts them all).
LIMIT = 20
#: Earlier siblings looked at per later step, latest first, for one neither witness decided.
LOOK_BACK = 16


def _why(trace: Trace, span_id: str, side: str) -> str:
    span = trace.spans[span_id]
    if span.attr_str(A.ROLE) is None:
        return "a span of another instrumentation: @traced on the function that makes it"
    if side == "inputs":
        return "took no arguments fanscope hashes: pass what it uses as arguments"
    below = itertools.chain((span_id,), trace.descendants(span_id))
    if any(A.DATAFLOW_OUTPUTS in trace.spans[s].attributes for s in below):
        return "returned only what its inputs already held (an echo): nothing of its own"
    return "returned nothing fanscope hashes: return what the later steps use"


def blind_pairs(trace: Trace, evidence: Evidence | None = None) -> list[BlindPair]:
    """The later steps kept after a sibling for want of fingerprints (at most ``LIMIT``),
    leaving out the pairs ``evidence``'s source witness decided (default: fingerprints only)."""
    spans = trace.spans
    fingerprinted = any(
        A.DATAFLOW_INPUTS in s.attributes or A.DATAFLOW_OUTPUTS in s.attributes
        for s in spans.values()
    )
    off = "no span of this trace has fingerprints: were they turned off (fingerprints=False)?"
    eff = effective_intervals(trace)
    flow = evidence.flow if evidence is not None else Flow(trace)
    out: list[BlindPair] = []
    for parent, kids in trace.children.items():
        if len(kids) < 2 or spans[parent].attr_str(A.ROLE) == A.ROLE_FANOUT:
            continue  # a fan-out's branches are independent by construction
        ordered = sorted((k for k in kids if k in eff), key=eff.__getitem__)
        by_start = sorted(kids, key=lambda k: (spans[k].start, spans[k].end))
        ended: list[str] = []  # the siblings that ended before, latest end last
        for later in ordered:
            latest = _blind_before(evidence, flow, parent, by_start, ended, later, eff)
            if latest is not None:
                side = "inputs" if not flow.of(later)[0] else "outputs"
                blind = later if side == "inputs" else latest
                out.append(
                    BlindPair(
                        step=_ref(trace, later),
                        after=_ref(trace, latest),
                        missing=side,
                        blind=_ref(trace, blind),
                        why=_why(trace, blind, side) if fingerprinted else off,
                    )
                )
                if len(out) >= LIMIT:
                    return out
            bisect.insort(ended, later, key=lambda k: eff[k][1])
    return out


def _blind_before(
    evidence: Evidence | None,
    flow: Flow,
    parent: str,
    kids: list[str],
    ended: list[str],
    later: str,
    eff: dict[str, tuple[int, int]],
) -> str | None:
    """The latest sibling that ended before ``later`` and whose pair with it neither witness
    could look at (with no source witness: the fingerprints could not)."""
    start = eff[later][0]
    if not ended or eff[ended[-1]][1] > start:
        return None  # it ran alongside the latest: nothing kept it waiting
    for earlier in reversed(ended[-LOOK_BACK:]):
        if relation(flow, earlier, later) != Relation.UNKNOWN:
            continue  # the fingerprints looked
        if evidence is None or evidence.source is None:
            return earlier
        found = evidence.classify(parent, kids, earlier, later).classification
        if found == Classification.UNKNOWN:
            return earlier
    return None


def _ref(trace: Trace, span_id: str) -> StepRef:
    span = trace.spans[span_id]
    site = CallSite.of(span)
    return StepRef(
        span_id=span_id,
        name=span.name,
        start=(span.start - trace.start) / NS,
        duration=span.duration / NS,
        where=site.where if site is not None else "",
    )
