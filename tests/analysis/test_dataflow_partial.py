"""Inputs marked partial (they may miss an earlier output) are compared with nothing."""

from __future__ import annotations

from fanscope.analysis import analyze
from fanscope.analysis.dependencies import Witnesses
from fanscope.sdk import attributes as A
from tests.analysis.builders import span

IN, OUT = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS


def two_steps(later_inputs: list[str]) -> list[object]:
    root = span("agent", 0, 900, **{"fanscope.role": "step"})
    one = span("one", 0, 400, root, **{"fanscope.role": "step", OUT: ["a1"]})
    two = span("two", 400, 900, root, **{"fanscope.role": "step"})
    call = span("chat model", 410, 890, two, **{IN: later_inputs})
    return [root, one, two, call]


def test_unmatched_inputs_are_independent_but_partial_ones_are_unknown() -> None:
    # no call sites on these spans: the fingerprints alone make a candidate, counted here
    counted = Witnesses(count_candidates=True)
    independent = analyze(two_steps(["x", "y"]), witnesses=counted).traces[0]
    assert independent.opportunities and independent.unknown_pairs == 0
    partial = analyze(two_steps([A.DATAFLOW_PARTIAL, "x", "y"]), witnesses=counted).traces[0]
    assert partial.opportunities == [] and partial.unknown_pairs == 1
    assert partial.whatif == partial.duration
