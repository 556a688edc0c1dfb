"""A vote's sync face: :class:`SyncVoteFunction`, a vote over plain ``def`` voters.

It holds the vote's async face (``f.aio``, a :class:`~fanscope.sdk.voting.VoteFunction`
whose voters run on threads) and runs it on a private event loop
(:func:`~fanscope.sdk.threads.run_sync`), so both faces share one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from fanscope.sdk.ballot import Ballot
from fanscope.sdk.threads import run_sync
from fanscope.sdk.voting import VoteFunction

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
Owner = TypeVar("Owner")  # what an instance method is bound to
OwnerType = TypeVar("OwnerType", bound=type)  # what a class method is bound to


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

    # Callables as self types, as in VoteFunction.__get__ (which says why).
    @overload
    def __get__(
        self: Callable[Concatenate[Owner, P2], R], obj: Owner, objtype: type | None = None
    ) -> SyncVoteFunction[P2, R]: ...
    @overload
    def __get__(
        self: Callable[Concatenate[OwnerType, P2], R], obj: object, objtype: OwnerType
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
