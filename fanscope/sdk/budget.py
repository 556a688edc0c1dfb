"""Budgets: a limit on what model calls may spend, in USD or tokens, that holds under concurrency.

::

    with fanscope.budget(usd=0.50):                 # every call in the block, all fan-outs
        answers = await summarize.map(docs)

    @parallel(max_concurrency=8, budget=fanscope.budget(usd=0.10))   # each fan-out its own
    async def summarize(doc: str) -> str: ...

Before each model call the integration reserves its worst case (an upper bound of the input
tokens plus ``max_tokens`` of output, priced by model) against every budget in force, in one
atomic step (:mod:`fanscope.sdk.permits`); after the call it settles to the real usage. A call
whose worst case no longer fits is not made: it raises :class:`~fanscope.BudgetExceeded` in
the branch, whose failure policy decides what follows (a vote decides with the ballots it has
when ``min_votes`` allows). So a budget is never overspent, and is spent to within one call's
worst case of its limit: a call that would fit once calls in flight settle waits for them.

Budgets nest: a call is reserved against every enclosing budget at once. A budget given to
``@parallel`` or ``@vote`` is a template: each call of the function (each fan-out, each vote,
each lone call) gets a fresh pot of that size inside whatever budgets enclose it. To share one
pot across calls, enter the budget with ``with``.

.. versionadded:: 0.2
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span

from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk import permits
from fanscope.sdk.arguments import check_name, checked
from fanscope.sdk.meters import Meter, Pot
from fanscope.sdk.permits import Demand, Ledger, Observation

if TYPE_CHECKING:
    from fanscope.sdk.redis_backend import RedisBackend
    from fanscope.sdk.redis_ledger import RedisLedger


def _limit(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigurationError(
            f"budget {name} must be a number > 0", value, f"pass e.g. {name}=0.50"
        )
    return float(value)


class Budget:
    """A limit on spend: USD (priced by model) and/or tokens (input, cached included, + output).

    Args:
        usd: the most the calls under it may cost, in USD.
        tokens: the most tokens they may use.
        name: shown in spans, errors and reports.
        backend: a :class:`~fanscope.RedisBackend`: one pot for every process whose budget names
            the same key (by default ``fanscope:budget:`` and the name); it is then one pot
            wherever it is used, also as ``@parallel(budget=)`` (not a fresh one per fan-out).

    Use it as a context manager (``with`` or ``async with``), or give it to ``@parallel``
    (``budget=``).
    """

    @checked("fanscope.Budget")
    def __init__(
        self,
        *,
        usd: float | None = None,
        tokens: float | None = None,
        name: str = "budget",
        backend: RedisBackend | None = None,
    ) -> None:
        self.usd = _limit("usd", usd)
        self.tokens = _limit("tokens", tokens)
        if self.usd is None and self.tokens is None:
            raise ConfigurationError(
                "a budget needs a limit", None, "pass usd=0.50, tokens=200_000 or both"
            )
        check_name("budget", name, optional=False)
        self.name = name
        self._pots: list[Pot] = []
        if self.usd is not None:
            self._pots.append(Pot(name, "usd", self.usd))
        if self.tokens is not None:
            self._pots.append(Pot(name, "tokens", self.tokens))
        self._ledger: Ledger = permits.LOCAL
        self._meters: list[Meter] = list(self._pots)
        self._tokens: list[permits.Token | None] = []
        self.backend = backend
        self._shared: RedisLedger | None = None
        if backend is not None:
            from fanscope.sdk.redis_backend import require_backend

            self._shared = require_backend(backend).bind(f"budget:{name}", self._serve).ledger
            for pot in self._pots:
                self._shared.register(pot, f"pot:{pot.unit}")
            self._ledger = self._shared

    def _serve(self) -> bool:
        return False  # nobody waits on a budget's thread: settlements wake its waiters

    # -- the permits mechanism ----------------------------------------------------------------

    def meters(self, demand: Demand) -> Sequence[tuple[Ledger, Meter]]:
        return [(self._ledger, m) for m in self._meters]

    def observe(self, event: Observation) -> None:
        return None

    def sending(self, demand: Demand, sign: int, seq: int) -> None:
        return None  # a budget counts what calls reserve and spend, not what is in flight

    # -- what it has spent --------------------------------------------------------------------

    def _pot(self, unit: str) -> Any:
        return next((m for m in self._meters if m.unit == unit), None)

    def _spent(self, unit: str) -> float:
        pot = self._pot(unit)
        if pot is None:
            return 0.0
        if self._shared is not None:  # every process's spending, when Redis can say
            shared = self._shared.spent(pot)
            if shared is not None:
                return shared
        return float(pot.spent)

    @property
    def spent_usd(self) -> float:
        return self._spent("usd")

    @property
    def spent_tokens(self) -> float:
        return self._spent("tokens")

    @property
    def refused(self) -> int:
        """Calls this budget refused."""
        return sum(int(getattr(m, "refused", 0)) for m in self._meters)

    def fresh(self) -> Budget:
        """A new, unspent budget with the same limits (what ``@parallel(budget=)`` runs under).

        A budget shared through a backend is one pot for every process: itself.
        """
        if self.backend is not None:
            return self
        return Budget(usd=self.usd, tokens=self.tokens, name=self.name)

    def _attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {A.BUDGET_NAME: self.name, A.BUDGET_REFUSED: self.refused}
        if self.usd is not None:
            attrs[A.BUDGET_LIMIT_USD] = self.usd
            attrs[A.BUDGET_SPENT_USD] = self.spent_usd
        if self.tokens is not None:
            attrs[A.BUDGET_LIMIT_TOKENS] = self.tokens
            attrs[A.BUDGET_SPENT_TOKENS] = self.spent_tokens
        return attrs

    def record(self, span: Span) -> None:
        """Put what the budget allowed, spent and refused on ``span`` (its own: a fan-out's)."""
        if span.is_recording():
            span.set_attributes(self._attributes())

    def record_end(self, span: Span) -> None:
        """The same as an event ``fanscope.budget.ended`` on ``span``, which is not the budget's
        own (the span current when a ``with`` block ended): several budgets can end on one
        span, one after another, and each keeps its record."""
        if span.is_recording():
            span.add_event(A.EVENT_BUDGET_ENDED, self._attributes())

    # -- in force -----------------------------------------------------------------------------

    @contextmanager
    def applied(self, span: Span | None = None) -> Iterator[Budget]:
        """Put this budget in force for the block; record it on ``span`` at the end (its own
        span), or as an event on the span current then when ``span`` is None."""
        with permits.scope(self):
            try:
                yield self
            finally:
                if span is not None:
                    self.record(span)
                else:
                    self.record_end(trace.get_current_span())

    def __enter__(self) -> Budget:
        self._tokens.append(permits.enter([self]))
        return self

    def __exit__(self, *exc: object) -> None:
        permits.leave(self._tokens.pop())
        self.record_end(trace.get_current_span())

    async def __aenter__(self) -> Budget:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def __repr__(self) -> str:
        limits = ", ".join(
            f"{k}={v!r}" for k, v in (("usd", self.usd), ("tokens", self.tokens)) if v is not None
        )
        return f"Budget({limits}, name={self.name!r})"


@checked("fanscope.budget()")
def budget(
    *,
    usd: float | None = None,
    tokens: float | None = None,
    name: str = "budget",
    backend: RedisBackend | None = None,
) -> Budget:
    """A :class:`Budget`: ``with fanscope.budget(usd=0.50): ...`` or ``@parallel(budget=...)``.

    .. versionadded:: 0.2
    """
    return Budget(usd=usd, tokens=tokens, name=name, backend=backend)


def applied(template: Budget | None, span: Span | None = None) -> Any:
    """A fresh pot of ``template`` in force for a fan-out, recorded on its ``span``, or for a
    lone call, recorded as an event on the caller's span (a no-op context when None)."""
    if template is None:
        return _nothing()
    return template.fresh().applied(span)


@contextmanager
def _nothing() -> Iterator[None]:
    yield
