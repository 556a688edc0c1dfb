"""Early stop through the real runtime: for random answers, rules and finishing orders, a vote
that cancels its slow voters returns what the same vote waiting for every voter returns."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fanscope import Ballot, NotEnoughSuccesses
from tests.sdk.test_vote import Panel, voting


def last_answer(ballot: Ballot[Any]) -> Any:
    return ballot.answers[-1]


async def outcome_of(
    answers: list[Any], order: list[int], *, early_stop: bool, **rules: Any
) -> tuple[tuple[Any, ...], Panel, Ballot[Any] | None]:
    panel = Panel(answers)
    judge = voting(panel, early_stop=early_stop, key=str.lower, **rules)
    driver = asyncio.create_task(panel.release_in_order(order))
    try:
        async with asyncio.timeout(10):  # a hang guard, not a measurement
            ballot = await judge.ballot("q")
    except NotEnoughSuccesses:
        return ("not enough answers",), panel, None
    finally:
        driver.cancel()
    return (ballot.decided, ballot.winner_key, ballot.winner), panel, ballot


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_early_stop_returns_the_winner_waiting_for_everyone_would(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 7), label="n")
    answers = data.draw(
        st.lists(
            st.sampled_from(["a", "A", "b", "c", RuntimeError("down")]), min_size=n, max_size=n
        )
    )
    order = list(data.draw(st.permutations(range(n)), label="finishing order"))
    rules: dict[str, Any] = {
        "aggregate": data.draw(st.sampled_from(["majority", "plurality", "unanimous"])),
        "quorum": data.draw(st.one_of(st.none(), st.integers(1, n)), label="quorum"),
        "min_votes": data.draw(st.integers(1, n), label="min_votes"),
        "tie_breaker": data.draw(st.sampled_from([None, last_answer])),
    }

    async def both() -> None:
        early, panel, ballot = await outcome_of(answers, order, early_stop=True, **rules)
        full, _, _ = await outcome_of(answers, order, early_stop=False, **rules)
        assert early == full
        if ballot is not None:  # the voters counted as cancelled really were
            assert ballot.cancelled == len(panel.cancelled)
            assert not set(panel.cancelled) & set(panel.finished)

    asyncio.run(both())
