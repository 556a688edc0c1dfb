"""A misspelt option of one fan-out (``f.map(items, on_eror="skip")``) is one line that names
the option meant, as for the constructors and decorators (tests/chaos/test_bad_arguments.py),
and nothing runs: no branch, no span."""

from __future__ import annotations

import asyncio
import difflib
import inspect
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import parallel
from fanscope.errors import FanscopeError
from fanscope.sdk.checks import MAP_OPTIONS, PER_FUNCTION, STREAM_OPTIONS
from tests.chaos.test_bad_arguments import _one_edit

RAN: list[int] = []


@parallel(max_concurrency=2)
async def fetch(x: int) -> int:
    RAN.append(x)
    return x


@parallel(max_concurrency=2)
def lookup(x: int) -> int:
    RAN.append(x)
    return x


class Agent:
    @parallel(max_concurrency=2)
    async def ask(self, x: int) -> int:
        RAN.append(x)
        return x


async def _drain(stream: AsyncIterator[Any]) -> list[Any]:
    return [x async for x in stream]


Call = Callable[[dict[str, Any]], Any]

# each per-call form as the user reaches it, with the options it takes
FORMS: dict[str, tuple[Call, tuple[str, ...]]] = {
    "fetch.map()": (lambda kw: asyncio.run(fetch.map([1], **kw)), MAP_OPTIONS),
    "fetch.starmap()": (lambda kw: asyncio.run(fetch.starmap([(1,)], **kw)), MAP_OPTIONS),
    "fetch.as_completed()": (
        lambda kw: asyncio.run(_drain(fetch.as_completed([1], **kw))),
        STREAM_OPTIONS,
    ),
    "ask.map()": (lambda kw: asyncio.run(Agent().ask.map([1], **kw)), MAP_OPTIONS),
    "lookup.map()": (lambda kw: lookup.map([1], **kw), MAP_OPTIONS),
    "lookup.starmap()": (lambda kw: lookup.starmap([(1,)], **kw), MAP_OPTIONS),
    "lookup.as_completed()": (lambda kw: list(lookup.as_completed([1], **kw)), STREAM_OPTIONS),
    "lookup.aio.map()": (lambda kw: asyncio.run(lookup.aio.map([1], **kw)), MAP_OPTIONS),
    "lookup.aio.starmap()": (
        lambda kw: asyncio.run(lookup.aio.starmap([(1,)], **kw)),
        MAP_OPTIONS,
    ),
    "lookup.aio.as_completed()": (
        lambda kw: asyncio.run(_drain(lookup.aio.as_completed([1], **kw))),
        STREAM_OPTIONS,
    ),
}


def refused(what: str, keywords: dict[str, Any]) -> str:
    """The one line ``what`` raises for these keywords; nothing ran and no span was made."""
    call, _ = FORMS[what]
    RAN.clear()
    with pytest.raises(FanscopeError) as caught:
        call(keywords)
    assert isinstance(caught.value, TypeError)  # `except TypeError` still catches it
    assert RAN == []
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("what", sorted(FORMS))
def test_a_misspelt_option_of_a_fan_out_names_the_option_meant(
    what: str, exporter: InMemorySpanExporter
) -> None:
    message = refused(what, {"on_eror": "skip"})
    assert message == f"{what} has no option on_eror=; did you mean on_error=?"
    assert exporter.get_finished_spans() == ()  # refused before the fan-out began
    call, _ = FORMS[what]
    assert call({"on_error": "skip"}) in ([1], [(0, 1)])  # spelt right, the same call runs


@pytest.mark.parametrize(
    ("keywords", "says"),
    [
        ({"max_concurrency": 4}, "takes no max_concurrency=: it is an option of the function, "),
        ({"retry": 3}, "for all its calls: @parallel(retry=...)"),
        ({"timeout": 5}, "it limits each call, an option of the function: @parallel(timeout="),
        ({"timeout": 5}, "for the whole fan-out pass deadline=..."),
        ({"colour": "red"}, "has no option colour=; its options: on_error, min_successes, dead"),
    ],
)
def test_an_option_of_the_function_given_to_a_fan_out_says_where_it_belongs(
    keywords: dict[str, Any], says: str
) -> None:
    assert says in refused("fetch.map()", keywords)
    assert says in refused("lookup.map()", keywords)


def test_the_options_said_to_belong_to_the_function_are_those_parallel_takes() -> None:
    # an option added to @parallel later is said to belong there when given to a fan-out
    takes = {
        p.name for p in inspect.signature(parallel).parameters.values() if p.kind is p.KEYWORD_ONLY
    }
    assert set(PER_FUNCTION) == takes
    for what, (_, options) in FORMS.items():
        method = getattr(lookup.aio, what.split(".")[-1].removesuffix("()"))
        named = {
            p.name
            for p in inspect.signature(method).parameters.values()
            if p.kind is p.KEYWORD_ONLY
        }
        assert named == set(options), what


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_one_letter_misspelling_of_a_fan_out_option_is_one_line_naming_the_one_meant(
    data: st.DataObject,
) -> None:
    what = data.draw(st.sampled_from(sorted(FORMS)))
    _, options = FORMS[what]
    meant = data.draw(st.sampled_from(options))
    word = _one_edit(meant, data)
    assume(word not in options and word.isidentifier() and word not in PER_FUNCTION)
    message = refused(what, {word: 1})
    assert message.startswith(f"{what} has no option {word}=; ")
    near = re.search(r"did you mean (\w+)=\?$", message)
    if len(meant) >= 4:  # every option: one letter off is always near enough to suggest
        assert near, message
    if near:  # the option meant, or one at least as close to what was typed
        assert near.group(1) in options
        ratio = difflib.SequenceMatcher(None, word, near.group(1)).ratio()
        assert ratio >= difflib.SequenceMatcher(None, word, meant).ratio()
    else:
        assert message.endswith("its options: " + ", ".join(options))


@settings(max_examples=150, deadline=None)
@given(what=st.sampled_from(sorted(FORMS)), word=st.text(min_size=1, max_size=20))
@example(what="lookup.map()", word="\n")  # a keyword that is no identifier is shown by repr
@example(what="fetch.map()", word="items")  # the input by name as well as by position
@example(what="lookup.as_completed()", word="self")
def test_any_keyword_at_all_that_a_fan_out_does_not_take_is_one_line(what: str, word: str) -> None:
    _, options = FORMS[what]
    assume(word not in options)
    if word in ("self", "items"):
        # given twice, by position and by name: Python's own error, no misspelt option
        with pytest.raises(TypeError, match=f"multiple values for argument '{word}'"):
            FORMS[what][0]({word: 1})
        return
    message = refused(what, {word: 1})
    if word in PER_FUNCTION:
        assert message.startswith(f"{what} takes no {word}=: it ")
    else:
        shown = f"{word}=" if word.isidentifier() else repr(word)
        assert message.startswith(f"{what} has no option {shown}; ")


def test_gather_names_a_misspelt_option_in_the_same_words() -> None:
    with pytest.raises(FanscopeError, match=r"^gather\(\) has no option on_eror=; did you mean "):
        fanscope.gather(lambda: 1, on_eror="skip")


# -- a vote's call: the arguments of the voters' own function ---------------------------------


@fanscope.vote(n=3)
async def judge(diff: str, *, strict: bool = False, language: str = "en") -> bool:
    RAN.append(1)
    return strict


@fanscope.vote(n=3)
def sync_judge(diff: str, *, strict: bool = False, language: str = "en") -> bool:
    RAN.append(1)
    return strict


class Reviewer:
    @fanscope.vote(n=2)
    async def review(self, diff: str, *, strict: bool = False, language: str = "en") -> bool:
        return strict


async def _strict(diff: str, *, strict: bool = False, language: str = "en") -> bool:
    return True


async def _lenient(diff: str, *, strict: bool = False, language: str = "en") -> bool:
    return False


panel = fanscope.vote.among(_strict, _lenient, _lenient)

VOTES: dict[str, Call] = {
    "judge": lambda kw: asyncio.run(judge(**kw)),
    "judge.ballot": lambda kw: asyncio.run(judge.ballot(**kw)),
    "sync_judge": lambda kw: sync_judge(**kw),
    "sync_judge.ballot": lambda kw: sync_judge.ballot(**kw),
    "review": lambda kw: asyncio.run(Reviewer().review(**kw)),
    "_strict+_lenient+_lenient": lambda kw: asyncio.run(panel(**kw)),
}
ARGUMENTS = ("diff", "strict", "language")


def vote_refused(what: str, keywords: dict[str, Any]) -> str:
    with pytest.raises(FanscopeError) as caught:
        VOTES[what](keywords)
    assert isinstance(caught.value, TypeError)  # what Python raises for one such call
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("what", sorted(VOTES))
def test_a_vote_given_an_argument_its_voters_do_not_take_names_the_one_meant(what: str) -> None:
    name = what.removesuffix(".ballot")
    message = vote_refused(what, {"dif": "x"})
    assert message == f"{name}() has no argument dif=; did you mean diff=?"
    assert vote_refused(what, {}) == f"{name}() needs diff=; pass e.g. {name}(diff=...)"
    assert VOTES[what]({"diff": "x", "strict": True}) is not None  # spelt right, it runs


def test_a_voter_without_a_signature_keeps_the_vote_failure() -> None:
    # a builtin has no signature inspect can read: the voters' own errors are what is known
    panel = fanscope.vote.among(max, max)
    with pytest.raises(fanscope.NotEnoughSuccesses, match="TypeError: 'int' object is not"):
        panel(1)


def test_a_type_error_a_voter_raises_itself_stays_the_vote_failure() -> None:
    @fanscope.vote(n=3)
    async def broken(diff: str) -> bool:
        raise TypeError("from the voter's body")

    with pytest.raises(fanscope.NotEnoughSuccesses, match="from the voter's body"):
        asyncio.run(broken("x"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_one_letter_misspelling_of_a_voter_argument_is_one_line_naming_the_one_meant(
    data: st.DataObject,
) -> None:
    what = data.draw(st.sampled_from(sorted(VOTES)))
    meant = data.draw(st.sampled_from(ARGUMENTS))
    word = _one_edit(meant, data)
    assume(word not in ARGUMENTS and word.isidentifier())
    keywords = {word: 1} if meant == "diff" else {"diff": "x", word: 1}
    message = vote_refused(what, keywords)
    near = re.fullmatch(r"\S+\(\) has no argument (\w+)=; did you mean (\w+)=\?", message)
    assert near, message
    assert near.group(1) == word and near.group(2) in ARGUMENTS
    ratio = difflib.SequenceMatcher(None, word, near.group(2)).ratio()
    assert ratio >= difflib.SequenceMatcher(None, word, meant).ratio()
