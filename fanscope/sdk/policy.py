"""The fan-out's failure policy: a pure function from what has ended so far to what comes next.

A fan-out (``map``, ``gather``, ``@vote``; async or on threads) keeps a :class:`Progress`
(branches still running, successes, failures) and, after each batch of finished branches,
asks :func:`decide` whether to **go on**, **stop** (cancel the branches still running and
return normally: a vote that is decided) or **raise** (cancel them and fail the fan-out).
The answer depends on nothing but its arguments, so it is tested on hand-built state, the
way tenacity tests its stop and wait strategies, and every runner shares it.

The rules, in order:

* ``on_error="raise"``: any failure raises (:class:`~fanscope.FanoutError`, cancel reason
  ``sibling failed``).
* ``min_successes=N``: once fewer than ``N`` branches can still succeed (successes plus
  branches still running), raise :class:`~fanscope.NotEnoughSuccesses` (cancel reason
  ``not enough successes``); at the end this is simply "fewer than N succeeded".
* a stop reason from the caller (``stop_when``, e.g. ``vote decided``) stops the fan-out
  while branches are still running.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from fanscope.errors import ConfigurationError, FanoutError, NotEnoughSuccesses, UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk.outcomes import Outcome

OnError = Literal["raise", "collect", "skip"]
Action = Literal["go on", "stop", "raise"]
_ON_ERROR = (A.ON_ERROR_RAISE, A.ON_ERROR_COLLECT, A.ON_ERROR_SKIP)

SIBLING_FAILED: Final = A.CANCEL_SIBLING_FAILED
NOT_ENOUGH_SUCCESSES: Final = A.CANCEL_NOT_ENOUGH_SUCCESSES


def check_reduce(reduce: object) -> None:
    """Refuse a ``reduce`` that cannot be called before any branch runs (not at the fan-in)."""
    if reduce is not None and not callable(reduce):
        raise UsageError(
            f"reduce must be a function of the list of results, got {reduce!r}; "
            f"e.g. reduce=sum or reduce=lambda results: '\\n'.join(results)"
        )


def check_policy(on_error: str, min_successes: int | None) -> None:
    """Refuse an ``on_error``/``min_successes`` pair that cannot work, naming the fix."""
    if on_error not in _ON_ERROR:
        raise ConfigurationError(
            "on_error must be 'raise', 'collect' or 'skip'", on_error, "e.g. on_error='collect'"
        )
    if min_successes is not None:
        if isinstance(min_successes, bool) or not isinstance(min_successes, int):
            raise ConfigurationError(
                "min_successes must be a whole number >= 1", min_successes, "e.g. min_successes=3"
            )
        if min_successes < 1:
            raise ConfigurationError(
                "min_successes must be >= 1", min_successes, "e.g. min_successes=3"
            )
        if on_error == "raise":
            raise ConfigurationError(
                "min_successes tolerates failures, but on_error='raise' fails on the first one",
                on_error,
                "use on_error='skip' (successful values) or 'collect' (every outcome)",
            )


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """What a fan-out does when branches fail: ``on_error`` and ``min_successes``."""

    on_error: OnError = "raise"
    min_successes: int | None = None

    @property
    def can_raise(self) -> bool:
        """Whether a failure can fail the fan-out (whose error then names every failure)."""
        return self.on_error == "raise" or self.min_successes is not None


@dataclass(slots=True)
class Progress:
    """What a fan-out has seen so far.

    Attributes:
        pending: branches not yet ended (running or waiting in line).
        succeeded: branches that ended ``ok``.
        failures: ``(branch label, error)`` of each branch that ended ``error``/``timeout``
            (kept only with ``keep_failures``: a fan-out that cannot raise needs none of
            them, and a million items may fail).
    """

    pending: int
    succeeded: int = 0
    failures: list[tuple[str, Exception]] = field(default_factory=list)
    keep_failures: bool = True

    def add(
        self, outcomes: Iterable[Outcome[Any]], labels: Mapping[int, str] | None = None
    ) -> None:
        """Count ended branches; ``labels`` names them by index (else the index is the name)."""
        for outcome in outcomes:
            self.pending -= 1
            if outcome.status == A.OUTCOME_OK:
                self.succeeded += 1
            elif (
                self.keep_failures
                and outcome.status in (A.OUTCOME_ERROR, A.OUTCOME_TIMEOUT)
                and isinstance(outcome.error, Exception)
            ):
                label = (labels or {}).get(outcome.index, str(outcome.index))
                self.failures.append((label, outcome.error))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a fan-out does next; ``reason`` is the cancel reason of the branches still running."""

    action: Action
    reason: str | None = None


GO_ON: Final = Verdict("go on")


def decide(policy: FailurePolicy, progress: Progress, stop: str | None = None) -> Verdict:
    """Go on, stop or raise, given the policy, what has ended, and the caller's stop reason."""
    if progress.failures and policy.on_error == "raise":
        return Verdict("raise", SIBLING_FAILED)
    wanted = policy.min_successes
    if wanted is not None and progress.succeeded + max(progress.pending, 0) < wanted:
        return Verdict("raise", NOT_ENOUGH_SUCCESSES)
    if stop is not None and progress.pending > 0:
        return Verdict("stop", stop)
    return GO_ON


def failure(policy: FailurePolicy, progress: Progress, verdict: Verdict, what: str) -> FanoutError:
    """The exception a ``raise`` verdict raises, naming every failed branch of ``what``."""
    if verdict.reason == NOT_ENOUGH_SUCCESSES:
        return NotEnoughSuccesses.for_branches(
            f"{what} (needed {policy.min_successes} successes, got {progress.succeeded})",
            progress.failures,
        )
    return FanoutError.for_branches(what, progress.failures)


def shape(outcomes: Sequence[Outcome[Any]], on_error: OnError) -> list[Any]:
    """Results as the policy returns them: values, values of successes, or outcomes."""
    if on_error == "collect":
        return list(outcomes)
    return [o.value for o in outcomes if o.ok]
