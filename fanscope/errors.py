"""Exceptions raised by fanscope.

Hierarchy::

    FanscopeError                       base of everything fanscope raises itself
    ├── ConfigurationError (ValueError) a bad value: says what was wrong and what to do
    ├── UsageError (TypeError)          the wrong kind of thing (a sync function, a non-iterable)
    ├── DeadlineExceeded (TimeoutError) a branch still running when its fan-out's deadline passed
    ├── TraceReadError                  a trace file that cannot be read at all
    ├── NoConsensus                     a vote that could not pick a winner (carries the ballot)
    └── FanoutError (ExceptionGroup)    branches failed; names each failed branch and why
        └── NotEnoughSuccesses          fewer than ``min_successes`` branches succeeded

``FanoutError`` is an :class:`ExceptionGroup`, so ``except*`` works on the branch errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self


class FanscopeError(Exception):
    """Base class of the exceptions fanscope raises itself."""


class ConfigurationError(FanscopeError, ValueError):
    """A bad argument to a fanscope API: the message names the value and the fix."""

    def __init__(self, what: str, value: object, hint: str) -> None:
        self.what = what
        self.value = value
        self.hint = hint
        super().__init__(f"{what} (got {value!r}); {hint}")


class UsageError(FanscopeError, TypeError):
    """The wrong kind of object was passed: the message says what to pass instead."""


class DeadlineExceeded(FanscopeError, TimeoutError):
    """A branch was still running when its fan-out's ``deadline`` passed."""

    def __init__(self, what: str, deadline: float | None = None) -> None:
        self.deadline = deadline
        limit = "its fan-out's deadline" if deadline is None else f"the deadline of {deadline:g}s"
        super().__init__(f"{what} was still running when {limit} passed")


class TraceReadError(FanscopeError):
    """A trace file could not be read at all."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class FanoutError(FanscopeError, ExceptionGroup[Exception]):
    """Branches of a fan-out failed.

    Attributes:
        branches: the label of each failed branch (``summarize[3]``, ``news``), in the same
            order as ``exceptions``.
    """

    branches: tuple[str, ...]

    def __new__(
        cls, message: str, exceptions: Sequence[Exception], branches: Sequence[str] = ()
    ) -> Self:
        self = super().__new__(cls, message, exceptions)
        self.branches = tuple(branches)
        return self

    def __init__(
        self, message: str, exceptions: Sequence[Exception], branches: Sequence[str] = ()
    ) -> None:
        super().__init__(message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> Self:  # type: ignore[override]
        kept = [b for b, e in zip(self.branches, self.exceptions, strict=False) if e in excs]
        return type(self)(self.message, excs, kept)

    @classmethod
    def for_branches(cls, what: str, failures: Sequence[tuple[str, Exception]]) -> Self:
        """Build the error from ``(branch label, exception)`` pairs."""
        parts = ", ".join(f"{label}: {type(exc).__name__}: {exc}" for label, exc in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        n = len(failures)
        message = f"{n} branch{'es' if n != 1 else ''} of {what} failed: {parts}{more}"
        return cls(message, [exc for _, exc in failures], [label for label, _ in failures])


class NotEnoughSuccesses(FanoutError):
    """Fewer branches succeeded than ``min_successes`` asked for."""


class NoConsensus(FanscopeError):
    """A vote ended without a winner; ``ballot`` holds every answer and count."""

    def __init__(self, message: str, ballot: Any) -> None:
        self.ballot = ballot
        super().__init__(message)
