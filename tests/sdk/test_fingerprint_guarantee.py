"""The fingerprints' guarantee: a shared run of RUN normalised characters is always found.

``docs/dataflow.md`` states it; these tests hold the SDK to it. "Found" means: an input
fingerprint of the later text equals an output fingerprint of the earlier one, so the
analyzer calls the later step dependent.
"""

from __future__ import annotations

import contextlib
import json
import random
import string
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from fanscope.sdk import fingerprint as fp

SEVEN_WORDS = "Revenue grew eleven percent in Europe overall"
ANSWER = (
    "Acme Corp reported third quarter revenue of 4.2 billion dollars, up eleven percent "
    "year over year, driven by strong demand for its cloud storage products in Europe."
)


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    saved = dict(fp._state)
    fp._memory.clear()
    yield
    fp._state.clear()
    fp._state.update(saved)
    fp._memory.clear()


@contextlib.contextmanager
def shared_key() -> Iterator[None]:
    """As every process of a trace configured with the same ``fingerprint_key``."""
    saved = dict(fp._state)
    fp.set_key("one key for every process of the trace")
    try:
        yield
    finally:
        fp._state.clear()
        fp._state.update(saved)


def found(output: object, *inputs: object, scalars: bool = False) -> bool:
    outs = set(fp.outputs_of(output, scalars=scalars))
    ins = set(fp.inputs_of(tuple(inputs), {}, scalars=scalars))
    return bool(outs & ins) or fp.PARTIAL in ins


def found_across_processes(output: object, *inputs: object) -> bool:
    """Only what the spans record, with a shared key: the memory of earlier outputs is gone."""
    with shared_key():
        outs = set(fp.outputs_of(output))
        fp._memory.clear()
        return bool(outs & set(fp.inputs_of(tuple(inputs), {})))


def filler(words: int, seed: int = 0) -> str:
    """Seeded text that does not repeat itself (repeats would make few fingerprints)."""
    vocab = [
        "the",
        "model",
        "checks",
        "each",
        "source",
        "and",
        "writes",
        "a",
        "careful",
        "short",
        "brief",
        "for",
        "readers",
    ]
    rng = random.Random(seed)
    return " ".join(rng.choice(vocab) + str(rng.randrange(1000)) for _ in range(words))


# -- the cases that used to be missed --------------------------------------------------------


@pytest.mark.parametrize("context_words", [20, 400, 20_000])
def test_a_seven_word_answer_pasted_into_a_longer_prompt(context_words: int) -> None:
    prompt = f"Given this context:\n{SEVEN_WORDS}\n{filler(context_words)}\nWhat follows?"
    assert found(SEVEN_WORDS, prompt)


def test_a_seven_word_answer_in_a_short_prompt_is_found_from_the_spans_alone() -> None:
    prompt = f"Given this context:\n{SEVEN_WORDS}\nWhat should the team do next?"
    assert found_across_processes(SEVEN_WORDS, prompt)


def test_an_input_with_only_the_first_40_characters_of_an_output() -> None:
    prompt = f"Follow up on: {ANSWER[:40]}... and say more."
    assert found(ANSWER, prompt)
    assert found_across_processes(ANSWER, prompt)


def test_an_input_that_differs_in_punctuation_case_and_spacing() -> None:
    changed = ANSWER.upper().replace(",", ";").replace(" ", "\n  ").replace(".", "!")
    assert found(ANSWER, f"Check this: {changed}")
    assert found_across_processes(ANSWER, f"Check this: {changed}")


@pytest.mark.parametrize(
    "encode",
    [
        json.dumps,
        lambda v: json.dumps({"city": v}),
        lambda v: json.dumps([v, 3]),
        lambda v: json.dumps(v, ensure_ascii=True),
        repr,
    ],
)
def test_a_two_word_value_reencoded_as_json(encode: object) -> None:
    assert callable(encode)
    value = "São Paulo"
    assert found(value, encode(value), scalars=True)


def test_a_short_value_parsed_out_of_a_plan_and_passed_on_whole() -> None:
    xml = "<plan>\n<task>Check prices</task>\n<task>Read filings</task>\n</plan>"
    assert found(xml, "Read filings", scalars=True)
    listed = "1. Check prices\n2. Read filings\n3. Ask the team"
    assert found(listed, "Ask the team", scalars=True)
    as_json = 'Here is the plan:\n```json\n{"tasks": ["Check prices", "Read filings"]}\n```'
    assert found(as_json, "Check prices", scalars=True)


def test_a_short_value_on_a_line_of_its_own_or_after_a_label_in_a_prompt() -> None:
    prompt = "Analyse this aspect of Northwind in three lines.\nInput: pricing"
    assert found('{"aspects": ["pricing", "hiring"]}', prompt)  # a JSON plan's one-word task
    assert found("Blue Heron", "Given this context:\nBlue Heron\nWhat should we name it?")
    assert found("Category: trail runners", "trail runners", scalars=True)
    assert not found('{"aspects": ["pricing"]}', "Analyse the pricing of Northwind in three lines.")


def test_numbers_and_ids_passed_on_whole_as_before() -> None:
    assert found(42, 42, scalars=True)
    assert found("cus_8f3k", "cus_8f3k", scalars=True)
    assert not found(42, 43, scalars=True)


def test_unrelated_texts_do_not_match() -> None:
    other = "The weather in Lisbon will be sunny with a light breeze from the north west."
    assert not found(ANSWER, other)
    assert not found(SEVEN_WORDS, f"Summarise the reviews of the new phone: {filler(300)}")


# -- the guarantee, as a property -------------------------------------------------------------

# letters, digits, punctuation and some non-ASCII (accents, a ligature NFKC unfolds, CJK)
ALPHABET = string.ascii_letters + string.digits + " ,.;:!?-'\"()\n\t" + "éÉüßﬁ東京—"
texts = st.text(alphabet=ALPHABET, max_size=600)


def runs(min_chars: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=ALPHABET, min_size=min_chars, max_size=200).filter(
        lambda r: len(fp.normalise(r)) >= fp.RUN
    )


def _shared(before: str, run: str, after: str) -> str:
    return f"{before} {run} {after}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=texts, b=texts, c=texts, d=texts, run=runs(fp.RUN))
def test_any_shared_run_is_found_in_process(a: str, b: str, c: str, d: str, run: str) -> None:
    fp._memory.clear()
    assert found(_shared(a, run, b), _shared(c, run, d))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.integers(0, 60_000),
    b=st.integers(0, 60_000),
    cut=st.integers(0, 200),
    seed=st.integers(0, 50),
)
def test_whatever_the_lengths(a: int, b: int, cut: int, seed: int) -> None:
    """Long answers and long prompts: still found, with a bounded number of fingerprints."""
    fp._memory.clear()
    run = ANSWER[cut % 60 : cut % 60 + 20 + cut]
    assume(len(fp.normalise(run)) >= fp.RUN)
    output = filler(a // 8, seed)[:a] + " " + run + " " + filler(50, seed + 1)
    prompt = filler(b // 8, seed + 2)[:b] + " " + run
    outs = fp.outputs_of(output)
    ins = fp.inputs_of((prompt,), {})
    assert len(outs) <= fp.MAX_OUTPUTS and len(ins) <= fp.MAX_INPUTS
    assert set(outs) & set(ins)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=st.text(ALPHABET, max_size=150), b=texts, c=texts, run=runs(fp.RUN))
def test_within_the_caps_the_spans_alone_carry_the_guarantee(
    a: str, b: str, c: str, run: str
) -> None:
    """Across processes (no memory), for texts whose winnowed fingerprints fit the caps."""
    output = _shared(a, run, "")
    prompt = _shared(b, run, c)
    assume(_fits(output, fp.MAX_OUTPUTS))
    assume(_fits(prompt, fp.MAX_INPUTS))
    assert found_across_processes(output, prompt)


def _fits(text: str, limit: int) -> bool:
    """Whether ``text`` records every winnowed k-gram (as ``outputs_of``/``inputs_of`` do)."""
    with shared_key():
        prints = fp._Prints(limit)
        prints.leaf(text, record=True)
        for short in fp._segments(text):
            prints.add(hash(short))
        prints.winnowed()
        return not (prints.sampled or prints.dropped)


def test_without_a_shared_key_the_spans_record_no_k_grams() -> None:
    """They could only match in this process, where the links are exact: no coincidences."""
    name = "Ada Lovelace wrote the first program"
    other = "A museum label about Ada Lovelace and Babbage"  # shares 'adalovelace', 11 letters
    plain = fp.inputs_of((other,), {})
    assert len(plain) == 1  # the whole value
    assert not found(name, other)
    with shared_key():
        assert len(fp.inputs_of((other,), {})) > 1  # winnowed k-grams, for other processes


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(texts, st.integers(), st.lists(texts, max_size=300)))
def test_fingerprints_are_bounded_hex_and_never_content(value: object) -> None:
    outs = fp.outputs_of(value, scalars=True)
    ins = fp.inputs_of((value, value), {"more": value}, scalars=True)
    assert len(outs) <= fp.MAX_OUTPUTS and len(ins) <= fp.MAX_INPUTS
    for print_ in (*outs, *ins):
        assert len(print_) == 16 and int(print_, 16) >= 0


@given(st.text(ALPHABET, max_size=80))
def test_normalisation_ignores_case_punctuation_spacing_and_escapes(text: str) -> None:
    plain = fp.normalise(text)
    assert fp.normalise(json.dumps(text)) == plain
    assert fp.normalise(json.dumps(text, ensure_ascii=False)) == plain
    assert fp.normalise(text.upper().replace(" ", "  \n")) == fp.normalise(text.upper())
    assert all(ch.isalnum() for ch in plain)


# -- what is given up at the bound ------------------------------------------------------------


@contextlib.contextmanager
def in_trace(trace_id: int) -> Iterator[None]:
    context = SpanContext(trace_id=trace_id, span_id=1, is_remote=False)
    with trace.use_span(NonRecordingSpan(context)):
        yield


def test_a_forgotten_trace_marks_inputs_that_could_miss_it_partial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the memory forgot a trace's outputs, inputs that relied on it say so."""
    monkeypatch.setattr(fp._memory, "capacity", 2_000)
    long_answer = filler(2_000, 1)  # recorded as a sample: more fingerprints than the cap
    long_prompt = "Use this: " + long_answer[5_000:5_400] + filler(3_000, 2)
    with shared_key():
        with in_trace(1):
            fp.outputs_of(long_answer)
        with in_trace(2):
            fp.outputs_of(SEVEN_WORDS)  # recorded whole and winnowed in full
        fp._memory.remember(3, list(range(3_000)), 1, False, False)  # pushes both out
        with in_trace(1):
            assert fp.inputs_of((long_prompt,), {})[0] == fp.PARTIAL
            assert fp.inputs_of(("a short prompt",), {})[0] == fp.PARTIAL  # output sampled
        with in_trace(2):
            assert fp.inputs_of((long_prompt,), {})[0] == fp.PARTIAL  # the input sampled
            short = fp.inputs_of((f"Given: {SEVEN_WORDS}",), {})
            assert fp.PARTIAL not in short  # both whole: the spans alone carry it
        with in_trace(4):
            assert fp.PARTIAL not in fp.inputs_of((long_prompt,), {})  # nothing forgotten
    with in_trace(5):  # without a shared key nothing is winnowed: forgetting is partial
        fp.outputs_of(SEVEN_WORDS)
    fp._memory.remember(6, list(range(3_000)), 1, False, False)
    with in_trace(5):
        assert fp.inputs_of((f"Given: {SEVEN_WORDS}",), {})[0] == fp.PARTIAL


def test_an_input_naming_too_many_earlier_outputs_is_partial() -> None:
    answers = [f"answer number {i} says {filler(3, i)} and more" for i in range(fp.MAX_LINKS + 5)]
    for answer in answers:
        fp.outputs_of(answer)
    ins = fp.inputs_of(("\n".join(answers),), {})
    assert ins[0] == fp.PARTIAL and len(ins) <= fp.MAX_INPUTS


def test_outputs_of_one_trace_do_not_link_inputs_of_another() -> None:
    fp._memory.remember(1, [hash(b"x" * 16)], 77, False, False)
    assert fp._memory.links(1, [hash(b"x" * 16)]) == {77}
    assert fp._memory.links(2, [hash(b"x" * 16)]) == set()
