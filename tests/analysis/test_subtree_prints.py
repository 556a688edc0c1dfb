"""The indexed subtree fingerprints answer as a walk of each subtree would, budget included."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from fanscope.analysis import analyze
from fanscope.analysis.dependencies import Flow
from fanscope.analysis.model import Span
from fanscope.analysis.tree import Trace, build_trace
from fanscope.sdk import attributes as A
from tests.analysis.builders import TRACE, span

IN, OUT, PARTIAL = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS, A.DATAFLOW_PARTIAL


def walked(trace: Trace, span_id: str) -> tuple[frozenset[str], frozenset[str]]:
    """The definition, by walking the subtree: inputs of the span and its descendants (none
    when one marks them partial); outputs of each span that neither it, nor a descendant of
    it, nor an ancestor of ``span_id`` took in."""
    ins: set[str] = set()
    outs: set[str] = set()
    partial = False
    below = [span_id, *trace.descendants(span_id)]
    for sid in below:
        own = trace.spans[sid].attr_strs(IN)
        partial = partial or PARTIAL in own
        ins.update(own)
    for sid in below:
        subtree = {sid, *trace.descendants(sid)}
        taken = {fp for s in subtree for fp in trace.spans[s].attr_strs(IN)}
        outs.update(fp for fp in trace.spans[sid].attr_strs(OUT) if fp not in taken)
    above: set[str] = set()
    parent = trace.parent(span_id)
    while parent is not None:
        above.update(trace.spans[parent].attr_strs(IN))
        parent = trace.parent(parent)
    return (frozenset() if partial else frozenset(ins)), frozenset(outs - above)


PRINTS = st.lists(st.sampled_from(["a", "b", "c", "d", PARTIAL]), max_size=3)


@st.composite
def forests(draw: st.DrawFn) -> list[Span]:
    """Random forests: each span's parent is an earlier span or none, with fingerprints."""
    n = draw(st.integers(1, 30))
    spans: list[Span] = []
    for i in range(n):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None
        attributes: dict[str, object] = {}
        ins, outs = draw(PRINTS), draw(PRINTS.map(lambda p: [x for x in p if x != PARTIAL]))
        if ins or draw(st.booleans()):
            attributes[IN] = ins
        if outs:
            attributes[OUT] = outs
        spans.append(
            Span(
                trace_id=TRACE,
                span_id=f"{i + 1:016x}",
                parent_id=spans[parent].span_id if parent is not None else None,
                name=f"s{i}",
                start=0,
                end=1,
                attributes=attributes,
            )
        )
    return spans


@settings(max_examples=100, deadline=None)
@given(forests(), st.data())
def test_the_index_answers_as_walking_each_subtree_does(
    spans: list[Span], data: st.DataObject
) -> None:
    trace = build_trace(TRACE, spans)
    order = data.draw(st.permutations(list(trace.spans)))
    budget = data.draw(st.integers(0, 60))
    flow = Flow(trace)
    flow.budget = budget
    spent = 0
    for sid in order:
        # charged what a walk of the subtree would visit; once out, every answer is none
        spent += 1 + sum(1 for _ in trace.descendants(sid))
        ins, outs = flow.of(sid)
        assert flow.exhausted == (spent > budget)
        if flow.exhausted:
            assert (set(ins), set(outs)) == (set(), set())
            continue
        want_ins, want_outs = walked(trace, sid)
        assert (ins, outs) == (want_ins, want_outs)  # lazy sets equal to the walk's
        assert bool(ins) == bool(want_ins) and bool(outs) == bool(want_outs)
        for fp in ["a", "b", "c", "d", PARTIAL, "z"]:
            assert (fp in ins) == (fp in want_ins)
            assert (fp in outs) == (fp in want_outs)
        assert flow.of(sid) == (want_ins, want_outs)  # asking again is free and the same


def _comb(n: int, deep: bool) -> list[Span]:
    """A step per level with a fingerprinted leaf, nested ``n`` deep (``deep``) or all under
    the root, one after another: the same spans and fingerprints, differently shaped."""
    spans = [span("root", 0, 3 * n + 3, fanscope__role="step")]
    parent = spans[0]
    for i in range(n):
        leaf = span(
            "leaf",
            3 * i + 1,
            3 * i + 2,
            parent,
            fanscope__role="step",
            fanscope__dataflow__inputs=[f"q{i}"],
            fanscope__dataflow__outputs=[f"a{i}"],
        )
        node = span("node", 3 * i + 2, 3 * n + 2 if deep else 3 * i + 3, parent)
        spans += [leaf, node]
        parent = node if deep else parent
    return spans


def test_a_deep_trace_is_analysed_about_as_fast_as_a_flat_one_of_the_same_size() -> None:
    # Below the visit budget, asking each level about everything below it cost the square of
    # the depth (700 levels: about 30 times the flat trace's CPU time). Both shapes are
    # analysed in turns, three rounds, and the fastest of each compared: CPU time, so a
    # loaded machine slows both alike.
    n = 700
    best = {True: float("inf"), False: float("inf")}
    for _ in range(3):
        for deep in (True, False):
            spans = _comb(n, deep)
            began = time.process_time()
            report = analyze(spans).traces[0]
            best[deep] = min(best[deep], time.process_time() - began)
            assert not report.warnings  # the deep one stays within the budget: all compared
    assert best[True] <= 4 * best[False], best
