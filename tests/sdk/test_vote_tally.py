"""The vote's count on hand-built outcomes: each rule, both sides of each early-stop boundary,
and the property that stopping early never changes the result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fanscope import Ballot
from fanscope.errors import UsageError
from fanscope.sdk.ballot import Rules, Tally
from fanscope.sdk.outcomes import Outcome

FAIL = RuntimeError("voter failed")


def outcome(index: int, answer: Any) -> Outcome[Any]:
    if isinstance(answer, BaseException):
        return Outcome(index, "error", error=answer)
    return Outcome(index, "ok", value=answer)


def tally(
    answers: Sequence[Any],
    n: int | None = None,
    weights: Sequence[float] | None = None,
    **rules: Any,
) -> Tally:
    """A tally of ``n`` voters (default: one per answer) that has counted ``answers``."""
    size = len(weights) if weights is not None else n or len(answers)
    t = Tally(weights or [1.0] * size, Rules(**rules))
    for i, answer in enumerate(answers):
        t.add(outcome(i, answer))
    return t


# -- when the result is certain ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "n", "certain"),
    [
        (["a", "a"], 5, False),  # b, b, b could still win
        (["a", "a", "a"], 5, True),  # 3 > 5 / 2
        (["a", "a", "b"], 4, False),  # a last b ties 2 : 2
        (["a", "a", "a"], 4, True),
        ([FAIL, FAIL, "a", "a"], 5, True),  # failures abstain: a has 2 of at most 3 votes
        ([FAIL, FAIL, "a"], 5, False),
        (["a", "b"], 4, False),  # a, a would make 3 of 4
        (["a", "b", "c"], 4, True),  # nobody can get more than 2 of 4: certainly no winner
        (["a", "b", "c", "d"], 5, True),
        (["a", "b", "a", "c"], 6, False),  # a, a makes 4 of 6
    ],
)
def test_majority_is_certain_exactly_when_the_rest_cannot_change_it(
    answers: list[Any], n: int, certain: bool
) -> None:
    assert tally(answers, n).decided_early() is certain


@pytest.mark.parametrize(
    ("answers", "n", "certain"),
    [
        (["a", "a", "b"], 4, False),  # a last b ties
        (["a", "a", "a"], 4, True),
        (["a", "a", "b"], 5, False),
        (["a", "a", "a", "b"], 5, True),  # 3 - 1 > 1 left
        (["a", "b", "c"], 4, False),  # plurality has no "certainly no winner" before the end
    ],
)
def test_plurality_is_certain_once_the_lead_exceeds_the_votes_left(
    answers: list[Any], n: int, certain: bool
) -> None:
    assert tally(answers, n, aggregate="plurality").decided_early() is certain


def test_unanimous_is_certain_only_when_two_answers_disagree() -> None:
    assert not tally(["a", "a"], 3, aggregate="unanimous").decided_early()
    assert tally(["a", "b"], 3, aggregate="unanimous").decided_early()


def test_a_tie_breaker_or_a_callable_aggregation_keeps_a_hopeless_vote_waiting() -> None:
    assert tally(["a", "b", "c"], 4).decided_early()
    assert not tally(["a", "b", "c"], 4, tie_breaker=lambda b: "a").decided_early()
    assert not tally(["a", "b"], 3, aggregate="unanimous", tie_breaker=min).decided_early()
    assert not tally(["a", "a", "a"], 4, aggregate=lambda b: "a").decided_early()


def test_a_reachable_quorum_keeps_a_vote_without_winner_waiting() -> None:
    # unanimity is already impossible, but a third "a" would reach the quorum and win
    assert not tally(["a", "b"], 4, aggregate="unanimous", quorum=2).decided_early()
    assert tally(["a", "b", "c"], 4, aggregate="unanimous", quorum=3).decided_early()


def test_a_quorum_decides_once_min_votes_are_in() -> None:
    assert not tally(["a"], 5, quorum=2).decided_early()
    assert tally(["a", "b", "a"], 5, quorum=2).decided_early()
    assert not tally(["a", "a"], 5, quorum=2, min_votes=3).decided_early()
    assert tally(["a", "a", "b"], 5, quorum=2, min_votes=3).decided_early()


def test_min_votes_out_of_reach_is_certain_and_in_reach_is_not() -> None:
    assert tally([FAIL], 3, min_votes=3).decided_early()
    assert not tally([FAIL], 3, min_votes=2).decided_early()
    assert not tally(["a", "a"], 3, min_votes=3).decided_early()  # a majority, but too few yet


def test_weights_count_votes_not_voters() -> None:
    assert tally(["no"], weights=[3, 1, 1]).decided_early()  # 3 > 5 / 2
    light = tally([], weights=[3, 1, 1])
    light.add(outcome(1, "yes"))
    assert not light.decided_early()
    assert not tally(["no"], weights=[2, 1, 1]).decided_early()  # 2 of 4


# -- the result -------------------------------------------------------------------------------


def test_the_winner_is_the_first_original_answer_with_the_winning_key() -> None:
    ballot = tally(["Yes", "no", "YES", "yes"], key=str.lower).result()
    assert ballot.winner == "Yes" and ballot.winner_key == "yes" and ballot.decided_by == "majority"
    assert ballot.counts == {"yes": 3, "no": 1} and ballot.agreement == 0.75


def test_majority_needs_strictly_more_than_half_of_the_votes_cast() -> None:
    assert not tally(["a", "b"]).result().decided
    assert tally(["a", "a", "b"]).result().winner == "a"
    assert tally([FAIL, FAIL, "a", "a", "b"]).result().winner == "a"  # 2 of 3 cast


def test_counts_list_most_votes_first_and_ties_in_order_of_arrival() -> None:
    ballot = tally(["b", "c", "a", "c", "a"], aggregate="plurality").result()
    assert list(ballot.counts.items()) == [("c", 2.0), ("a", 2.0), ("b", 1.0)]
    assert not ballot.decided


def test_below_min_votes_no_function_is_asked_for_a_winner() -> None:
    def pick(ballot: Ballot[Any]) -> str:
        raise AssertionError("not called")

    ballot = tally([FAIL, "a", FAIL], min_votes=2, tie_breaker=pick).result()
    assert not ballot.decided and ballot.answered == 1 and ballot.failed == 2
    assert [type(e) for e in ballot.errors] == [RuntimeError, RuntimeError]


def test_a_function_that_picks_the_winner_gets_the_undecided_ballot_and_its_pick_is_counted() -> (
    None
):
    seen: list[Ballot[Any]] = []

    def first(ballot: Ballot[Any]) -> Any:
        seen.append(ballot)
        return ballot.answers[0]

    ballot = tally(["a", "b", "b", "a"], tie_breaker=first).result()
    assert ballot.winner == "a" and ballot.decided_by == "tie_breaker" and ballot.agreement == 0.5
    assert not seen[0].decided and seen[0].winner is None
    picked = tally([["x"], ["y"]], key=tuple, aggregate=lambda b: "not an answer").result()
    assert picked.winner == "not an answer" and picked.agreement == 0.0


def test_unhashable_answers_without_a_key_say_to_pass_one() -> None:
    with pytest.raises(UsageError, match=r"answers of type list cannot be counted.*pass a key"):
        tally([["a"]])
    with pytest.raises(UsageError, match=r"its key= type dict cannot be counted"):
        tally(["a"], key=lambda a: {"v": a})


def test_the_same_voter_is_counted_once() -> None:
    t = tally(["a"], 3)
    t.add(outcome(0, "a"))
    assert t.counts == {"a": 1.0} and t.answered == 1


def test_cancelled_voters_do_not_vote_and_make_it_a_stop() -> None:
    t = tally(["a", "a", "a"], 5)
    t.add(Outcome(3, "cancelled"))
    t.add(Outcome(4, "cancelled"))
    ballot = t.result(stopped_early=True)
    assert ballot.cancelled == 2 and ballot.stopped_early and ballot.agreement == 1.0
    assert not tally(["a", "a", "a"]).result(stopped_early=True).stopped_early


# -- the property: stopping early never changes the result ------------------------------------


def most_votes(ballot: Ballot[Any]) -> Any:
    return next(iter(ballot.counts))


def last_answer(ballot: Ballot[Any]) -> Any:
    return ballot.answers[-1]


AGGREGATES: list[Any] = ["majority", "plurality", "unanimous", most_votes]
TIE_BREAKERS: list[Callable[[Ballot[Any]], Any] | None] = [None, last_answer]


def summary(ballot: Ballot[Any], min_votes: int) -> tuple[Any, ...]:
    if ballot.answered < min_votes:
        return ("not enough answers",)
    return (ballot.decided, ballot.winner_key, ballot.winner)


@settings(max_examples=1500, deadline=None)
@given(data=st.data())
def test_stopping_at_the_first_certain_moment_gives_the_full_counts_result(
    data: st.DataObject,
) -> None:
    n = data.draw(st.integers(1, 8), label="n")
    answers = data.draw(
        st.lists(st.sampled_from(["a", "A", "b", "B", "c", FAIL]), min_size=n, max_size=n)
    )
    weights = data.draw(
        st.one_of(st.just([1] * n), st.lists(st.integers(1, 3), min_size=n, max_size=n))
    )
    quorum = data.draw(st.one_of(st.none(), st.integers(1, sum(weights))), label="quorum")
    rules = Rules(
        aggregate=data.draw(st.sampled_from(AGGREGATES)),
        quorum=quorum,
        min_votes=data.draw(st.integers(1, n), label="min_votes"),
        key=str.lower,
        tie_breaker=data.draw(st.sampled_from(TIE_BREAKERS)),
    )
    order = data.draw(st.permutations(range(n)), label="finishing order")

    full = Tally([float(w) for w in weights], rules)
    for i in order:
        full.add(outcome(i, answers[i]))
    expected = summary(full.result(), rules.min_votes)

    early = Tally([float(w) for w in weights], rules)
    for position, i in enumerate(order):
        early.add(outcome(i, answers[i]))
        if early.decided_early():
            for j in order[position + 1 :]:  # the runtime cancels the rest
                early.add(Outcome(j, "cancelled"))
            break
    ballot = early.result(stopped_early=True)
    assert summary(ballot, rules.min_votes) == expected
    assert ballot.stopped_early == (ballot.cancelled > 0)
