"""Data-flow fingerprints: what matches, what does not, and what is never recorded."""

from __future__ import annotations

from dataclasses import dataclass

from fanscope.sdk import fingerprint

ANSWER = (
    "Acme Corp reported third quarter revenue of 4.2 billion dollars, up eleven percent "
    "year over year, driven by strong demand for its cloud storage products in Europe."
)


def test_an_answer_passed_as_an_argument_matches_its_output() -> None:
    out = fingerprint.outputs_of(ANSWER)
    assert set(out) & set(fingerprint.inputs_of(([ANSWER, "other text here"],), {}))


def test_an_answer_pasted_into_a_longer_prompt_matches() -> None:
    prompt = (
        "You are an analyst. Using the sources below, write a short brief.\n\n"
        f"News: {ANSWER}\n\nFilings: nothing notable was filed this quarter at all.\n"
    )
    assert set(fingerprint.outputs_of(ANSWER)) & set(fingerprint.inputs_of((prompt,), {}))


def test_unrelated_texts_and_small_values_do_not_match() -> None:
    other = "The weather in Lisbon will be sunny with a light breeze from the north west."
    assert not set(fingerprint.outputs_of(ANSWER)) & set(fingerprint.inputs_of((other,), {}))
    assert fingerprint.inputs_of((1, 2.5, True, None, "short"), {}) == []


def test_fingerprints_are_hex_bounded_and_never_contain_content() -> None:
    saved = dict(fingerprint._state)
    try:
        fingerprint.set_key("shared by the processes of a trace")  # k-grams are recorded
        prompt = " ".join(f"word{i}" for i in range(100))
        prints = fingerprint.inputs_of((prompt,), {})
        assert 1 < len(prints) <= fingerprint.MAX_INPUTS
        long_prompt = " ".join(f"word{i}" for i in range(5000))
        longer = fingerprint.inputs_of((long_prompt,), {})
    finally:
        fingerprint._state.clear()
        fingerprint._state.update(saved)
    assert 1 <= len(longer) <= fingerprint.MAX_INPUTS  # too long to winnow: linked in-process
    assert all(len(p) == 16 and int(p, 16) >= 0 for p in prints)
    assert not any("word" in p for p in (*prints, *longer))


def test_containers_and_dataclasses_are_walked() -> None:
    @dataclass
    class Doc:
        body: str

    assert set(fingerprint.outputs_of(ANSWER)) <= set(
        fingerprint.inputs_of((), {"doc": Doc(ANSWER), "n": 3})
    )


def test_the_key_changes_the_hashes_and_disabling_records_nothing() -> None:
    before = fingerprint.outputs_of(ANSWER)
    saved = dict(fingerprint._state)
    try:
        fingerprint.set_key("fixed key")
        keyed = fingerprint.outputs_of(ANSWER)
        assert keyed != before
        fingerprint.set_key("fixed key")
        assert fingerprint.outputs_of(ANSWER) == keyed
        fingerprint.set_enabled(False)
        assert fingerprint.outputs_of(ANSWER) == []
    finally:
        fingerprint._state.update(saved)


def test_sequential_steps_fingerprint_numbers_and_short_strings_too() -> None:
    assert fingerprint.inputs_of((42, "ACME"), {}) == []
    scalar = fingerprint.inputs_of((42, "ACME", True, None), {}, scalars=True)
    assert len(scalar) == 2
    assert set(fingerprint.outputs_of(42, scalars=True)) <= set(scalar)
    assert not set(fingerprint.outputs_of(43, scalars=True)) & set(scalar)
    assert fingerprint.outputs_of("42", scalars=True) != fingerprint.outputs_of(42, scalars=True)
