"""The sync face of a ``@parallel`` plain ``def``: ``f(x)``, ``f.map(xs)`` from sync code.

:class:`SyncParallelFunction` holds the function's async face (``f.aio``, a
:class:`~fanscope.sdk.parallel.ParallelFunction` whose attempts run on threads) and runs it
on a private event loop (:func:`~fanscope.sdk.threads.run_sync`), so both faces share one
implementation of limiters, retries, timeouts, failure policies and spans.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Self,
    TypeVar,
    Unpack,
    overload,
)

from fanscope.sdk.branch import CallPolicy, lone_call
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.parallel import F, Item, Owner, ParallelFunction, _AnyOpts, _Opts, _Until
from fanscope.sdk.threads import iterate_sync, run_sync

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


async def run_inline(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
    """One attempt of a sync function on the calling thread (a lone call with no timeout)."""
    return fn(*args, **kwargs)


class SyncParallelFunction(Generic[F]):
    """A plain ``def`` made bounded and traced by ``@parallel``, for sync code.

    ``f(x)`` is one bounded, traced call, made on the calling thread (on a thread of its own
    when the function has a ``timeout``, so that the timeout can give up on it);
    :meth:`map`, :meth:`starmap` and :meth:`as_completed` fan out on threads the fan-out
    owns, at most the function's cap of them. ``f.aio`` is the same function for async
    code: ``await f.aio.map(xs)`` runs the calls on threads without blocking the event loop.
    Both faces share the function's limiters.

    .. versionadded:: 0.2
    """

    def __init__(self, aio: ParallelFunction[Any]) -> None:
        functools.update_wrapper(self, aio.__wrapped__)
        self.aio = aio
        """The same function for async code (each call on a thread): ``await f.aio.map(xs)``."""

    if TYPE_CHECKING:  # a call has the wrapped function's own signature and result
        __call__: F

        aio: _AsyncFace  # typed by the function: ``await f.aio(x)`` returns R

    else:

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            aio = self.aio
            if aio.policy.timeout is not None:
                return run_sync(aio(*args, **kwargs))
            call = functools.partial(run_inline, aio._fn)
            return run_sync(lone_call(aio.policy, call, args, kwargs))

    @property
    def policy(self) -> CallPolicy:
        return self.aio.policy

    @property
    def limiters(self) -> tuple[Limiter, ...]:
        """The limiters each call waits on: the function's own, then any shared one."""
        return self.aio.policy.limiters

    @overload
    def __get__(
        self: SyncParallelFunction[Callable[Concatenate[Owner, P], R]],
        obj: Owner,
        objtype: type | None = None,
    ) -> SyncParallelFunction[Callable[P, R]]: ...
    @overload
    def __get__(
        self: SyncParallelFunction[Callable[Concatenate[type[Owner], P], R]],
        obj: Owner | None,
        objtype: type[Owner],
    ) -> SyncParallelFunction[Callable[P, R]]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Self: ...
    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        """Bind like a method (or a class method), sharing this function's limiters."""
        aio = self.aio.__get__(obj, objtype)
        if aio is self.aio:
            return self
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound.aio = aio
        return bound

    def __repr__(self) -> str:
        return f"<parallel {self.policy.function} limiters={list(self.limiters)!r} (sync)>"

    @overload
    def map(
        self: SyncParallelFunction[Callable[[Item], R]],
        items: Iterable[Item],
        *,
        on_error: Literal["raise", "skip"] = ...,
        **o: Unpack[_Opts],
    ) -> list[R]: ...
    @overload
    def map(
        self: SyncParallelFunction[Callable[[Item], R]],
        items: Iterable[Item],
        *,
        on_error: Literal["collect"],
        **o: Unpack[_Opts],
    ) -> list[Outcome[R]]: ...
    @overload
    def map(
        self: SyncParallelFunction[Callable[[Item], Any]],
        items: Iterable[Item],
        *,
        reduce: Callable[[list[Any]], S],
        **o: Unpack[_AnyOpts],
    ) -> S: ...
    def map(self, items: Iterable[Any], **options: Any) -> Any:
        """Call the function once per item on the fan-out's threads, at most its cap at once.

        Takes the options of the async :meth:`ParallelFunction.map` (``on_error``,
        ``min_successes``, ``deadline``, ``reduce``) and returns what it returns: the
        results in input order (or what ``reduce`` returns).
        """
        return run_sync(self.aio.map(items, **options))

    @overload
    def starmap(
        self: SyncParallelFunction[Callable[..., R]],
        items: Iterable[Iterable[Any]],
        *,
        on_error: Literal["raise", "skip"] = ...,
        **o: Unpack[_Opts],
    ) -> list[R]: ...
    @overload
    def starmap(
        self: SyncParallelFunction[Callable[..., R]],
        items: Iterable[Iterable[Any]],
        *,
        on_error: Literal["collect"],
        **o: Unpack[_Opts],
    ) -> list[Outcome[R]]: ...
    @overload
    def starmap(
        self,
        items: Iterable[Iterable[Any]],
        *,
        reduce: Callable[[list[Any]], S],
        **o: Unpack[_AnyOpts],
    ) -> S: ...
    def starmap(self, items: Iterable[Iterable[Any]], **options: Any) -> Any:
        """Like :meth:`map`, each item being the positional arguments of one call."""
        return run_sync(self.aio.starmap(items, **options))

    @overload
    def as_completed(
        self: SyncParallelFunction[Callable[[Item], R]],
        items: Iterable[Item],
        *,
        on_error: Literal["raise", "skip"] = ...,
        **o: Unpack[_Until],
    ) -> Iterator[tuple[int, R]]: ...
    @overload
    def as_completed(
        self: SyncParallelFunction[Callable[[Item], R]],
        items: Iterable[Item],
        *,
        on_error: Literal["collect"],
        **o: Unpack[_Until],
    ) -> Iterator[tuple[int, Outcome[R]]]: ...
    def as_completed(self, items: Iterable[Any], **options: Any) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, result)`` as calls finish, fastest first.

        The calls go on while the loop body runs. Leaving the loop early cancels the calls
        still waiting for a slot and abandons the running ones once the iterator is closed:
        wrap it in ``contextlib.closing(...)`` when you may ``break``.
        """
        return iterate_sync(self.aio.as_completed(items, **options))


class _AsyncFace:
    """For type checkers only: ``f.aio`` of a sync ``f`` is ``f`` as an ``async def``."""

    def __get__(
        self, obj: SyncParallelFunction[Callable[P, R]], objtype: type | None = None
    ) -> ParallelFunction[Callable[P, Coroutine[Any, Any, R]]]:
        return obj.aio
