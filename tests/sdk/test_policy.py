"""The failure policy on hand-built state: no tasks, no threads, no waiting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fanscope.errors import FanoutError, NotEnoughSuccesses
from fanscope.sdk.outcomes import Outcome, Status
from fanscope.sdk.policy import (
    GO_ON,
    NOT_ENOUGH_SUCCESSES,
    SIBLING_FAILED,
    FailurePolicy,
    Progress,
    Verdict,
    decide,
    failure,
)

RAISE = FailurePolicy("raise")
COLLECT = FailurePolicy("collect")


def progress(pending: int, succeeded: int = 0, failed: int = 0) -> Progress:
    return Progress(
        pending=pending,
        succeeded=succeeded,
        failures=[(f"f[{i}]", ValueError(i)) for i in range(failed)],
    )


def test_no_failure_goes_on_under_every_policy() -> None:
    for on_error in ("raise", "collect", "skip"):
        assert decide(FailurePolicy(on_error), progress(3, succeeded=2)) == GO_ON


def test_one_failure_raises_under_on_error_raise_and_names_the_branch() -> None:
    state = progress(5, succeeded=1, failed=1)
    verdict = decide(RAISE, state)
    assert verdict == Verdict("raise", SIBLING_FAILED)
    error = failure(RAISE, state, verdict, "map f")
    assert type(error) is FanoutError
    assert error.branches == ("f[0]",)
    assert "1 branch of map f failed" in str(error)


def test_failures_go_on_under_collect_and_skip() -> None:
    for on_error in ("collect", "skip"):
        assert decide(FailurePolicy(on_error), progress(2, failed=3)) == GO_ON


def test_min_successes_raises_exactly_when_too_few_can_still_succeed() -> None:
    policy = FailurePolicy("skip", min_successes=3)
    # two succeeded, one running: three can still succeed
    assert decide(policy, progress(1, succeeded=2, failed=4)) == GO_ON
    # two succeeded, none running: one short
    verdict = decide(policy, progress(0, succeeded=2, failed=4))
    assert verdict == Verdict("raise", NOT_ENOUGH_SUCCESSES)
    error = failure(policy, progress(0, succeeded=2, failed=4), verdict, "map f")
    assert isinstance(error, NotEnoughSuccesses)
    assert "needed 3 successes, got 2" in str(error)
    assert len(error.exceptions) == 4


def test_min_successes_met_at_the_end_goes_on() -> None:
    assert decide(FailurePolicy("collect", 3), progress(0, succeeded=3, failed=9)) == GO_ON


def test_a_stop_reason_stops_only_while_branches_are_still_running() -> None:
    assert decide(COLLECT, progress(2, succeeded=3), "vote decided") == Verdict(
        "stop", "vote decided"
    )
    assert decide(COLLECT, progress(0, succeeded=5), "vote decided") == GO_ON


def test_a_failure_outranks_a_stop_reason() -> None:
    assert decide(RAISE, progress(2, failed=1), "vote decided").action == "raise"


def test_progress_counts_ok_failed_and_cancelled_outcomes() -> None:
    state = Progress(pending=4)
    state.add(
        [
            Outcome(0, "ok", value=1),
            Outcome(1, "error", error=ValueError("x")),
            Outcome(2, "timeout", error=TimeoutError()),
            Outcome(3, "cancelled"),
        ],
        {1: "f[1]", 2: "f[2]"},
    )
    assert (state.pending, state.succeeded) == (0, 1)
    assert [label for label, _ in state.failures] == ["f[1]", "f[2]"]


statuses = st.lists(st.sampled_from(["ok", "error", "timeout", "cancelled"]), max_size=30)


@given(statuses, st.integers(1, 30) | st.none(), st.sampled_from(["raise", "collect", "skip"]))
def test_the_verdict_agrees_with_the_rules_stated_plainly(
    ended: list[Status], wanted: int | None, on_error: str
) -> None:
    if on_error == "raise":
        wanted = None
    total = len(ended) + 3
    state = Progress(pending=total)
    state.add(
        Outcome(i, s, error=None if s in ("ok", "cancelled") else ValueError(i))
        for i, s in enumerate(ended)
    )
    failed = sum(s in ("error", "timeout") for s in ended)
    ok = ended.count("ok")
    verdict = decide(FailurePolicy(on_error, wanted), state)  # type: ignore[arg-type]
    if on_error == "raise" and failed:
        assert verdict.reason == SIBLING_FAILED
    elif wanted is not None and ok + 3 < wanted:
        assert verdict.reason == NOT_ENOUGH_SUCCESSES
    else:
        assert verdict == GO_ON


@pytest.mark.parametrize("reason", [SIBLING_FAILED, NOT_ENOUGH_SUCCESSES])
def test_the_error_lists_every_failure_in_order(reason: str) -> None:
    state = progress(0, failed=7)
    error = failure(FailurePolicy("collect", 9), state, Verdict("raise", reason), "gather")
    assert error.branches == tuple(f"f[{i}]" for i in range(7))
