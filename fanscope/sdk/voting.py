"""A vote's async face: :class:`VoteFunction` runs the voters as one fan-out and counts them.

A vote is a fan-out (``fanscope.kind = vote``, span ``vote {name}``): one branch span per
voter and a fan-in span ``fan-in {name}`` with the count. As answers arrive the
:class:`~fanscope.sdk.ballot.Tally` says whether the result can still change; once it cannot,
the voters still running are cancelled (their spans end with ``fanscope.cancel.reason = vote
decided``) and the call returns. A cancelled voter's request stops generating tokens, and a
voter still waiting in line for a slot never sends one.

Voting on a ``@parallel`` function runs each voter as one branch under that function's cap,
retry policy and timeout, so votes inside a ``map`` never exceed the function's cap. A vote's
``budget`` gives each vote a fresh pot (on the vote span at the end, as a fan-out's); a voter
whose call it refuses fails with ``BudgetExceeded`` and abstains like any failed voter. The sync
face is in :mod:`fanscope.sdk.sync_vote`, the decorator in :mod:`fanscope.sdk.vote`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from fanscope.errors import NoConsensus, NotEnoughSuccesses, UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, content, fingerprint
from fanscope.sdk.arguments import misfit
from fanscope.sdk.ballot import Ballot, Rules, Tally
from fanscope.sdk.branch import CallPolicy, Job
from fanscope.sdk.budget import Budget
from fanscope.sdk.checks import check_target, qualified_name
from fanscope.sdk.fanout import FanOut
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.parallel import ParallelFunction
from fanscope.sdk.threads import Workers
from fanscope.sdk.tracing import short_repr

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
Owner = TypeVar("Owner")  # what an instance method is bound to
OwnerType = TypeVar("OwnerType", bound=type)  # what a class method is bound to

DECIDED = A.CANCEL_VOTE_DECIDED
_MAX_COUNTS = 32  # distinct answers listed on the fan-in span


@dataclass(frozen=True, slots=True)
class _Voter:
    """One voter: how its branch runs (cap, retry, timeout, span name) and what it calls."""

    policy: CallPolicy
    fn: Callable[..., Any]
    source: Callable[..., Any]  # what the user passed, re-bound by __get__
    blocking: bool  # a plain def: each attempt runs on a thread of the vote


def _voter(source: Callable[..., Any]) -> _Voter:
    # the sync faces (SyncParallelFunction, SyncVoteFunction) hold their async face as .aio
    aio = getattr(source, "aio", None)
    face = aio if isinstance(aio, ParallelFunction | VoteFunction) else source
    if isinstance(face, ParallelFunction):  # one span per voter, under the function's cap
        return _Voter(face.policy, face._fn, source, face._blocking)
    if face is not source:
        raise UsageError(f"a vote cannot be a voter of a sync vote, got {source!r}")
    name = str(getattr(source, "__name__", "voter"))
    code = callsite.code_of(source)  # calls inside a voter are placed in its function
    policy = CallPolicy(span_name=name, function=qualified_name(source), code=code)
    return _Voter(policy, source, source, check_target(source, "@vote"))


class VoteFunction(Generic[P, R]):
    """Voters aggregated into one answer; made by ``@vote`` or ``vote.among``.

    ``await f(...)`` returns the winning answer; ``await f.ballot(...)`` the whole
    :class:`Ballot`.

    .. versionadded:: 0.1
    """

    __name__: str
    __qualname__: str

    def __init__(
        self,
        voters: Sequence[Callable[P, Coroutine[Any, Any, R]]],
        *,
        weights: Sequence[float],
        rules: Rules,
        early_stop: bool,
        name: str,
        function: str | None,
        budget: Budget | None = None,
    ) -> None:
        self._voters = tuple(_voter(v) for v in voters)
        self._budget = budget  # a template: each vote gets a fresh pot
        self._weights = tuple(float(w) for w in weights)
        self._rules = rules
        self._early_stop = early_stop
        self._name = name
        self._function = function
        self.__name__ = self.__qualname__ = name  # @vote replaces them with the function's
        # the voters' limiters, when they are the same for every voter: the vote's fan-out
        # then reads its cap from them when it starts, and records an adaptive cap's changes
        limiters = {v.policy.limiters for v in self._voters}
        self._limiters = limiters.pop() if len(limiters) == 1 else ()
        # asyncio.iscoroutinefunction() on Python 3.11 looks for this marker.
        self._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)
        self._binding = ""  # "static", "class" (decorated over those), "bound" (by __get__)

    @property
    def n(self) -> int:
        """Voters per vote."""
        return len(self._voters)

    # The self types are callables, not VoteFunction[Concatenate[...], R]: mypy matches
    # those loosely and would bind a static method's first parameter as the owner.
    @overload
    def __get__(
        self: Callable[Concatenate[Owner, P2], Coroutine[Any, Any, R]],
        obj: Owner,
        objtype: type | None = None,
    ) -> VoteFunction[P2, R]: ...
    @overload
    def __get__(
        self: Callable[Concatenate[OwnerType, P2], Coroutine[Any, Any, R]],
        obj: object,
        objtype: OwnerType,
    ) -> VoteFunction[P2, R]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Self: ...
    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        """Bind like a method (or a class method): each voter is bound (sharing its caps)."""
        if self._binding == "class":
            obj = objtype if objtype is not None else type(obj)
        elif obj is None or self._binding == "static":
            return self
        bound = copy.copy(self)
        bound._binding = "bound"
        bound._voters = tuple(
            _voter(v.source.__get__(obj, objtype)) if hasattr(v.source, "__get__") else v
            for v in self._voters
        )
        return bound

    def __repr__(self) -> str:
        return (
            f"<vote {self._name} n={self.n} aggregate={self._rules.aggregate_name!r}"
            f"{'' if self._rules.quorum is None else f' quorum={self._rules.quorum:g}'}>"
        )

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the vote; return the winning answer.

        Raises:
            NoConsensus: no winner under the aggregation, and no tie-breaker (the exception's
                ``ballot`` has every answer).
            NotEnoughSuccesses: fewer voters answered than ``min_votes``; carries every
                voter's error.
        """
        ballot = await self._run(args, kwargs, require_winner=True)
        return ballot.winner  # type: ignore[return-value]

    async def ballot(self, *args: P.args, **kwargs: P.kwargs) -> Ballot[R]:
        """Run the vote; return the whole ballot, decided or not.

        Raises:
            NotEnoughSuccesses: fewer voters answered than ``min_votes``.
        """
        return await self._run(args, kwargs, require_winner=False)

    async def _run(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], *, require_winner: bool
    ) -> Ballot[R]:
        tally = Tally(self._weights, self._rules)
        blocking = any(v.blocking for v in self._voters)
        try:
            with Workers(self._name) if blocking else contextlib.nullcontext() as workers:
                return await self._count(tally, self._jobs(args, kwargs, workers), require_winner)
        except NotEnoughSuccesses as exc:
            problem = self._misfit(exc, args, kwargs)
            if problem is None:
                raise
            raise UsageError(problem) from None

    def _misfit(
        self, exc: NotEnoughSuccesses, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str | None:
        """Every voter refused the vote's arguments (``verdict(dif=...)``): one line with the
        fix, as Python would say for one call, rather than each voter's ``TypeError``. Looked at
        only once the vote has failed, so a right call pays nothing."""
        if not all(isinstance(e, TypeError) for e in exc.exceptions):
            return None
        try:
            problems = [
                misfit(v.fn, f"{self._name}()", args, kwargs, {}, "argument") for v in self._voters
            ]
        except (TypeError, ValueError):  # a voter whose signature Python cannot read
            return None
        return problems[0] if all(problems) else None

    def _jobs(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], workers: Workers | None
    ) -> list[Job]:
        jobs = []
        for i, v in enumerate(self._voters):
            if v.blocking and workers is not None:
                call = functools.partial(workers.call, v.fn, *args, **kwargs)
            else:
                call = functools.partial(v.fn, *args, **kwargs)
            jobs.append(Job(v.policy, call, index=i, args=args, kwargs=kwargs))
        return jobs

    async def _count(self, tally: Tally, jobs: list[Job], require_winner: bool) -> Ballot[R]:
        def stop_when(outcome: Outcome[Any]) -> str | None:
            tally.add(outcome)  # idempotent: the loop below counts it too
            return DECIDED if tally.decided_early() else None

        with FanOut(
            f"vote {self._name}",
            A.KIND_VOTE,
            size=len(jobs),
            function=self._function,
            max_concurrency=self._max_concurrency(),
            on_error="collect",
            budget=self._budget,
            holders=self._limiters,
        ) as fo:
            stream = fo.iterate(jobs, stop_when=stop_when if self._early_stop else None)
            async with contextlib.aclosing(stream):
                async for outcome in stream:
                    tally.add(outcome)
            with fo.fan_in(f"fan-in {self._name}") as span:
                ballot: Ballot[R] = tally.result(stopped_early=True)
                if span.is_recording():
                    span.set_attributes(self._fanin_attributes(ballot))
                if ballot.answered < self._rules.min_votes:
                    raise self._too_few(ballot)
                if require_winner and not ballot.decided:
                    raise self._no_consensus(ballot)
        return ballot

    def _max_concurrency(self) -> int | None:
        """The voters' cap, when it is one (read when a vote starts: an ``auto`` cap moves)."""
        caps = {v.policy.max_concurrency for v in self._voters}
        return caps.pop() if len(caps) == 1 else None

    def _no_consensus(self, ballot: Ballot[R]) -> NoConsensus:
        # the message goes on the spans too (their status and exception event): answers only
        # when content capture is on
        if content.capture():
            shown = ", ".join(f"{short_repr(k, 24)}: {v:g}" for k, v in ballot.counts.items())
        else:
            shown = "votes " + ", ".join(f"{v:g}" for v in ballot.counts.values())
        return NoConsensus(
            f"vote {self._name} found no {self._rules.aggregate_name} winner among "
            f"{ballot.answered} answers ({shown}); pass tie_breaker=..., or call "
            f".ballot(...) to inspect the answers",
            ballot,
        )

    def _too_few(self, ballot: Ballot[R]) -> NotEnoughSuccesses:
        failures = [
            (f"{self._voters[o.index].policy.span_name}[{o.index}]", o.error)
            for o in ballot.outcomes
            if o.status in ("error", "timeout") and isinstance(o.error, Exception)
        ]
        return NotEnoughSuccesses.for_branches(
            f"vote {self._name} (needed {self._rules.min_votes} answers, got {ballot.answered})",
            failures or [(self._name, RuntimeError("no voter answered"))],
        )

    def _fanin_attributes(self, ballot: Ballot[R]) -> dict[str, Any]:
        counts = list(ballot.counts.items())[:_MAX_COUNTS]
        attrs: dict[str, Any] = {
            A.VOTE_N: ballot.n,
            A.VOTE_AGGREGATION: self._rules.aggregate_name,
            A.VOTE_COUNTS: [f"{_shown(k, 40)}={v:g}" for k, v in counts],
            A.VOTE_AGREEMENT: ballot.agreement,
            A.VOTE_STOPPED_EARLY: ballot.stopped_early,
            A.VOTE_CANCELLED: ballot.cancelled,
        }
        if self._rules.quorum is not None:
            attrs[A.VOTE_QUORUM] = self._rules.quorum
        if ballot.decided and ballot.decided_by is not None:
            shown = ballot.winner_key if ballot.winner_key is not None else ballot.winner
            attrs[A.VOTE_WINNER] = _shown(shown, 64)
            attrs[A.VOTE_DECIDED_BY] = ballot.decided_by
        return attrs


def _shown(key: object, limit: int) -> str:
    """How an answer's key is written to the fan-in span: its repr cut to ``limit`` characters
    when content capture is on, else a keyed hash of that repr (the same for the same key in
    this process, or across processes with ``configure(fingerprint_key=...)``)."""
    if content.capture():
        return short_repr(key, limit)
    return fingerprint.keyed_name(repr(key).encode("utf-8", "backslashreplace"), b"vote")
