"""@vote: aggregation, keys, abstentions, early stop, nesting, spans, bad arguments."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Ballot, NoConsensus, parallel, vote
from fanscope.errors import ConfigurationError, UsageError
from fanscope.sdk import attributes as A
from tests.conftest import spans_named


class Script:
    """Voters that answer from a script, in an order set by events (no sleeps)."""

    def __init__(self, answers: list[Any], order: list[int] | None = None) -> None:
        self.answers = answers
        self.order = order or list(range(len(answers)))
        self.calls = 0
        self.cancelled = 0
        self.turn: list[asyncio.Event] = []

    async def _release(self, index: int) -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        self.turn[index].set()

    async def __call__(self, question: str) -> Any:
        if not self.turn:
            self.turn = [asyncio.Event() for _ in self.answers]
            self.turn[self.order[0]].set()
        me = self.calls
        self.calls += 1
        try:
            await self.turn[me].wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        answer = self.answers[me]
        position = self.order.index(me)
        if position + 1 < len(self.order):
            # the next voter answers a few loop turns later, time enough for the vote to count
            asyncio.get_running_loop().create_task(self._release(self.order[position + 1]))
        if isinstance(answer, Exception):
            raise answer
        return answer


def voting(script: Script, **options: Any) -> Any:
    async def judge(question: str) -> Any:
        return await script(question)

    return vote(n=len(script.answers), **options)(judge)


async def test_majority_returns_an_original_answer_and_the_ballot_counts() -> None:
    script = Script([" Yes", "yes ", "no", "YES", "no"])
    judge = voting(script, key=lambda a: a.strip().lower())
    ballot = await judge.ballot("merge?")
    assert ballot.winner in {" Yes", "yes ", "YES"} and ballot.winner_key == "yes"
    assert ballot.counts["yes"] >= 2
    assert ballot.decided


async def test_a_decided_vote_returns_without_waiting_and_cancels_the_slow_voters(
    exporter: InMemorySpanExporter,
) -> None:
    script = Script([True, True, True, False, False], order=[0, 1, 2, 3, 4])
    judge = voting(script, quorum=3)
    ballot = await judge.ballot("safe?")
    assert ballot.winner is True and ballot.stopped_early
    assert ballot.cancelled == 2 and script.cancelled == 2
    cancelled = [
        s for s in spans_named(exporter, "judge")
        if s.attributes and s.attributes[A.BRANCH_OUTCOME] == "cancelled"
    ]  # fmt: skip
    assert len(cancelled) == 2
    assert {s.attributes[A.CANCEL_REASON] for s in cancelled if s.attributes} == {"vote decided"}
    (fanin,) = spans_named(exporter, "fan-in judge")
    attrs = fanin.attributes or {}
    assert attrs[A.VOTE_WINNER] == "True" and attrs[A.VOTE_STOPPED_EARLY] is True
    assert attrs[A.VOTE_CANCELLED] == 2 and attrs[A.VOTE_AGREEMENT] == 1.0
    assert attrs[A.VOTE_COUNTS] == ("True=3",)
    (fanout,) = spans_named(exporter, "vote judge")
    assert (fanout.attributes or {})[A.KIND] == A.KIND_VOTE


async def test_majority_stops_once_no_remaining_votes_could_change_it() -> None:
    # 3 of 5 agree: the other two cannot overturn a majority, even without a quorum set
    script = Script(["a", "a", "a", "b", "b"])
    ballot = await voting(script).ballot("q")
    assert ballot.winner == "a" and ballot.stopped_early and ballot.cancelled == 2


async def test_plurality_unanimous_and_ties() -> None:
    assert await voting(Script(["a", "b", "a", "c"]), aggregate="plurality")("q") == "a"
    with pytest.raises(NoConsensus, match="no majority winner") as info:
        await voting(Script(["a", "b", "a", "b"]))("q")
    assert isinstance(info.value.ballot, Ballot) and info.value.ballot.counts == {"a": 2, "b": 2}
    assert await voting(Script(["a", "b", "a", "b"]), tie_breaker=lambda b: "tie")("q") == "tie"
    assert await voting(Script(["x", "x", "x"]), aggregate="unanimous")("q") == "x"
    with pytest.raises(NoConsensus, match="no unanimous winner"):
        await voting(Script(["x", "y", "x"]), aggregate="unanimous")("q")


async def test_a_callable_aggregation_receives_the_ballot() -> None:
    def longest(ballot: Ballot[str]) -> str:
        return max((o.value for o in ballot.outcomes if o.ok), key=len)  # type: ignore[arg-type, type-var]

    assert await voting(Script(["ab", "abcd", "a"]), aggregate=longest)("q") == "abcd"


async def test_failed_voters_abstain_and_min_votes_raises_with_every_error() -> None:
    script = Script([RuntimeError("down"), "a", "a"])
    ballot = await voting(script).ballot("q")
    assert ballot.winner == "a" and ballot.failed == 1 and ballot.agreement == 1.0
    with pytest.RaisesGroup(RuntimeError, RuntimeError, match="needed 2 answers, got 1"):
        await voting(Script([RuntimeError("x"), "a", RuntimeError("y")]), min_votes=2)("q")


async def test_unhashable_answers_need_a_key_and_say_so() -> None:
    with pytest.raises(UsageError, match=r"unhashable.*pass key="):
        await voting(Script([{"verdict": "ok"}, {"verdict": "ok"}]))("q")
    judge = voting(Script([{"v": "ok"}, {"v": "ok"}, {"v": "no"}]), key=lambda a: a["v"])
    assert await judge("q") == {"v": "ok"}


async def test_vote_among_different_voters_with_weights() -> None:
    async def strict(q: str) -> str:
        return "no"

    async def quick(q: str) -> str:
        return "yes"

    async def careful(q: str) -> str:
        return "yes"

    judge = vote.among(strict, quick, careful, weights=[3, 1, 1])
    ballot = await judge.ballot("merge?")
    assert ballot.winner == "no" and ballot.counts == {"no": 3.0, "yes": 2.0}
    assert await vote.among(strict, quick, careful)("merge?") == "yes"


async def test_voters_inside_a_map_never_exceed_the_underlying_cap() -> None:
    now = peak = 0

    @parallel(max_concurrency=3)
    async def model_call(question: str) -> bool:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        try:  # decided votes cancel voters mid-call
            await asyncio.sleep(0.001)
        finally:
            now -= 1
        return len(question) % 2 == 0

    judge = vote(n=5)(model_call)

    @parallel
    async def review(question: str) -> bool:
        return await judge(question)

    results = await review.map([f"q{i}" * (i % 3 + 1) for i in range(100)])
    assert len(results) == 100
    assert peak == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 0}, "n must be a whole number >= 1"),
        ({"n": 3, "quorum": 4}, "quorum must be > 0 and at most the number of voters"),
        ({"n": 3, "aggregate": "mean"}, "aggregate must be 'majority'"),
        ({"n": 3, "min_votes": 4}, "min_votes must be between 1 and n"),
    ],
)
def test_bad_arguments_say_what_to_write(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        vote(**options)


def test_bad_voters_and_weights_are_rejected() -> None:
    def sync(q: str) -> str:
        return q

    with pytest.raises(UsageError, match="async def"):
        vote(n=3)(sync)  # type: ignore[arg-type]

    async def a(q: str) -> str:
        return q

    with pytest.raises(ConfigurationError, match="2 voters but 1 weights"):
        vote.among(a, a, weights=[1])
    with pytest.raises(ConfigurationError, match="weights must be numbers > 0"):
        vote.among(a, a, weights=[1, 0])


def replay(answers: list[str], aggregate: str) -> str | None:
    """The winner when everyone answers: the rules applied to the full count."""
    counts = Counter(answers)
    (lead, votes), *rest = counts.most_common()
    second = rest[0][1] if rest else 0
    if aggregate == "majority":
        return lead if votes > len(answers) / 2 else None
    return lead if votes > second else None


@settings(max_examples=120, deadline=None)
@given(
    answers=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=7),
    data=st.data(),
    aggregate=st.sampled_from(["majority", "plurality"]),
)
def test_early_stop_returns_the_winner_waiting_for_everyone_would(
    answers: list[str], data: st.DataObject, aggregate: str
) -> None:
    order = data.draw(st.permutations(range(len(answers))))
    script = Script(answers, order=list(order))
    ballot = asyncio.run(voting(script, aggregate=aggregate).ballot("q"))
    full = replay(answers, aggregate)
    if ballot.decided and full is not None:
        assert ballot.winner == full
    if ballot.stopped_early:
        assert ballot.decided or aggregate == "majority"  # a hopeless majority stops too
