"""What an output repeats of the trace's inputs is no evidence that a later step read it.

An answer that restates its question ("Regarding ACME Corporation's outlook: ...") shares
the question with every later prompt that asks about it. That shared text flows from the
question, not from the answer: the later step must not be linked to the answer by it. What
the answer adds is still found, in process and (with a shared key) across processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fanscope.analysis.dependencies import Flow, Relation, relation
from fanscope.analysis.tree import build_traces
from fanscope.sdk import attributes as A
from fanscope.sdk import fingerprint as fp
from tests.analysis.builders import span
from tests.sdk.test_fingerprint_guarantee import ALPHABET, _fits, runs, shared_key

IN, OUT = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS
QUESTION = "Should ACME Corporation renew its supplier contracts in Portugal?"
FINDING = "demand for cork and olive oil grows six percent a year"


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    saved = dict(fp._state)
    fp._memory.clear()
    yield
    fp._state.clear()
    fp._state.update(saved)
    fp._memory.clear()


def step(inputs: tuple[object, ...], output: object) -> set[str]:
    """One step of a trace: its inputs are fingerprinted, then its output; the output's."""
    fp.inputs_of(inputs, {}, scalars=True)
    return set(fp.outputs_of(output, scalars=True))


def later(*inputs: object) -> set[str]:
    return set(fp.inputs_of(inputs, {}, scalars=True))


def analyzed(inputs: tuple[object, ...], output: object, *reader: object) -> Relation:
    """What the analyzer makes of a step and a later one, from what the SDK records."""
    root = span("agent", 0, 100, **{"fanscope.role": "step"})
    ins = fp.inputs_of(inputs, {}, scalars=True)
    outs = fp.outputs_of(output, scalars=True)
    first = span("first", 0, 40, root, **{IN: ins, OUT: outs})
    second = span("second", 50, 90, root, **{IN: fp.inputs_of(reader, {}, scalars=True)})
    trace = build_traces([root, first, second])[0]
    return relation(Flow(trace), first.span_id, second.span_id)


def test_a_restated_question_does_not_link_the_next_prompt_but_the_answer_does() -> None:
    answer = step((f"Market view. {QUESTION} Two sentences.",), f"Regarding {QUESTION}: {FINDING}")
    assert not answer & later(f"Risk review. {QUESTION} List the main risks.")
    assert answer & later(f"Write a report from: {FINDING}.")


def test_a_step_that_returns_its_argument_is_not_what_the_next_step_read() -> None:
    """The branch around the call: its argument is the question, its output the answer (the
    whole value it returns unchanged is recorded on both sides: the analyzer discounts it)."""
    question = "ACME Corporation quarterly outlook"
    fp.inputs_of((question,), {}, scalars=True)  # the branch's argument
    prompt = f"[filings] Summarize {question}'s latest regulatory filings."
    call = step((prompt,), f"On [filings] Summarize {question}'s latest regulatory: up 4%.")
    branch = set(fp.outputs_of(f"On [filings] Summarize {question}'s latest regulatory: up 4%."))
    nxt = later(f"[prices] Describe {question}'s share price moves this month.")
    assert not (call | branch) & nxt
    fp._memory.clear()
    assert analyzed((question,), question, question) == Relation.UNKNOWN  # nothing of its own


def test_an_earlier_output_that_a_step_echoes_still_links_to_where_it_came_from() -> None:
    plan = step(("Plan the trip to Lisbon.",), "Visit the tiled museum, then the castle at dusk")
    timed = "Visit the tiled museum, then the castle at dusk; the museum opens at ten sharp."
    echo = step(("Visit the tiled museum, then the castle at dusk. Add times.",), timed)
    reader = later("Book tickets for: Visit the tiled museum, then the castle at dusk")
    assert plan & reader  # the plan made it
    assert not echo & reader
    assert echo & later("Tell the guide: the museum opens at ten sharp.")  # what the echo added


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    question=runs(fp.RUN),
    added=runs(fp.RUN),
    before=st.text(ALPHABET, max_size=80),
    after=st.text(ALPHABET, max_size=80),
)
def test_in_process_the_echo_never_links_and_what_is_added_always_does(
    question: str, added: str, before: str, after: str
) -> None:
    fp._memory.clear()
    asked, answer, reader = f"{before} {question}", f"{question} {added}", f"{after} {question}"
    assume(runs_of(added) - pieces(asked))  # a run of it the question did not hold
    new = pieces(answer) - pieces(asked)  # what the answer adds
    assume(not pieces(reader) & new)  # the reader has none of it
    echoed = (asked,), answer
    assert analyzed(*echoed, f"{after} {question}") == Relation.INDEPENDENT
    fp._memory.clear()
    assert analyzed(*echoed, f"{after} {added}") == Relation.DEPENDS


def runs_of(text: str) -> set[bytes]:
    norm = fp.normalise(text).encode()
    return {norm[i : i + fp.RUN] for i in range(len(norm) - fp.RUN + 1)}


def pieces(text: str) -> set[bytes]:
    """The text's RUN-grams and short segments, its whole value, normalised."""
    return runs_of(text) | set(fp._segments(text)) | {fp.normalise(text).encode()}


def step_across_processes(inputs: tuple[object, ...], output: object) -> set[str]:
    """The step in its process; the later one in another (the memory of outputs is gone)."""
    prints = step(inputs, output)
    fp._memory.clear()
    return prints


def test_across_processes_a_k_gram_of_the_echo_is_not_recorded() -> None:
    """The demo's false dependency: "acmecorps" (nine letters, one k-gram) in both prompts."""
    with shared_key():
        prompt = "[filings] Summarize ACME Corp's latest regulatory filings in three bullets."
        answer = "On [filings] Summarize ACME Corp's latest regulatory: revenue up four percent."
        outs = step_across_processes((prompt,), answer)
        nxt = later("[prices] Describe ACME Corp's share price moves this month.")
        assert not outs & nxt
        fp._memory.clear()
        unfiltered = set(fp.outputs_of(answer))  # the same answer with no inputs seen
        assert unfiltered & nxt  # without the rule the k-gram would match


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seen=st.text(ALPHABET, max_size=300),
    a=st.text(ALPHABET, max_size=150),
    b=st.text(ALPHABET, max_size=150),
    c=st.text(ALPHABET, max_size=150),
    run=runs(fp.RUN),
)
def test_across_processes_a_run_new_to_the_inputs_is_still_found(
    seen: str, a: str, b: str, c: str, run: str
) -> None:
    """Leaving out the echo keeps the guarantee for every run the inputs did not hold."""
    fp._memory.clear()
    assume(fp.normalise(run) not in fp.normalise(seen))
    output, prompt = f"{a} {run}", f"{b} {run} {c}"
    assume(_fits(output, fp.MAX_OUTPUTS) and _fits(prompt, fp.MAX_INPUTS))
    with shared_key():
        outs = step_across_processes((seen,), output)
        assert outs & later(prompt)


def test_long_inputs_are_seen_within_a_bound() -> None:
    """The store of what inputs held is bounded; what it forgets can only add links."""
    memory = fp._memory
    with_room = memory.capacity
    for trace_id in range(1, 4):
        memory.see(trace_id, list(range(with_room // 2)))
    assert memory.seen_size <= with_room and 1 not in memory.seen  # the oldest went first
    memory.see(9, list(range(with_room + 50)))  # one trace alone: cut at the bound
    assert memory.seen_size <= with_room
