"""Exceptions raised by fanscope.

Hierarchy::

    FanscopeError                       base of everything fanscope raises itself
    ├── ConfigurationError (ValueError) a bad value: says what was wrong and what to do
    ├── UsageError (TypeError)          the wrong kind of thing (a sync function, a non-iterable)
    ├── DeadlineExceeded (TimeoutError) a branch still running when its fan-out's deadline passed
    ├── TraceReadError                  a trace file that cannot be read at all
    ├── NoConsensus                     a vote that could not pick a winner (carries the ballot)
    ├── BudgetExceeded                  a model call not made: its worst case did not fit a budget
    └── FanoutError (ExceptionGroup)    branches failed; names each failed branch and why
        └── NotEnoughSuccesses          fewer than ``min_successes`` branches succeeded

``FanoutError`` is an :class:`ExceptionGroup`, so ``except*`` works on the branch errors.

Every class here is named by its public name, ``fanscope.<Name>``: that is its ``__module__``
from the start, so ``error.type`` on spans (``fanscope.FanoutError``), reprs and pickles do
not depend on whether the name was first reached through ``fanscope`` or ``fanscope.errors``.

Each one pickles as it is (message, attributes and notes), without calling ``__init__`` again:
they cross process pools and pytest-xdist intact. An attribute that cannot be pickled (a
lambda passed as a bad value, a ballot of unpicklable answers) travels as its ``repr``.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any, Self


def _portable(value: object) -> object:
    """``value`` if it pickles, else its repr (so that the error itself still crosses)."""
    try:
        pickle.dumps(value)
    except Exception:
        return repr(value)
    return value


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle a fanscope exception: the same args and attributes, ``__init__`` not called."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class FanscopeError(Exception):
    """Base class of the exceptions fanscope raises itself."""

    __module__ = "fanscope"

    def __reduce__(self) -> tuple[Any, ...]:
        state = {key: _portable(value) for key, value in self.__dict__.items()}
        return (_rebuild, (type(self), self.args, state))


class ConfigurationError(FanscopeError, ValueError):
    """A bad argument to a fanscope API: the message names the value and the fix."""

    __module__ = "fanscope"

    def __init__(self, what: str, value: object, hint: str) -> None:
        self.what = what
        self.value = value
        self.hint = hint
        super().__init__(f"{what} (got {value!r}); {hint}")


class UsageError(FanscopeError, TypeError):
    """The wrong kind of object was passed: the message says what to pass instead."""

    __module__ = "fanscope"


class DeadlineExceeded(FanscopeError, TimeoutError):
    """A branch was still running when its fan-out's ``deadline`` passed."""

    __module__ = "fanscope"

    def __init__(self, what: str, deadline: float | None = None) -> None:
        self.what = what
        self.deadline = deadline
        limit = "its fan-out's deadline" if deadline is None else f"the deadline of {deadline:g}s"
        super().__init__(f"{what} was still running when {limit} passed")


class TraceReadError(FanscopeError):
    """A trace file could not be read at all."""

    __module__ = "fanscope"

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

    __module__ = "fanscope"

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
        # branches that failed alike share one mention: "news, filings: TypeError: no key"
        alike: dict[str, list[str]] = {}
        for label, exc in failures:
            alike.setdefault(f"{type(exc).__name__}: {exc}", []).append(label)
        shown = list(alike.items())[:5]
        parts = "; ".join(
            ", ".join(labels[:5])
            + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
            + f": {text}"
            for text, labels in shown
        )
        n = len(failures)
        left = n - sum(len(labels) for _, labels in shown)
        more = f" (and {left} more)" if left else ""
        message = f"{n} branch{'es' if n != 1 else ''} of {what} failed: {parts}{more}"
        return cls(message, [exc for _, exc in failures], [label for label, _ in failures])


class NotEnoughSuccesses(FanoutError):
    """Fewer branches succeeded than ``min_successes`` asked for."""

    __module__ = "fanscope"


class NoConsensus(FanscopeError):
    """A vote ended without a winner; ``ballot`` holds every answer and count."""

    __module__ = "fanscope"

    def __init__(self, message: str, ballot: Any) -> None:
        self.ballot = ballot
        super().__init__(message)


def _amount(unit: str, value: float | None) -> str:
    if value is None:
        return "?"
    return f"${value:.2f}" if unit == "usd" else f"{value:,.0f} {unit.replace('_', ' ')}"


class BudgetExceeded(FanscopeError):
    """A model call was not made: its worst case did not fit what is left of a budget.

    Attributes:
        budget: the budget's name.
        unit: ``usd`` or ``tokens``.
        spent: what the budget had spent when it refused.
        limit: the budget's limit.
        needed: the call's worst case.
    """

    __module__ = "fanscope"

    def __init__(
        self,
        budget: str,
        unit: str,
        spent: float | None,
        limit: float | None,
        needed: float | None,
        message: str | None = None,
    ) -> None:
        self.budget = budget
        self.unit = unit
        self.spent = spent
        self.limit = limit
        self.needed = needed
        if message is None:
            message = (
                f"stopped by the budget {budget!r} after {_amount(unit, spent)} of "
                f"{_amount(unit, limit)}: this call could cost up to {_amount(unit, needed)}; "
                f"raise the budget or lower max_tokens"
            )
        super().__init__(message)

    @classmethod
    def unpriced(cls, budget: str, model: str) -> BudgetExceeded:
        return cls(
            budget,
            "usd",
            None,
            None,
            None,
            f"the budget {budget!r} counts USD but model {model!r} has no known price, so a "
            f"call cannot be bounded; give its price with fanscope.configure(prices=...)",
        )
