"""@vote through the runtime: answers, early stop and cancellation, caps, spans, bad arguments.

Voters are scripted (``Panel``): each waits for its own event, so the test decides who answers
and in which order, and a voter that is never released can only end by being cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, assert_type

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import Ballot, NoConsensus, NotEnoughSuccesses, Retry, parallel, vote
from fanscope.errors import ConfigurationError, UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk import content
from fanscope.sdk.vote import VoteFunction
from tests.conftest import spans_named


class Panel:
    """Voter ``i`` (in call order) answers ``answers[i]`` (raises it, if an exception) once
    released, never on its own."""

    def __init__(self, answers: Iterable[Any]) -> None:
        self.answers = list(answers)
        self.gates = [asyncio.Event() for _ in self.answers]
        self.calls = 0
        self.finished: list[int] = []
        self.cancelled: list[int] = []

    def release(self, *indexes: int) -> None:
        for i in indexes or range(len(self.answers)):
            self.gates[i].set()

    async def voter(self, question: str) -> Any:
        me = self.calls
        self.calls += 1
        try:
            await self.gates[me].wait()
        except asyncio.CancelledError:
            self.cancelled.append(me)
            raise
        self.finished.append(me)
        answer = self.answers[me]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def release_in_order(self, order: Iterable[int]) -> None:
        """Release one voter at a time; each finishes before the next is released."""
        for i in order:
            self.release(i)
            for _ in range(3):  # loop turns, not time: the released voter returns meanwhile
                await asyncio.sleep(0)


def voting(panel: Panel, **options: Any) -> VoteFunction[[str], Any]:
    async def judge(question: str) -> Any:
        return await panel.voter(question)

    return vote(n=len(panel.answers), **options)(judge)


async def counted(judge: VoteFunction[[str], Any], panel: Panel, order: Iterable[int]) -> Any:
    """The ballot of ``judge``, its voters finishing in ``order`` (hang guard: 10 s)."""
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        ballot = tg.create_task(judge.ballot("q"))
        tg.create_task(panel.release_in_order(order))
    return ballot.result()


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# -- answers ----------------------------------------------------------------------------------


async def test_await_returns_the_first_original_answer_of_the_winning_key() -> None:
    panel = Panel([" Yes", "no", "YES", "yes ", "no"])
    panel.release()
    judge = voting(panel, key=lambda a: a.strip().lower())
    assert await judge("merge?") == " Yes"


async def test_the_ballot_counts_every_answer_and_the_agreement() -> None:
    panel = Panel(["a", "b", "a", "a"])
    ballot = await counted(voting(panel, early_stop=False), panel, [0, 1, 2, 3])
    assert ballot.winner == "a" and ballot.winner_key == "a" and ballot.decided
    assert ballot.decided_by == "majority"
    assert ballot.counts == {"a": 3, "b": 1} and list(ballot.counts) == ["a", "b"]
    assert ballot.agreement == 0.75
    assert (ballot.n, ballot.answered, ballot.failed, ballot.cancelled) == (4, 4, 0, 0)
    assert not ballot.stopped_early
    assert ballot.answers == ["a", "b", "a", "a"]


async def test_a_tie_raises_no_consensus_carrying_the_ballot(
    exporter: InMemorySpanExporter,
) -> None:
    panel = Panel(["a", "b", "a", "b"])
    panel.release()
    with pytest.raises(NoConsensus, match=r"no majority winner among 4 answers .*tie_breaker="):
        await voting(panel)("q")
    (fanin,) = spans_named(exporter, "fan-in judge")
    assert A.VOTE_WINNER not in attrs(fanin) and attrs(fanin)[A.VOTE_AGREEMENT] == 0.0
    assert fanin.status.status_code.name == "ERROR"


async def test_no_consensus_carries_the_undecided_ballot() -> None:
    panel = Panel(["a", "b"])
    panel.release()
    with pytest.raises(NoConsensus) as info:
        await voting(panel)("q")
    ballot = info.value.ballot
    assert isinstance(ballot, Ballot) and not ballot.decided and ballot.winner is None
    assert ballot.counts == {"a": 1, "b": 1}


async def test_a_tie_breaker_sees_every_answer_and_the_ballot_says_it_decided() -> None:
    seen: list[int] = []

    def last_answer(ballot: Ballot[str]) -> str:
        seen.append(ballot.answered)
        return ballot.answers[-1]

    # a, b, c: no majority is possible any more, but the tie-breaker reads the full count
    panel = Panel(["a", "b", "c", "c"])
    ballot = await counted(voting(panel, tie_breaker=last_answer), panel, [0, 1, 2, 3])
    assert seen == [4] and ballot.cancelled == 0
    assert ballot.winner == "c" and ballot.decided_by == "tie_breaker"
    assert ballot.agreement == 0.5


async def test_plurality_takes_the_most_votes_unless_tied() -> None:
    panel = Panel(["a", "b", "a", "c"])
    panel.release()
    assert await voting(panel, aggregate="plurality")("q") == "a"
    tied = Panel(["a", "b", "c"])
    tied.release()
    with pytest.raises(NoConsensus, match="no plurality winner"):
        await voting(tied, aggregate="plurality")("q")


async def test_unanimous_needs_every_answer_to_agree() -> None:
    same = Panel(["x", "x", "x"])
    same.release()
    assert await voting(same, aggregate="unanimous")("q") == "x"
    split = Panel(["x", "y", "x"])
    split.release()
    with pytest.raises(NoConsensus, match="no unanimous winner"):
        await voting(split, aggregate="unanimous")("q")


async def test_a_callable_aggregation_picks_from_the_whole_ballot() -> None:
    def longest(ballot: Ballot[str]) -> str:
        assert not ballot.decided
        return max(ballot.answers, key=len)

    panel = Panel(["ab", "abcd", "a"])
    ballot = await counted(voting(panel, aggregate=longest), panel, [0, 1, 2])
    assert ballot.winner == "abcd" and ballot.decided_by == "aggregate"
    assert ballot.agreement == pytest.approx(1 / 3)


async def test_failed_voters_abstain() -> None:
    panel = Panel([RuntimeError("down"), "a", "a"])
    panel.release()
    ballot = await voting(panel).ballot("q")
    assert ballot.winner == "a" and ballot.failed == 1 and ballot.answered == 2
    assert ballot.agreement == 1.0 and [type(e) for e in ballot.errors] == [RuntimeError]


async def test_below_min_votes_the_vote_raises_every_voters_error() -> None:
    panel = Panel([RuntimeError("x"), "a", ValueError("y")])
    panel.release()
    with pytest.RaisesGroup(RuntimeError, ValueError, match=r"needed 2 answers, got 1"):
        await voting(panel, min_votes=2)("q")


async def test_once_min_votes_cannot_be_reached_the_rest_are_cancelled() -> None:
    panel = Panel([RuntimeError("x"), ValueError("y"), "a", "a"])
    panel.release(0, 1)
    async with asyncio.timeout(10):
        with pytest.raises(NotEnoughSuccesses, match="needed 3 answers, got 0"):
            await voting(panel, min_votes=3)("q")
    assert sorted(panel.cancelled) == [2, 3]


async def test_unhashable_answers_need_a_key_and_the_error_says_which() -> None:
    panel = Panel([{"verdict": "ok"}, {"verdict": "ok"}])
    panel.release()
    with pytest.raises(UsageError, match=r"answers of type dict cannot be counted.*pass a key"):
        await voting(panel)("q")
    keyed = Panel([{"v": "ok"}, {"v": "ok"}, {"v": "no"}])
    keyed.release()
    assert await voting(keyed, key=lambda a: a["v"])("q") == {"v": "ok"}


# -- early stop -------------------------------------------------------------------------------


async def test_a_decided_vote_returns_without_waiting_and_cancels_the_slow_voters(
    exporter: InMemorySpanExporter,
) -> None:
    panel = Panel([True, True, True, False, False])
    panel.release(0, 1, 2)  # 3 and 4 never answer: only cancelling them lets the vote return
    async with asyncio.timeout(10):
        ballot = await voting(panel, quorum=3).ballot("safe?")
    assert ballot.winner is True and ballot.stopped_early
    assert ballot.cancelled == 2 and sorted(panel.cancelled) == [3, 4]
    cancelled = [
        s for s in spans_named(exporter, "judge") if attrs(s)[A.BRANCH_OUTCOME] == "cancelled"
    ]
    assert len(cancelled) == 2
    assert {attrs(s)[A.CANCEL_REASON] for s in cancelled} == {"vote decided"}


async def test_majority_stops_once_the_remaining_voters_cannot_overturn_it() -> None:
    panel = Panel(["a", "a", "b", "a", "b"])
    ballot = await counted(voting(panel), panel, [0, 1, 2, 3, 4])
    assert ballot.winner == "a" and ballot.stopped_early
    assert panel.finished == [0, 1, 2, 3] and panel.cancelled == [4]


async def test_majority_waits_while_the_remaining_voters_could_still_overturn_it() -> None:
    panel = Panel(["a", "a", "b", "b", "b"])
    ballot = await counted(voting(panel), panel, [0, 1, 2, 3, 4])
    assert ballot.winner == "b" and ballot.cancelled == 0 and not ballot.stopped_early


async def test_with_weights_one_heavy_voter_can_decide_alone() -> None:
    panel = Panel(["no", "yes", "yes"])
    panel.release(0)

    async def strict(q: str) -> str:
        return str(await panel.voter(q))

    async def quick(q: str) -> str:
        return str(await panel.voter(q))

    async def careful(q: str) -> str:
        return str(await panel.voter(q))

    async with asyncio.timeout(10):
        ballot = await vote.among(strict, quick, careful, weights=[3, 1, 1]).ballot("merge?")
    assert ballot.winner == "no" and ballot.counts == {"no": 3.0}
    assert ballot.cancelled == 2 and sorted(panel.cancelled) == [1, 2]


async def test_a_quorum_at_or_below_half_picks_the_first_answer_to_reach_it() -> None:
    panel = Panel(["b", "a", "a", "b", "b"])
    ballot = await counted(voting(panel, quorum=2), panel, [0, 1, 2, 3, 4])
    assert ballot.winner == "a" and ballot.decided_by == "quorum" and ballot.cancelled == 2


async def test_early_stop_false_waits_for_every_voter() -> None:
    panel = Panel(["a", "a", "a", "b", "b"])
    ballot = await counted(voting(panel, early_stop=False), panel, [0, 1, 2, 3, 4])
    assert ballot.winner == "a" and not ballot.stopped_early and ballot.cancelled == 0
    assert panel.finished == [0, 1, 2, 3, 4]


async def test_cancelling_the_caller_cancels_every_voter(exporter: InMemorySpanExporter) -> None:
    panel = Panel(["a", "a", "a"])
    task = asyncio.create_task(voting(panel)("q"))
    await asyncio.sleep(0)  # the vote starts its voters
    await asyncio.sleep(0)  # and each voter starts waiting
    assert panel.calls == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(panel.cancelled) == [0, 1, 2]
    reasons = {attrs(s)[A.CANCEL_REASON] for s in spans_named(exporter, "judge")}
    assert reasons == {"caller cancelled"}


# -- spans ------------------------------------------------------------------------------------


async def test_a_vote_is_a_fanout_with_a_branch_per_voter_and_a_fanin_with_the_count(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(content, "_chosen", [True])  # content capture on: answers shown
    panel = Panel(["a", "a", "b", "a", "b"])
    await counted(voting(panel, quorum=3), panel, [0, 1, 2, 3, 4])
    (fanout,) = spans_named(exporter, "vote judge")
    (fanin,) = spans_named(exporter, "fan-in judge")
    branches = spans_named(exporter, "judge")
    assert attrs(fanout)[A.ROLE] == A.ROLE_FANOUT and attrs(fanout)[A.KIND] == A.KIND_VOTE
    assert attrs(fanout)[A.FANOUT_SIZE] == 5 and attrs(fanout)[A.FUNCTION].endswith("judge")
    assert attrs(fanout)[A.FANOUT_SUCCEEDED] == 4 and attrs(fanout)[A.FANOUT_CANCELLED] == 1
    assert fanout.context is not None
    assert len(branches) == 5
    assert {b.parent.span_id for b in branches if b.parent} == {fanout.context.span_id}
    assert sorted(attrs(b)[A.BRANCH_INDEX] for b in branches) == [0, 1, 2, 3, 4]
    assert fanin.parent is not None and fanin.parent.span_id == fanout.context.span_id
    assert attrs(fanin) == {
        A.ROLE: A.ROLE_FANIN,
        A.KIND: A.KIND_VOTE,
        A.FUNCTION: attrs(fanout)[A.FUNCTION],
        A.VOTE_N: 5,
        A.VOTE_QUORUM: 3,
        A.VOTE_AGGREGATION: "majority",
        A.VOTE_WINNER: "'a'",
        A.VOTE_DECIDED_BY: "quorum",
        A.VOTE_COUNTS: ("'a'=3", "'b'=1"),
        A.VOTE_AGREEMENT: 0.75,
        A.VOTE_STOPPED_EARLY: True,
        A.VOTE_CANCELLED: 1,
    }


async def test_vote_among_names_each_branch_after_its_voter(
    exporter: InMemorySpanExporter,
) -> None:
    async def strict(q: str) -> str:
        return "no"

    async def lenient(q: str) -> str:
        return "yes"

    judge = vote.among(strict, lenient, lenient, early_stop=False)
    assert await judge("q") == "yes"
    (strict_span,) = spans_named(exporter, "strict")
    assert attrs(strict_span)[A.FUNCTION].endswith("strict")
    lenient_spans = spans_named(exporter, "lenient")
    assert [attrs(s)[A.FUNCTION].split(".")[-1] for s in lenient_spans] == ["lenient"] * 2
    (fanout,) = spans_named(exporter, "vote strict+lenient+lenient")
    assert A.FUNCTION not in attrs(fanout)


# -- caps, retries, methods -------------------------------------------------------------------


@pytest.mark.parametrize("through", ["the function itself", "an async def that awaits it"])
async def test_votes_inside_a_map_never_exceed_the_cap_of_the_function_they_call(
    through: str,
) -> None:
    now = peak = calls = 0

    @parallel(max_concurrency=3)
    async def model_call(question: str) -> bool:
        nonlocal now, peak, calls
        calls += 1
        answer = calls % 3 != 0  # mostly True, and the odd False is slow: votes stop early
        now += 1
        peak = max(peak, now)
        try:
            for _ in range(3 if answer else 30):  # loop turns, not time
                await asyncio.sleep(0)
        finally:
            now -= 1
        return answer

    async def asks(question: str) -> bool:
        return await model_call(question)

    voter: Callable[[str], Coroutine[Any, Any, bool]]
    voter = model_call if through == "the function itself" else asks
    judge = vote(n=5)(voter)

    @parallel
    async def review(question: str) -> Ballot[bool]:
        return await judge.ballot(question)

    async with asyncio.timeout(30):
        ballots = await review.map([f"diff {i}" for i in range(100)])
    assert len(ballots) == 100 and all(b.decided for b in ballots)
    assert peak == 3  # reached, never passed
    assert sum(b.cancelled for b in ballots) > 0  # decided votes gave their slots back


async def test_voters_retry_under_the_policy_of_the_function_they_vote_on(
    exporter: InMemorySpanExporter,
) -> None:
    failures = [RuntimeError("flaky")]

    @parallel(retry=Retry(attempts=2, initial=0.001, retry_on=RuntimeError))
    async def model_call(question: str) -> str:
        if failures:
            raise failures.pop()
        return "ok"

    ballot = await vote(n=3, early_stop=False)(model_call).ballot("q")
    assert ballot.answered == 3 and ballot.failed == 0
    attempts = sorted(
        attrs(s).get(A.BRANCH_ATTEMPTS, 1) for s in spans_named(exporter, "model_call")
    )
    assert attempts == [1, 1, 2]


async def test_vote_on_a_method_binds_each_voter_to_the_instance() -> None:
    class Reviewer:
        def __init__(self, verdict: str) -> None:
            self.verdict = verdict

        @vote(n=3)
        async def judge(self, diff: str) -> str:
            return f"{self.verdict}:{diff}"

        @vote(n=3)
        @parallel(max_concurrency=2)
        async def capped(self, diff: str) -> str:
            return f"{self.verdict}:{diff}"

    strict = Reviewer("no")
    assert await strict.judge("d1") == "no:d1"
    assert await Reviewer("yes").capped("d2") == "yes:d2"
    assert (await strict.capped.ballot("d3")).counts == {"no:d3": 3}
    assert isinstance(Reviewer.judge, VoteFunction) and Reviewer.judge.n == 3


def test_a_vote_keeps_the_name_and_docs_of_its_function_and_a_useful_repr() -> None:
    @vote(n=5, quorum=3)
    async def safe_to_merge(diff: str) -> bool:
        """Is it safe?"""
        return True

    assert safe_to_merge.__name__ == "safe_to_merge" and safe_to_merge.__doc__ == "Is it safe?"
    assert repr(safe_to_merge) == "<vote safe_to_merge n=5 aggregate='majority' quorum=3>"
    assert asyncio.iscoroutinefunction(safe_to_merge)

    @vote
    async def bare(diff: str) -> bool:
        return True

    assert bare.n == 3 and repr(bare) == "<vote bare n=3 aggregate='majority'>"
    assert fanscope.vote is vote and fanscope.Ballot is Ballot


async def test_types_flow_through_the_decorator() -> None:
    @vote(n=3)
    async def verdict(diff: str, strict: bool = False) -> bool:
        return strict

    assert assert_type(await verdict("d"), bool) is False
    assert assert_type(await verdict.ballot("d", strict=True), Ballot[bool]).winner is True


# -- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n": 0}, r"n must be a whole number >= 1 \(got 0\); e.g. @vote\(n=5\)"),
        ({"n": True}, "n must be a whole number >= 1"),
        ({"n": 3, "quorum": 4}, r"quorum must be > 0 and at most the number of voters \(3\)"),
        ({"n": 3, "quorum": 0}, "quorum must be > 0"),
        ({"n": 3, "aggregate": "mean"}, "aggregate must be 'majority', 'plurality'"),
        ({"n": 3, "min_votes": 4}, r"min_votes must be a whole number from 1 to n \(3\)"),
        ({"n": 3, "min_votes": 0}, "min_votes must be a whole number from 1"),
        ({"n": 3, "early_stop": "no"}, "early_stop must be True or False"),
    ],
)
def test_bad_arguments_say_what_to_write(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        vote(**options)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda f: vote.among(f, f, weights=[1]), ConfigurationError, "2 voters but 1 weights"),
        (lambda f: vote.among(f, f, weights=[1, 0]), ConfigurationError, "weights must be"),
        (lambda f: vote.among(f, f, weights=[3, 1], quorum=5), ConfigurationError, "weight"),
        (lambda f: vote.among(), UsageError, r"needs voters; pass them"),
        (
            lambda f: vote(n=3, key="verdict")(f),  # type: ignore[call-overload]
            UsageError,
            "key must be a function",
        ),
        (
            lambda f: vote(n=3, tie_breaker=1)(f),  # type: ignore[call-overload]
            UsageError,
            "tie_breaker must be a function",
        ),
    ],
)
def test_bad_voters_weights_and_functions_are_rejected(
    build: Callable[[Any], Any], error: type[Exception], message: str
) -> None:
    async def judge(q: str) -> str:
        return q

    with pytest.raises(error, match=message):
        build(judge)


def test_a_generator_is_rejected_when_decorated_and_sync_functions_vote_on_threads() -> None:
    def judge(q: str) -> Any:
        yield q

    with pytest.raises(UsageError, match=r"@vote needs a function that returns a value"):
        vote(n=3)(judge)
    with pytest.raises(UsageError, match=r"vote\.among needs a function that returns"):
        vote.among(judge)

    def plain(q: str) -> str:
        return q

    async def other(q: str) -> str:
        return q

    assert vote(n=3)(plain)("x") == "x"
    assert vote.among(plain, plain)("y") == "y"
    mixed = vote.among(plain, other)  # an async vote, its sync voter on a thread
    assert asyncio.run(mixed("z")) == "z"


async def test_a_vote_can_be_a_voter_and_its_spans_nest_under_the_outer_voter(
    exporter: InMemorySpanExporter,
) -> None:
    async def yes(q: str) -> str:
        return "yes"

    async def no(q: str) -> str:
        return "no"

    inner = vote.among(yes, yes, no, name="panel", early_stop=False)
    outer = vote.among(inner, no, no, name="board", early_stop=False)
    ballot = await outer.ballot("q")
    assert ballot.counts == {"no": 2, "yes": 1} and ballot.winner == "no"
    (voter,) = spans_named(exporter, "panel")  # the outer vote's branch for the inner vote
    (nested,) = spans_named(exporter, "vote panel")
    assert voter.context is not None and nested.parent is not None
    assert nested.parent.span_id == voter.context.span_id
