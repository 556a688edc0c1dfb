"""``@vote``: the same task N times (or N different voters), aggregated, stopping once decided.

    @vote(n=5, quorum=3)
    async def safe_to_merge(diff: str) -> bool: ...

    verdict = await safe_to_merge(diff)          # the winning answer (an original result)
    ballot = await safe_to_merge.ballot(diff)    # winner, counts, agreement, cancelled...

    judge = vote.among(strict_review, quick_review, security_review, weights=[2, 1, 1])

A vote is a fan-out (``fanscope.kind = vote``): one branch span per voter and a fan-in span
with the count. As answers arrive the runtime asks whether the outcome is already certain
(``decided_early``); when it is, the voters still running are cancelled (their spans end with
``fanscope.cancel.reason = vote decided``) and the call returns: that is where voting saves
latency and tokens, since a cancelled voter's request stops streaming tokens.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

from fanscope.errors import ConfigurationError, NoConsensus, NotEnoughSuccesses, UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk.decorators import ParallelFunction, qualified_name, require_async
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.runtime import CallPolicy, FanOut, Job
from fanscope.sdk.tracing import short_repr

P = ParamSpec("P")
R = TypeVar("R")

Aggregation = Literal["majority", "plurality", "unanimous"]
_AGGREGATIONS = ("majority", "plurality", "unanimous")
DECIDED = "vote decided"


@dataclass(frozen=True)
class Ballot(Generic[R]):
    """Everything a vote saw.

    Attributes:
        winner: the winning answer (the first original result with the winning key), or
            ``None`` when there is none.
        decided: whether a winner was found.
        counts: votes per distinct answer key (weighted), most first.
        agreement: votes for the winner over votes cast (0.0 with no winner).
        answered / failed / cancelled: voters that answered, failed (abstained) and were
            cancelled because the vote was decided.
        stopped_early: the vote was decided before every voter finished.
        outcomes: every voter's :class:`~fanscope.Outcome`, by voter index.
    """

    winner: R | None
    winner_key: Hashable | None
    decided: bool
    counts: dict[Hashable, float]
    agreement: float
    n: int
    answered: int
    failed: int
    cancelled: int
    stopped_early: bool
    outcomes: tuple[Outcome[R], ...] = field(default=(), repr=False)

    @property
    def errors(self) -> list[BaseException]:
        return [o.error for o in self.outcomes if o.status in ("error", "timeout") and o.error]


class _Tally:
    """Counts answers as they arrive and says when the outcome can no longer change."""

    def __init__(
        self,
        weights: Sequence[float],
        key: Callable[[Any], Hashable] | None,
        aggregate: Aggregation | Callable[[Ballot[Any]], Any],
        quorum: float | None,
        min_votes: int,
        function: str,
    ) -> None:
        self.weights = list(weights)
        self.key = key
        self.aggregate = aggregate
        self.quorum = quorum
        self.min_votes = min_votes
        self.function = function
        self.counts: dict[Hashable, float] = {}
        self.first: dict[Hashable, Any] = {}
        self.remaining = float(sum(weights))
        self.cast = 0.0
        self.answered = 0
        self.outcomes: dict[int, Outcome[Any]] = {}

    def key_of(self, value: Any) -> Hashable:
        k = self.key(value) if self.key is not None else value
        try:
            hash(k)
        except TypeError:
            raise UsageError(
                f"@vote on {self.function}: answers of type {type(k).__name__} are unhashable, "
                f"so they cannot be counted; pass key=..., e.g. key=json.dumps or "
                f"key=lambda answer: answer['verdict']"
            ) from None
        return k

    def add(self, outcome: Outcome[Any]) -> None:
        self.outcomes[outcome.index] = outcome
        if outcome.status == A.OUTCOME_CANCELLED:
            return
        weight = self.weights[outcome.index]
        self.remaining -= weight
        if not outcome.ok:
            return
        k = self.key_of(outcome.value)
        self.counts[k] = self.counts.get(k, 0.0) + weight
        self.first.setdefault(k, outcome.value)
        self.cast += weight
        self.answered += 1

    def leader(self) -> tuple[Hashable | None, float, float]:
        """(leading key, its votes, the best other key's votes)."""
        ranked = sorted(self.counts.items(), key=lambda kv: -kv[1])
        if not ranked:
            return None, 0.0, 0.0
        return ranked[0][0], ranked[0][1], ranked[1][1] if len(ranked) > 1 else 0.0

    def certain(self) -> bool:
        """Whether waiting for the remaining voters could no longer change the result."""
        if self.remaining <= 0:
            return True
        lead, votes, second = self.leader()
        enough = self.answered >= self.min_votes
        if self.quorum is not None and votes >= self.quorum and enough:
            return True
        if callable(self.aggregate) or lead is None:
            return False
        if self.aggregate == "majority":
            wins = votes > (self.cast + self.remaining) / 2
            best_possible = max(self.counts.values()) + self.remaining
            hopeless = best_possible <= (self.cast + self.remaining) / 2
            return (wins and enough) or hopeless
        if self.aggregate == "plurality":
            return votes - second > self.remaining and enough
        # unanimous: two different answers already make it impossible
        return len(self.counts) > 1

    def _wins(self, votes: float, second: float) -> bool:
        """Whether the leader, with ``votes`` against ``second``, wins under the aggregation."""
        if self.aggregate == "majority":
            return votes > self.cast / 2
        if self.aggregate == "plurality":
            return votes > second
        if self.aggregate == "unanimous":
            return len(self.counts) == 1
        return False  # a callable aggregation decides for itself

    def ballot(self, n: int, stopped_early: bool) -> Ballot[Any]:
        outcomes = tuple(self.outcomes[i] for i in sorted(self.outcomes))
        lead, votes, second = self.leader()
        by_quorum = self.quorum is not None and votes >= self.quorum
        winner_key = lead if by_quorum or (lead is not None and self._wins(votes, second)) else None
        counts = dict(sorted(self.counts.items(), key=lambda kv: -kv[1]))
        decided = winner_key is not None
        return Ballot(
            winner=self.first.get(winner_key) if decided else None,
            winner_key=winner_key,
            decided=decided,
            counts=counts,
            agreement=(counts[winner_key] / self.cast) if decided and self.cast else 0.0,
            n=n,
            answered=self.answered,
            failed=sum(1 for o in outcomes if o.status in (A.OUTCOME_ERROR, A.OUTCOME_TIMEOUT)),
            cancelled=sum(1 for o in outcomes if o.status == A.OUTCOME_CANCELLED),
            stopped_early=stopped_early and any(o.status == A.OUTCOME_CANCELLED for o in outcomes),
            outcomes=outcomes,
        )


class VoteFunction(Generic[P, R]):
    """Voters aggregated into one answer; made by ``@vote`` or ``vote.among``.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        voters: Sequence[Callable[P, Coroutine[Any, Any, R]]],
        *,
        weights: Sequence[float],
        quorum: float | None,
        key: Callable[[R], Hashable] | None,
        aggregate: Aggregation | Callable[[Ballot[R]], R],
        tie_breaker: Callable[[Ballot[R]], R] | None,
        min_votes: int,
        name: str,
    ) -> None:
        self._voters = list(voters)
        self._weights = [float(w) for w in weights]
        self._quorum = quorum
        self._key = key
        self._aggregate = aggregate
        self._tie_breaker = tie_breaker
        self._min_votes = min_votes
        self._name = name
        self._function = qualified_name(voters[0])
        functools.update_wrapper(self, voters[0])

    @property
    def n(self) -> int:
        return len(self._voters)

    def _job(self, index: int, voter: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Job:
        if isinstance(voter, ParallelFunction):  # one span per voter, under that function's cap
            policy = voter.policy
            call = functools.partial(voter.__wrapped__, *args, **kwargs)
        else:
            name = getattr(voter, "__name__", "voter")
            policy = CallPolicy(span_name=name, function=qualified_name(voter))
            call = functools.partial(voter, *args, **kwargs)
        return Job(policy, call, index=index, args=args, kwargs=kwargs)

    async def ballot(self, *args: P.args, **kwargs: P.kwargs) -> Ballot[R]:
        """Run the vote and return the whole ballot (never raises ``NoConsensus``)."""
        ballot, _ = await self._run(args, kwargs, raise_on_no_consensus=False)
        return ballot

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the vote and return the winning answer.

        Raises:
            NoConsensus: no winner under the aggregation and no tie-breaker resolved it.
            NotEnoughSuccesses: fewer voters answered than ``min_votes``.
        """
        _, winner = await self._run(args, kwargs, raise_on_no_consensus=True)
        return winner  # type: ignore[return-value]

    async def _run(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], *, raise_on_no_consensus: bool
    ) -> tuple[Ballot[R], R | None]:
        tally = _Tally(
            self._weights, self._key, self._aggregate, self._quorum, self._min_votes, self._function
        )
        jobs = [self._job(i, v, args, kwargs) for i, v in enumerate(self._voters)]
        stopped = False

        def stop_when(outcome: Outcome[Any]) -> str | None:
            nonlocal stopped  # called after the loop below has counted the outcome
            if tally.certain():
                stopped = tally.remaining > 0
                return DECIDED
            return None

        with FanOut(
            f"vote {self._name}",
            A.KIND_VOTE,
            size=len(jobs),
            function=self._function,
            on_error="collect",
            attributes={A.VOTE_N: len(jobs)},
        ) as fo:
            async with contextlib.aclosing(fo.iterate(jobs, stop_when=stop_when)) as stream:
                async for outcome in stream:
                    tally.add(outcome)
            with fo.fan_in() as span:
                ballot = tally.ballot(len(jobs), stopped)
                winner = self._decide(ballot, raise_on_no_consensus)
                if span.is_recording():
                    span.set_attributes(self._fanin_attributes(ballot))
        return ballot, winner

    def _decide(self, ballot: Ballot[R], raise_on_no_consensus: bool) -> R | None:
        if ballot.answered < self._min_votes:
            failures = [
                (f"{self._name}[{o.index}]", o.error)
                for o in ballot.outcomes
                if isinstance(o.error, Exception)
                and o.status in (A.OUTCOME_ERROR, A.OUTCOME_TIMEOUT)
            ]
            raise NotEnoughSuccesses.for_branches(
                f"vote {self._name} (needed {self._min_votes} answers, got {ballot.answered})",
                failures or [(self._name, RuntimeError("no voter answered"))],
            )
        if callable(self._aggregate) and not (self._quorum is not None and ballot.decided):
            return self._aggregate(ballot)
        if ballot.decided:
            return ballot.winner
        if self._tie_breaker is not None and ballot.answered:
            return self._tie_breaker(ballot)
        if raise_on_no_consensus:
            shown = ", ".join(f"{short_repr(k, 24)}: {v:g}" for k, v in ballot.counts.items())
            raise NoConsensus(
                f"vote {self._name} found no {self._aggregate_name} winner ({shown}); "
                f"pass tie_breaker=..., or use .ballot() to inspect the answers",
                ballot,
            )
        return None

    @property
    def _aggregate_name(self) -> str:
        agg = self._aggregate
        return agg if isinstance(agg, str) else getattr(agg, "__name__", "custom")

    def _fanin_attributes(self, ballot: Ballot[R]) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            A.VOTE_N: ballot.n,
            A.VOTE_AGGREGATION: self._aggregate_name,
            A.VOTE_COUNTS: [f"{short_repr(k, 40)}={v:g}" for k, v in ballot.counts.items()],
            A.VOTE_AGREEMENT: ballot.agreement,
            A.VOTE_STOPPED_EARLY: ballot.stopped_early,
            A.VOTE_CANCELLED: ballot.cancelled,
        }
        if self._quorum is not None:
            attrs[A.VOTE_QUORUM] = self._quorum
        if ballot.decided:
            attrs[A.VOTE_WINNER] = short_repr(ballot.winner_key)
        return attrs

    def __repr__(self) -> str:
        return f"<vote {self._function} n={self.n} aggregate={self._aggregate_name!r}>"


def _check(
    n: int,
    quorum: float | None,
    aggregate: object,
    min_votes: int,
    weights: Sequence[float],
) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigurationError("vote n must be a whole number >= 1", n, "e.g. @vote(n=5)")
    if quorum is not None and (
        isinstance(quorum, bool)
        or not isinstance(quorum, int | float)
        or not 0 < quorum <= sum(weights)
    ):
        raise ConfigurationError(
            f"vote quorum must be > 0 and at most the number of voters ({sum(weights):g})",
            quorum,
            "e.g. @vote(n=5, quorum=3)",
        )
    if not callable(aggregate) and aggregate not in _AGGREGATIONS:
        raise ConfigurationError(
            "vote aggregate must be 'majority', 'plurality', 'unanimous' or a function",
            aggregate,
            "e.g. aggregate='plurality', or a function(ballot) -> winner",
        )
    if isinstance(min_votes, bool) or not isinstance(min_votes, int) or not 1 <= min_votes <= n:
        raise ConfigurationError(
            f"vote min_votes must be between 1 and n ({n})", min_votes, "e.g. min_votes=3"
        )
    if any(not isinstance(w, int | float) or isinstance(w, bool) or w <= 0 for w in weights):
        raise ConfigurationError(
            "vote weights must be numbers > 0", list(weights), "e.g. weights=[2, 1, 1]"
        )


class _Vote:
    """The ``vote`` decorator, with ``vote.among`` for different voters."""

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> VoteFunction[P, R]: ...
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
        name: str | None = None,
    ) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], VoteFunction[P, R]]: ...
    def __call__(  # type: ignore[misc]  # mypy cannot match a ParamSpec across the overloads
        self,
        fn: Callable[P, Coroutine[Any, Any, R]] | None = None,
        /,
        *,
        n: int = 3,
        quorum: float | None = None,
        key: Callable[[Any], Hashable] | None = None,
        aggregate: Aggregation | Callable[[Ballot[Any]], Any] = "majority",
        tie_breaker: Callable[[Ballot[Any]], Any] | None = None,
        min_votes: int = 1,
        name: str | None = None,
    ) -> VoteFunction[P, R] | Callable[[Callable[P, Coroutine[Any, Any, R]]], VoteFunction[P, R]]:
        """Ask the same question ``n`` times and aggregate the answers.

        Args:
            n: voters.
            quorum: this many agreeing answers decide the vote at once (at most ``n``).
            key: how answers are compared (``lambda a: a.strip().lower()``); needed for
                unhashable answers.
            aggregate: ``majority`` (more than half of the votes cast), ``plurality``,
                ``unanimous``, or a function of the :class:`Ballot` that returns the winner.
            tie_breaker: a function of the :class:`Ballot` called when there is no winner.
            min_votes: answers needed; failed voters abstain; below it the vote raises with
                every voter's error.

        .. versionadded:: 0.1
        """
        _check(n, quorum, aggregate, min_votes, [1.0] * n)

        def decorate(f: Callable[P, Coroutine[Any, Any, R]]) -> VoteFunction[P, R]:
            if not isinstance(f, ParallelFunction):
                require_async(f, "@vote")
            return VoteFunction(
                [f] * n,
                weights=[1.0] * n,
                quorum=quorum,
                key=key,
                aggregate=aggregate,
                tie_breaker=tie_breaker,
                min_votes=min_votes,
                name=name or str(getattr(f, "__name__", "vote")),
            )

        if fn is not None:
            return decorate(fn)
        return decorate

    def among(
        self,
        *voters: Callable[P, Coroutine[Any, Any, R]],
        weights: Sequence[float] | None = None,
        quorum: float | None = None,
        key: Callable[[Any], Hashable] | None = None,
        aggregate: Aggregation | Callable[[Ballot[Any]], Any] = "majority",
        tie_breaker: Callable[[Ballot[Any]], Any] | None = None,
        min_votes: int = 1,
        name: str | None = None,
    ) -> VoteFunction[P, R]:
        """Different voters (other prompts or models) for one question, same aggregation.

        ``weights`` (one per voter) scale each voter's vote.
        """
        if not voters:
            raise UsageError("vote.among() needs at least one voter, e.g. vote.among(f, g, h)")
        for voter in voters:
            if not isinstance(voter, ParallelFunction):
                require_async(voter, "vote.among")
        chosen = list(weights) if weights is not None else [1.0] * len(voters)
        if len(chosen) != len(voters):
            raise ConfigurationError(
                f"vote.among got {len(voters)} voters but {len(chosen)} weights",
                chosen,
                "give one weight per voter",
            )
        _check(len(voters), quorum, aggregate, min_votes, chosen)
        return VoteFunction(
            voters,
            weights=chosen,
            quorum=quorum,
            key=key,
            aggregate=aggregate,
            tie_breaker=tie_breaker,
            min_votes=min_votes,
            name=name or "+".join(str(getattr(v, "__name__", "voter")) for v in voters),
        )


vote = _Vote()

__all__ = ["Ballot", "VoteFunction", "vote"]
