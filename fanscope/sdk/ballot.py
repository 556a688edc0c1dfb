"""The count behind ``@vote``: the :class:`Ballot`, and the rules that say when it is decided.

Pure and synchronous (no tasks, no spans), so that every rule can be tested on hand-built
counts; :mod:`fanscope.sdk.vote` feeds a :class:`Tally` the voters' outcomes as they arrive.

The rules (``docs/vote.md`` has the worked version):

* failed voters abstain; fewer than ``min_votes`` answers is a failure, not a result;
* ``quorum``: the first answer to gather that many (weighted) votes wins;
* ``majority``: an answer with strictly more than half of the votes cast wins;
  ``plurality``: the answer with the most votes wins, unless it is tied;
  ``unanimous``: the one answer wins when every answer agrees;
  a callable aggregation picks the winner from the ballot itself;
* no winner: the ``tie_breaker``, if given, picks one from the ballot.

:meth:`Tally.decided_early` is true only when no outcome of the voters still running could
change that result, which is what lets a vote cancel them without changing its answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

from fanscope.errors import UsageError
from fanscope.sdk.outcomes import Outcome

R = TypeVar("R")

Aggregation = Literal["majority", "plurality", "unanimous"]
AGGREGATIONS: tuple[Aggregation, ...] = ("majority", "plurality", "unanimous")
DecidedBy = Literal["quorum", "majority", "plurality", "unanimous", "aggregate", "tie_breaker"]


@dataclass(frozen=True, slots=True)
class Ballot(Generic[R]):
    """Everything a vote saw, and what it decided.

    Attributes:
        winner: the winning answer: the first original result with the winning key (or what
            a callable aggregation or the tie-breaker returned); ``None`` when undecided.
        winner_key: the winner's key (what answers are compared by); ``None`` when undecided
            or when a returned winner has no usable key.
        decided: whether there is a winner.
        decided_by: the rule that picked it: ``quorum``, ``majority``, ``plurality``,
            ``unanimous``, ``aggregate`` (a callable aggregation) or ``tie_breaker``.
        counts: votes per distinct answer key (weighted), most first; ties in the order the
            answers arrived.
        agreement: votes for the winner over votes cast (0.0 when undecided).
        n: voters started.
        answered: voters that answered.
        failed: voters that failed (they abstain).
        cancelled: voters cancelled because the vote was already decided.
        stopped_early: the vote was decided, and voters cancelled, before all had answered.
        outcomes: every voter's :class:`~fanscope.Outcome`, by voter index.

    .. versionadded:: 0.1
    """

    winner: R | None
    winner_key: Hashable | None
    decided: bool
    decided_by: DecidedBy | None
    counts: Mapping[Hashable, float]
    agreement: float
    n: int
    answered: int
    failed: int
    cancelled: int
    stopped_early: bool
    outcomes: tuple[Outcome[R], ...] = field(default=(), repr=False)

    @property
    def answers(self) -> list[R]:
        """The answers, by voter index (failed and cancelled voters left out)."""
        return [o.value for o in self.outcomes if o.ok]  # type: ignore[misc]

    @property
    def errors(self) -> list[BaseException]:
        """The errors of the voters that failed, by voter index."""
        return [
            o.error
            for o in self.outcomes
            if o.status in ("error", "timeout") and o.error is not None
        ]


@dataclass(frozen=True, slots=True)
class Rules:
    """How a vote counts: its aggregation, quorum, tie-breaker, key and minimum of answers."""

    aggregate: Aggregation | Callable[[Ballot[Any]], Any] = "majority"
    quorum: float | None = None
    min_votes: int = 1
    key: Callable[[Any], Hashable] | None = None
    tie_breaker: Callable[[Ballot[Any]], Any] | None = None
    function: str = "vote"  # named in error messages

    @property
    def aggregate_name(self) -> str:
        agg = self.aggregate
        return agg if isinstance(agg, str) else str(getattr(agg, "__name__", "custom"))


_NO_KEY = object()


class Tally:
    """Counts the voters' outcomes as they arrive; says when the result can no longer change.

    Args:
        weights: one weight per voter (1.0 each for ``@vote``).
        rules: how to count.
    """

    def __init__(self, weights: Sequence[float], rules: Rules) -> None:
        self.weights = tuple(float(w) for w in weights)
        self.rules = rules
        self.outcomes: dict[int, Outcome[Any]] = {}
        self.counts: dict[Hashable, float] = {}  # insertion order = order of first arrival
        self.first: dict[Hashable, Any] = {}  # the first original answer with each key
        self.answered = 0
        self.quorum_key: Hashable | None = None
        self.quorum_reached = False
        self._unfinished = set(range(len(self.weights)))

    def key_of(self, value: Any) -> Hashable:
        """The key ``value`` is counted under (``rules.key(value)``, or the value itself)."""
        k = self.rules.key(value) if self.rules.key is not None else value
        try:
            hash(k)
        except TypeError:
            via = "its key=" if self.rules.key is not None else "answers of"
            raise UsageError(
                f"vote {self.rules.function}: {via} type {type(k).__name__} cannot be counted "
                f"(unhashable); pass a key that returns a str, number or tuple, e.g. "
                f"key=json.dumps or key=lambda answer: answer['verdict']"
            ) from None
        return k

    def add(self, outcome: Outcome[Any]) -> None:
        """Count one voter's outcome (a second call for the same voter is ignored)."""
        index = outcome.index
        if index in self.outcomes:
            return
        self.outcomes[index] = outcome
        self._unfinished.discard(index)  # a cancelled voter will not vote either
        if not outcome.ok:
            return
        k = self.key_of(outcome.value)
        votes = self.counts.get(k, 0.0) + self.weights[index]
        self.counts[k] = votes
        self.first.setdefault(k, outcome.value)
        self.answered += 1
        quorum = self.rules.quorum
        if quorum is not None and not self.quorum_reached and votes >= quorum:
            self.quorum_reached, self.quorum_key = True, k

    @property
    def cast(self) -> float:
        """Votes cast so far (weighted)."""
        return math.fsum(self.counts.values())

    @property
    def remaining(self) -> float:
        """Votes the voters still running could cast (weighted)."""
        return math.fsum(self.weights[i] for i in self._unfinished)

    def ranked(self) -> list[tuple[Hashable, float]]:
        """(key, votes), most first; ties in the order the answers arrived (sort is stable)."""
        return sorted(self.counts.items(), key=lambda kv: -kv[1])

    def decided_early(self) -> bool:
        """Whether no outcome of the voters still running could change the result.

        Every voter still running may yet answer anything, or fail. The result is then
        fixed when: too few voters are left to reach ``min_votes`` (the vote fails); or,
        with ``min_votes`` met, an answer reached the quorum; or the majority leader holds
        more than half of every vote that could still be cast; or the plurality leader is
        ahead of the runner-up by more than the votes left. "No winner" is certain when no
        answer can reach a majority (or two answers already disagree, for ``unanimous``),
        none can reach the quorum, and neither a tie-breaker nor a callable aggregation is
        waiting to read the full count.
        """
        unfinished = len(self._unfinished)
        if unfinished == 0:
            return True
        rules = self.rules
        if self.answered + unfinished < rules.min_votes:
            return True  # the vote fails whatever the rest do
        if self.answered < rules.min_votes:
            return False
        if self.quorum_reached:
            return True
        left, cast = self.remaining, self.cast
        ranked = self.ranked()
        lead = ranked[0][1] if ranked else 0.0
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        agg = rules.aggregate
        if agg == "majority" and 2 * lead > cast + left:
            return True  # even if every vote left goes to one rival, the leader keeps > half
        if agg == "plurality" and lead - second > left:
            return True
        if callable(agg) or rules.tie_breaker is not None:
            return False  # a function will read the full count: it must see all of it
        if rules.quorum is not None and lead + left >= rules.quorum:
            return False  # some answer may still reach the quorum
        if agg == "majority":
            return 2 * lead + left <= cast  # nobody can get > half, even if the rest fail
        if agg == "unanimous":
            return len(self.counts) > 1
        return False

    def _rule_winner(self, ranked: list[tuple[Hashable, float]]) -> tuple[Any, DecidedBy | None]:
        if self.quorum_reached:
            return self.quorum_key, "quorum"
        agg = self.rules.aggregate
        if callable(agg) or not ranked:
            return None, None
        lead_key, lead = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if agg == "majority" and 2 * lead > self.cast:
            return lead_key, "majority"
        if agg == "plurality" and lead > second:
            return lead_key, "plurality"
        if agg == "unanimous" and len(ranked) == 1:
            return lead_key, "unanimous"
        return None, None

    def result(self, *, stopped_early: bool = False) -> Ballot[Any]:
        """The ballot of what has been counted, with its winner (if any).

        Below ``min_votes`` the ballot is undecided and no function is called. A callable
        aggregation and the tie-breaker are called with the undecided ballot.
        """
        outcomes = tuple(self.outcomes[i] for i in sorted(self.outcomes))
        ranked = self.ranked()
        cancelled = sum(1 for o in outcomes if o.status == "cancelled")
        ballot: Ballot[Any] = Ballot(
            winner=None,
            winner_key=None,
            decided=False,
            decided_by=None,
            counts=dict(ranked),
            agreement=0.0,
            n=len(self.weights),
            answered=self.answered,
            failed=sum(1 for o in outcomes if o.status in ("error", "timeout")),
            cancelled=cancelled,
            stopped_early=stopped_early and cancelled > 0,
            outcomes=outcomes,
        )
        if self.answered < self.rules.min_votes:
            return ballot
        key, by = self._rule_winner(ranked)
        if by is not None:
            return self._won(ballot, self.first[key], key, by)
        if callable(self.rules.aggregate):
            return self._won(ballot, self.rules.aggregate(ballot), _NO_KEY, "aggregate")
        if self.rules.tie_breaker is not None:
            return self._won(ballot, self.rules.tie_breaker(ballot), _NO_KEY, "tie_breaker")
        return ballot

    def _won(self, ballot: Ballot[Any], winner: Any, key: Any, by: DecidedBy) -> Ballot[Any]:
        if key is _NO_KEY:  # a function's pick: count it under its key when it has one
            try:
                key = self.key_of(winner)
            except Exception:
                key = _NO_KEY
        votes = self.counts.get(key, 0.0) if key is not _NO_KEY else 0.0
        cast = self.cast
        return replace(
            ballot,
            winner=winner,
            winner_key=None if key is _NO_KEY else key,
            decided=True,
            decided_by=by,
            agreement=votes / cast if cast else 0.0,
        )
