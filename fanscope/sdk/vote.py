"""``@vote``: the same task N times (or N different voters), aggregated, stopping once decided.

    @vote(n=5, quorum=3)
    async def safe_to_merge(diff: str) -> bool: ...

    verdict = await safe_to_merge(diff)          # the winning answer (an original result)
    ballot = await safe_to_merge.ballot(diff)    # winner, counts, agreement, cancelled...

    judge = vote.among(strict_review, quick_review, security_review, weights=[2, 1, 1])

A vote is a fan-out (``fanscope.kind = vote``, span ``vote {name}``): one branch span per
voter and a fan-in span ``fan-in {name}`` with the count. As answers arrive the
:class:`~fanscope.sdk.ballot.Tally` says whether the result can still change; once it cannot,
the voters still running are cancelled (their spans end with ``fanscope.cancel.reason = vote
decided``) and the call returns. A cancelled voter's request stops generating tokens, and a
voter still waiting in line for a slot never sends one.

Voting on a ``@parallel`` function runs each voter as one branch under that function's cap,
retry policy and timeout, so votes inside a ``map`` never exceed the function's cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import math
from collections.abc import Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass
from typing import (
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Self,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from fanscope.errors import ConfigurationError, NoConsensus, NotEnoughSuccesses, UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, content, fingerprint
from fanscope.sdk.ballot import AGGREGATIONS, Aggregation, Ballot, Rules, Tally
from fanscope.sdk.branch import CallPolicy, Job
from fanscope.sdk.fanout import FanOut
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.parallel import (
    ParallelFunction,
    binding_of,
    check_target,
    qualified_name,
)
from fanscope.sdk.sync_parallel import SyncParallelFunction
from fanscope.sdk.threads import Workers, run_sync
from fanscope.sdk.tracing import short_repr

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
Owner = TypeVar("Owner")

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
    face = source.aio if isinstance(source, SyncParallelFunction) else source
    if isinstance(face, ParallelFunction):  # one span per voter, under the function's cap
        return _Voter(face.policy, face._fn, source, face._blocking)
    if isinstance(source, SyncVoteFunction):
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
    ) -> None:
        self._voters = tuple(_voter(v) for v in voters)
        self._weights = tuple(float(w) for w in weights)
        self._rules = rules
        self._early_stop = early_stop
        self._name = name
        self._function = function
        self.__name__ = self.__qualname__ = name  # @vote replaces them with the function's
        caps = {v.policy.max_concurrency for v in self._voters}
        self._max_concurrency = caps.pop() if len(caps) == 1 else None
        # asyncio.iscoroutinefunction() on Python 3.11 looks for this marker.
        self._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)
        self._binding = ""  # "static", "class" (decorated over those), "bound" (by __get__)

    @property
    def n(self) -> int:
        """Voters per vote."""
        return len(self._voters)

    @overload
    def __get__(
        self: VoteFunction[Concatenate[Owner, P2], R], obj: Owner, objtype: type | None = None
    ) -> VoteFunction[P2, R]: ...
    @overload
    def __get__(
        self: VoteFunction[Concatenate[type[Owner], P2], R], obj: Owner | None, objtype: type[Owner]
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
        with Workers(self._name) if blocking else contextlib.nullcontext() as workers:
            return await self._count(tally, self._jobs(args, kwargs, workers), require_winner)

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
            max_concurrency=self._max_concurrency,
            on_error="collect",
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


class SyncVoteFunction(Generic[P, R]):
    """A vote over plain ``def`` voters, for sync code: ``f(...)`` and ``f.ballot(...)``.

    The voters run on threads the vote owns (one per voter); once the result cannot change,
    voters still waiting for a slot are cancelled and the running ones abandoned (their
    threads finish in the background; see :mod:`fanscope.sdk.threads`). ``f.aio`` is the
    same vote for async code.

    .. versionadded:: 0.2
    """

    __name__: str
    __qualname__: str

    def __init__(self, aio: VoteFunction[P, R]) -> None:
        self.aio = aio
        """The same vote for async code: ``await f.aio(...)``."""
        self.__name__ = aio.__name__
        self.__qualname__ = aio.__qualname__

    @property
    def n(self) -> int:
        """Voters per vote."""
        return self.aio.n

    @overload
    def __get__(
        self: SyncVoteFunction[Concatenate[Owner, P2], R], obj: Owner, objtype: type | None = None
    ) -> SyncVoteFunction[P2, R]: ...
    @overload
    def __get__(
        self: SyncVoteFunction[Concatenate[type[Owner], P2], R],
        obj: Owner | None,
        objtype: type[Owner],
    ) -> SyncVoteFunction[P2, R]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Self: ...
    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        """Bind like a method (or a class method): each voter is bound (sharing its caps)."""
        aio = self.aio.__get__(obj, objtype)
        return self if aio is self.aio else SyncVoteFunction(aio)

    def __repr__(self) -> str:
        return repr(self.aio).replace("<vote", "<vote (sync)", 1)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the vote; return the winning answer (see :meth:`VoteFunction.__call__`)."""
        return run_sync(self.aio(*args, **kwargs))

    def ballot(self, *args: P.args, **kwargs: P.kwargs) -> Ballot[R]:
        """Run the vote; return the whole ballot, decided or not."""
        return run_sync(self.aio.ballot(*args, **kwargs))


def _shown(key: object, limit: int) -> str:
    """How an answer's key is written to the fan-in span: its repr cut to ``limit`` characters
    when content capture is on, else a keyed hash of that repr (the same for the same key in
    this process, or across processes with ``configure(fingerprint_key=...)``)."""
    if content.capture():
        return short_repr(key, limit)
    return fingerprint.keyed_name(repr(key).encode("utf-8", "backslashreplace"), b"vote")


# -- the decorator ----------------------------------------------------------------------------


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check(
    n: int,
    weights: Sequence[float],
    quorum: float | None,
    aggregate: object,
    min_votes: int,
    key: object,
    tie_breaker: object,
    early_stop: object,
    where: str,
) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigurationError(f"{where} n must be a whole number >= 1", n, "e.g. @vote(n=5)")
    if any(not _number(w) or w <= 0 for w in weights):
        raise ConfigurationError(
            f"{where} weights must be numbers > 0", list(weights), "e.g. weights=[2, 1, 1]"
        )
    total = math.fsum(weights)
    if quorum is not None and (not _number(quorum) or not 0 < quorum <= total):
        of = f"the number of voters ({n})" if total == n else f"the total weight ({total:g})"
        raise ConfigurationError(
            f"{where} quorum must be > 0 and at most {of}",
            quorum,
            f"e.g. quorum={n // 2 + 1}, or quorum=None to decide by the aggregation alone",
        )
    if not callable(aggregate) and aggregate not in AGGREGATIONS:
        raise ConfigurationError(
            f"{where} aggregate must be 'majority', 'plurality', 'unanimous' or a function",
            aggregate,
            "e.g. aggregate='plurality', or a function(ballot) -> winner",
        )
    if isinstance(min_votes, bool) or not isinstance(min_votes, int) or not 1 <= min_votes <= n:
        raise ConfigurationError(
            f"{where} min_votes must be a whole number from 1 to n ({n})",
            min_votes,
            f"e.g. min_votes={max(1, n // 2 + 1)}",
        )
    if not isinstance(early_stop, bool):
        raise ConfigurationError(
            f"{where} early_stop must be True or False", early_stop, "e.g. early_stop=False"
        )
    examples = {"key": "lambda answer: answer.strip().lower()", "tie_breaker": "random_pick"}
    for label, value in (("key", key), ("tie_breaker", tie_breaker)):
        if value is not None and not callable(value):
            raise UsageError(
                f"{where} {label} must be a function, got {value!r}; e.g. {label}={examples[label]}"
            )


def _check_voter(voter: object, where: str) -> bool:
    """Refuse what cannot vote; return ``True`` for a sync voter (a plain ``def``)."""
    if isinstance(voter, SyncParallelFunction):
        return True
    if isinstance(voter, ParallelFunction | VoteFunction):
        return False
    if isinstance(voter, SyncVoteFunction):
        raise UsageError(f"{where}: a sync vote cannot be a voter; pass its voters instead")
    return check_target(voter, where)


class _Vote:
    """The ``vote`` decorator; ``vote.among`` builds a vote from different voters.

    ``vote(n=5, ...)`` returns a ``_Vote`` holding those options, which decorates the next
    function it is given.
    """

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self._options = options

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> VoteFunction[P, R]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: staticmethod[P, Coroutine[Any, Any, R]], /
    ) -> VoteFunction[P, R]: ...
    @overload
    def __call__(self, fn: staticmethod[P, R], /) -> SyncVoteFunction[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> SyncVoteFunction[P, R]: ...
    @overload
    def __call__(
        self,
        *,
        n: int = 3,
        quorum: float | None = None,
        key: Callable[[Any], Hashable] | None = None,
        aggregate: Aggregation | Callable[[Ballot[Any]], Any] = "majority",
        tie_breaker: Callable[[Ballot[Any]], Any] | None = None,
        min_votes: int = 1,
        early_stop: bool = True,
        name: str | None = None,
    ) -> _Vote: ...
    def __call__(  # type: ignore[misc]  # mypy cannot match a ParamSpec across the overloads
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        n: int = 3,
        quorum: float | None = None,
        key: Callable[[Any], Hashable] | None = None,
        aggregate: Aggregation | Callable[[Ballot[Any]], Any] = "majority",
        tie_breaker: Callable[[Ballot[Any]], Any] | None = None,
        min_votes: int = 1,
        early_stop: bool = True,
        name: str | None = None,
    ) -> Any:
        """Ask the same question ``n`` times; return the answer the voters agree on.

        Args:
            n: voters per call (default 3).
            quorum: this many agreeing answers decide the vote at once (at most ``n``).
            key: how answers are compared, e.g. ``lambda a: a.strip().lower()`` or
                ``lambda a: a["verdict"]``; needed for unhashable answers. The winner
                returned is an original answer, not its key.
            aggregate: ``"majority"`` (strictly more than half of the votes cast),
                ``"plurality"`` (the most votes, not tied), ``"unanimous"``, or a function
                of the undecided :class:`Ballot` that returns the winner.
            tie_breaker: a function of the :class:`Ballot` that picks the winner when the
                aggregation finds none (it sees every answer: such votes stop early only
                when decided).
            min_votes: answers needed (failed voters abstain); fewer raise
                :class:`~fanscope.NotEnoughSuccesses` with every voter's error.
            early_stop: cancel the voters still running once the result cannot change
                (default); ``False`` waits for all of them (e.g. to measure agreement).
            name: the span name (default: the function's ``__name__``).

        Example::

            @vote(n=5, quorum=3)
            async def safe_to_merge(diff: str) -> bool: ...

        .. versionadded:: 0.1
        """
        if fn is not None and self._options is not None:
            return type(self)()(fn, **self._options)
        _check(n, [1.0] * n, quorum, aggregate, min_votes, key, tie_breaker, early_stop, "@vote")
        rules_of = functools.partial(
            Rules, aggregate=aggregate, quorum=quorum, min_votes=min_votes, key=key
        )

        def decorate(f: Callable[..., Any]) -> Any:
            binding = binding_of(f)
            if binding:  # @vote over @staticmethod / @classmethod: bind as they would
                made = decorate(f.__func__)  # type: ignore[attr-defined]
                (made.aio if isinstance(made, SyncVoteFunction) else made)._binding = binding
                return made
            blocking = _check_voter(f, "@vote")
            own = name or str(getattr(f, "__name__", "vote"))
            voted: VoteFunction[Any, Any] = VoteFunction(
                [f] * n,
                weights=[1.0] * n,
                rules=rules_of(tie_breaker=tie_breaker, function=own),
                early_stop=early_stop,
                name=own,
                function=qualified_name(f),
            )
            functools.update_wrapper(voted, f, updated=())  # name and docs, not attributes
            return SyncVoteFunction(voted) if blocking else voted

        if fn is not None:
            return decorate(fn)
        options = {"n": n, "quorum": quorum, "key": key, "aggregate": aggregate}
        options.update(tie_breaker=tie_breaker, min_votes=min_votes, early_stop=early_stop)
        return _Vote({**options, "name": name})

    @overload
    def among(  # type: ignore[overload-overlap]
        self, *voters: Callable[P, Coroutine[Any, Any, R]], **options: Unpack[AmongOptions]
    ) -> VoteFunction[P, R]: ...
    @overload
    def among(
        self, *voters: Callable[P, R], **options: Unpack[AmongOptions]
    ) -> SyncVoteFunction[P, R]: ...
    def among(
        self,
        *voters: Callable[..., Any],
        weights: Sequence[float] | None = None,
        quorum: float | None = None,
        key: Callable[[Any], Hashable] | None = None,
        aggregate: Aggregation | Callable[[Ballot[Any]], Any] = "majority",
        tie_breaker: Callable[[Ballot[Any]], Any] | None = None,
        min_votes: int = 1,
        early_stop: bool = True,
        name: str | None = None,
    ) -> Any:
        """One question to different voters (other prompts or models), counted as one vote.

        Takes the options of :func:`vote`, plus ``weights``: one number > 0 per voter, each
        voter's answer counting that many votes (``quorum`` is then in weighted votes).

        Voters that are plain ``def`` functions run on threads of the vote; a vote whose
        voters are all plain ``def`` functions is a sync vote (``judge(diff)``).

        Example::

            judge = vote.among(strict_review, quick_review, security_review, weights=[2, 1, 1])
            verdict = await judge(diff)

        .. versionadded:: 0.1
        """
        if not voters:
            raise UsageError("vote.among() needs voters; pass them, e.g. vote.among(f, g, h)")
        blocking = [_check_voter(voter, "vote.among") for voter in voters]
        chosen = list(weights) if weights is not None else [1.0] * len(voters)
        if len(chosen) != len(voters):
            raise ConfigurationError(
                f"vote.among got {len(voters)} voters but {len(chosen)} weights",
                chosen,
                "give one weight per voter, in the same order",
            )
        _check(
            len(voters),
            chosen,
            quorum,
            aggregate,
            min_votes,
            key,
            tie_breaker,
            early_stop,
            "vote.among",
        )
        own = name or "+".join(str(getattr(v, "__name__", "voter")) for v in voters)
        voted: VoteFunction[Any, Any] = VoteFunction(
            voters,
            weights=chosen,
            rules=Rules(
                aggregate=aggregate,
                quorum=quorum,
                min_votes=min_votes,
                key=key,
                tie_breaker=tie_breaker,
                function=own,
            ),
            early_stop=early_stop,
            name=own,
            function=None,
        )
        return SyncVoteFunction(voted) if all(blocking) else voted


class AmongOptions(TypedDict, total=False):
    """The options of :meth:`vote.among <_Vote.among>` (for its overloads)."""

    weights: Sequence[float] | None
    quorum: float | None
    key: Callable[[Any], Hashable] | None
    aggregate: Aggregation | Callable[[Ballot[Any]], Any]
    tie_breaker: Callable[[Ballot[Any]], Any] | None
    min_votes: int
    early_stop: bool
    name: str | None


vote = _Vote()
"""Decorate a function (``async def`` or ``def``) with ``@vote`` or ``@vote(n=5, ...)``."""

__all__ = ["Ballot", "SyncVoteFunction", "VoteFunction", "vote"]
