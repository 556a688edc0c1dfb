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

The async face (:class:`~fanscope.sdk.voting.VoteFunction`) is in :mod:`fanscope.sdk.voting`,
the sync face (:class:`~fanscope.sdk.sync_vote.SyncVoteFunction`) in
:mod:`fanscope.sdk.sync_vote`; this module is the decorator and the checks of its options.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Coroutine, Hashable, Sequence
from typing import Any, ParamSpec, TypedDict, TypeVar, Unpack, overload

from fanscope.errors import ConfigurationError, UsageError
from fanscope.sdk.arguments import check_name, checked
from fanscope.sdk.ballot import AGGREGATIONS, Aggregation, Ballot, Rules
from fanscope.sdk.budget import Budget
from fanscope.sdk.checks import binding_of, check_target, qualified_name
from fanscope.sdk.parallel import ParallelFunction
from fanscope.sdk.sync_parallel import SyncParallelFunction
from fanscope.sdk.sync_vote import SyncVoteFunction
from fanscope.sdk.voting import VoteFunction

P = ParamSpec("P")
R = TypeVar("R")


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
    budget: object = None,
    name: object = None,
) -> None:
    check_name(where, name)
    if budget is not None and not isinstance(budget, Budget):
        raise UsageError(
            f"{where} budget must be a fanscope.budget(...), got {budget!r}; "
            f"e.g. budget=fanscope.budget(usd=0.50)"
        )
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
        budget: Budget | None = None,
    ) -> _Vote: ...
    @checked("@vote")  # type: ignore[misc]  # mypy cannot match a ParamSpec across the overloads
    def __call__(
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
        budget: Budget | None = None,
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
            budget: a :func:`fanscope.budget`; each vote runs under a fresh pot of that size
                (inside any budget that encloses it). A voter whose model call it refuses
                fails with :class:`~fanscope.BudgetExceeded` and abstains: the vote decides
                with the answers it has when ``min_votes`` allows.

        Example::

            @vote(n=5, quorum=3)
            async def safe_to_merge(diff: str) -> bool: ...

        .. versionadded:: 0.1
        """
        if fn is not None and self._options is not None:
            return type(self)()(fn, **self._options)
        ones = [1.0] * n if isinstance(n, int) else []  # n='5' is refused by _check, not by *
        _check(
            n, ones, quorum, aggregate, min_votes, key, tie_breaker, early_stop, "@vote", budget,
            name,
        )  # fmt: skip
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
                budget=budget,
            )
            functools.update_wrapper(voted, f, updated=())  # name and docs, not attributes
            return SyncVoteFunction(voted) if blocking else voted

        if fn is not None:
            return decorate(fn)
        options = {"n": n, "quorum": quorum, "key": key, "aggregate": aggregate}
        options.update(tie_breaker=tie_breaker, min_votes=min_votes, early_stop=early_stop)
        return _Vote({**options, "name": name, "budget": budget})

    @overload
    def among(  # type: ignore[overload-overlap]
        self, *voters: Callable[P, Coroutine[Any, Any, R]], **options: Unpack[AmongOptions]
    ) -> VoteFunction[P, R]: ...
    @overload
    def among(
        self, *voters: Callable[P, R], **options: Unpack[AmongOptions]
    ) -> SyncVoteFunction[P, R]: ...
    @checked("vote.among()")
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
        budget: Budget | None = None,
    ) -> Any:
        """One question to different voters (other prompts or models), counted as one vote.

        Takes the options of :func:`vote` (``budget`` too), plus ``weights``: one number > 0
        per voter, each voter's answer counting that many votes (``quorum`` is then in
        weighted votes).

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
        if weights is not None and not isinstance(weights, Sequence):
            raise ConfigurationError(
                "vote.among weights must be a list, one number per voter", weights, "e.g. [2, 1, 1]"
            )
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
            budget,
            name,
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
            budget=budget,
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
    budget: Budget | None


vote = _Vote()
"""Decorate a function (``async def`` or ``def``) with ``@vote`` or ``@vote(n=5, ...)``."""

__all__ = ["Ballot", "SyncVoteFunction", "VoteFunction", "vote"]
