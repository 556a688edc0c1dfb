"""An earlier step's output fingerprints count only what its subtree made.

An output fingerprint that the span recording it (or a span below it) also had among its
inputs, or that an ancestor had among its own inputs, is an echo: no evidence that a later
sibling read the earlier one. Hand-built traces, one rule per test.
"""

from __future__ import annotations

from fanscope.analysis.blind_pairs import blind_pairs
from fanscope.analysis.dependencies import Flow, Relation, relation
from fanscope.analysis.model import Span
from fanscope.analysis.tree import build_traces
from fanscope.sdk import attributes as A
from tests.analysis.builders import span

IN, OUT = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS


def related(spans: list[Span], earlier: Span, later: Span) -> Relation:
    trace = build_traces(spans)[0]
    return relation(Flow(trace), earlier.span_id, later.span_id)


def test_an_answer_that_repeats_its_prompt_is_matched_only_on_what_it_adds() -> None:
    root = span("agent", 0, 100)
    first = span("chat", 0, 40, root, **{IN: ["question", "prompt1"], OUT: ["question", "a"]})
    asks = span("chat", 50, 90, root, **{IN: ["question", "prompt2"]})
    reads = span("chat", 50, 90, root, **{IN: ["a"]})
    assert related([root, first, asks], first, asks) == Relation.INDEPENDENT
    assert related([root, first, reads], first, reads) == Relation.DEPENDS


def test_an_echo_through_a_call_inside_the_step_is_no_evidence() -> None:
    """The step's output holds a k-gram of the prompt it built for its call (the demo)."""
    root = span("research", 0, 100)
    step = span("fetch_filings", 0, 40, root, **{IN: ["q"], OUT: ["k", "answer"]})
    call = span("chat", 1, 39, step, **{IN: ["k", "prompt"], OUT: ["k", "answer"]})
    nxt = span("price_feed", 50, 90, root, **{IN: ["q"]})
    nxt_call = span("chat", 51, 89, nxt, **{IN: ["k", "prompt2"]})
    assert related([root, step, call, nxt, nxt_call], step, nxt) == Relation.INDEPENDENT


def test_a_value_made_inside_the_step_and_read_there_too_is_still_its_output() -> None:
    """A plan made by one call of the step and read by the next is the step's own."""
    root = span("agent", 0, 100)
    step = span("plan_and_check", 0, 40, root, **{OUT: ["plan", "verdict"]})
    planner = span("chat", 1, 10, step, **{IN: ["goal"], OUT: ["plan"]})
    checker = span("chat", 11, 39, step, **{IN: ["plan"], OUT: ["verdict"]})
    worker = span("chat", 50, 90, root, **{IN: ["plan"]})
    spans = [root, step, planner, checker, worker]
    assert related(spans, step, worker) == Relation.DEPENDS


def test_inputs_common_to_both_steps_through_an_ancestor_are_no_evidence() -> None:
    root = span("agent", 0, 100, **{IN: ["question"]})
    first = span("lookup", 0, 40, root, **{OUT: ["question", "found"]})
    second = span("lookup", 50, 90, root, **{IN: ["question"]})
    assert related([root, first, second], first, second) == Relation.INDEPENDENT


def test_a_step_that_only_echoes_has_nothing_to_compare() -> None:
    """Its outputs are all its inputs: the fingerprints cannot look (kept in order)."""
    root = span("agent", 0, 100)
    first = span("clean", 0, 40, root, **{IN: ["text"], OUT: ["text"]})
    second = span("summarise", 50, 90, root, **{IN: ["text"]})
    other = span("title", 50, 90, root, **{IN: ["unrelated"]})
    assert related([root, first, second], first, second) == Relation.UNKNOWN
    assert related([root, first, other], first, other) == Relation.UNKNOWN


def test_the_later_steps_inputs_are_all_its_subtree_holds() -> None:
    root = span("agent", 0, 100)
    first = span("one", 0, 40, root, **{OUT: ["x"]})
    second = span("two", 50, 90, root)
    call = span("chat", 51, 89, second, **{IN: ["x", "y"], OUT: ["x"]})
    trace = build_traces([root, first, second, call])[0]
    flow = Flow(trace)
    assert flow.of(second.span_id) == (frozenset({"x", "y"}), frozenset())
    assert relation(flow, first.span_id, second.span_id) == Relation.DEPENDS


def test_a_step_kept_in_order_because_it_only_echoed_is_named_so() -> None:
    root = span("agent", 0, 100, **{"fanscope.role": "step"})
    first = span("clean", 0, 40, root, **{"fanscope.role": "step", IN: ["text"], OUT: ["text"]})
    second = span("title", 50, 90, root, **{"fanscope.role": "step", IN: ["other"]})
    silent = span("store", 0, 40, root, **{"fanscope.role": "step", IN: ["text"]})
    echoed = blind_pairs(build_traces([root, first, second])[0])
    assert [p["missing"] for p in echoed] == ["outputs"]
    assert "an echo" in echoed[0]["why"]
    (quiet,) = blind_pairs(build_traces([root, silent, second])[0])
    assert "returned nothing fanscope hashes" in quiet["why"]
