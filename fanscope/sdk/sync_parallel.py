"""The sync face of a ``@parallel`` plain ``def``: ``f(x)``, ``f.map(xs)`` from sync code.

:class:`SyncParallelFunction` runs each branch on a thread its fan-out owns, with no event
loop (:mod:`~fanscope.sdk.thread_fanout`), by the same code as the async face for what both
decide: limiters, retries, timeouts, failure policies and spans. Its async face (``f.aio``,
a :class:`~fanscope.sdk.parallel.ParallelFunction` whose attempts run on threads) is for
async code.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Coroutine, Generator, Iterable, Sized
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    Self,
    Unpack,
    overload,
)

from fanscope.errors import UsageError
from fanscope.sdk import callsite
from fanscope.sdk.branch import CallPolicy, Job
from fanscope.sdk.budget import applied
from fanscope.sdk.checks import MAP_OPTIONS, STREAM_OPTIONS, fan_out_options, refuse_options
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.parallel import (
    F,
    Item,
    Owner,
    P,
    ParallelFunction,
    R,
    S,
    _AnyOpts,
    _Opts,
    _Until,
)
from fanscope.sdk.policy import OnError
from fanscope.sdk.thread_branch import Branch, Helpers, run
from fanscope.sdk.thread_fanout import ThreadFanOut, collect, reduce_sync
from fanscope.sdk.threads import iterate_sync, run_sync


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
            policy = aio.policy
            if policy.hedge is not None:  # hedged attempts race on an event loop
                return run_sync(aio(*args, **kwargs))
            call = functools.partial(aio._fn, *args, **kwargs)
            job = Job(policy, call, args=args, kwargs=kwargs, site=callsite.here())
            helpers = None if policy.timeout is None else Helpers(f"{aio._name} attempt")
            try:
                with applied(policy.budget):
                    outcome = run(Branch(job), helpers=helpers)
            finally:
                if helpers is not None:
                    helpers.close()
            assert outcome is not None  # nothing abandons a lone call
            if outcome.error is not None:
                raise outcome.error
            return outcome.value

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
    def map(
        self,
        items: Iterable[Any],
        *,
        on_error: OnError = "raise",
        min_successes: int | None = None,
        deadline: float | None = None,
        reduce: Callable[[list[Any]], Any] | None = None,
        **unknown: object,
    ) -> Any:
        """Call the function once per item on the fan-out's threads, at most its cap at once.

        Takes the options of the async :meth:`ParallelFunction.map` (``on_error``,
        ``min_successes``, ``deadline``, ``reduce``) and returns what it returns: the
        results in input order (or what ``reduce`` returns).
        """
        if unknown:
            refuse_options(self.aio._name, "map", MAP_OPTIONS, unknown)
        return self._run(items, "map", on_error, min_successes, deadline, reduce)

    def _run(
        self,
        items: object,
        method: str,
        on_error: OnError,
        min_successes: int | None,
        deadline: float | None,
        reduce: Callable[[list[Any]], Any] | None,
    ) -> Any:
        aio = self.aio
        if aio.policy.hedge is not None:  # hedged attempts race on an event loop
            face: Any = aio.starmap if method == "starmap" else aio.map
            options = {"min_successes": min_successes, "deadline": deadline, "reduce": reduce}
            return run_sync(face(items, on_error=on_error, **options))
        checked, deadline = fan_out_options(
            items, method, on_error, min_successes, deadline, reduce
        )
        sized = checked if isinstance(checked, Sized) else None
        with aio._fanout(on_error, min_successes, deadline) as fo:
            jobs = aio._jobs(_sync_items(checked, method), method == "starmap", None)
            fan = ThreadFanOut(fo, jobs, threads=aio._most_at_once, name=aio._name)
            results = collect(fan.iterate(), on_error, None if sized is None else len(sized))
            with fo.fan_in():
                return reduce_sync(reduce, results)

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
    def starmap(
        self,
        items: Iterable[Iterable[Any]],
        *,
        on_error: OnError = "raise",
        min_successes: int | None = None,
        deadline: float | None = None,
        reduce: Callable[[list[Any]], Any] | None = None,
        **unknown: object,
    ) -> Any:
        """Like :meth:`map`, each item being the positional arguments of one call."""
        if unknown:
            refuse_options(self.aio._name, "starmap", MAP_OPTIONS, unknown)
        return self._run(items, "starmap", on_error, min_successes, deadline, reduce)

    @overload
    def as_completed(
        self: SyncParallelFunction[Callable[[Item], R]],
        items: Iterable[Item],
        *,
        on_error: Literal["raise", "skip"] = ...,
        **o: Unpack[_Until],
    ) -> Generator[tuple[int, R], None, None]: ...
    @overload
    def as_completed(
        self: SyncParallelFunction[Callable[[Item], R]],
        items: Iterable[Item],
        *,
        on_error: Literal["collect"],
        **o: Unpack[_Until],
    ) -> Generator[tuple[int, Outcome[R]], None, None]: ...
    def as_completed(
        self,
        items: Iterable[Any],
        *,
        on_error: OnError = "raise",
        deadline: float | None = None,
        **unknown: object,
    ) -> Generator[tuple[int, Any], None, None]:
        """Yield ``(index, result)`` as calls finish, fastest first.

        The calls go on while the loop body runs. Leaving the loop early cancels the calls
        still waiting for a slot and abandons the running ones once the iterator is closed:
        wrap it in ``contextlib.closing(...)`` when you may ``break``.
        """
        if unknown:
            refuse_options(self.aio._name, "as_completed", STREAM_OPTIONS, unknown)
        if self.aio.policy.hedge is not None:  # hedged attempts race on an event loop
            agen: Any = self.aio.as_completed(items, on_error=on_error, deadline=deadline)
            hedged: Generator[tuple[int, Any], None, None] = iterate_sync(agen)
            return hedged
        checked, deadline = fan_out_options(items, "as_completed", on_error, None, deadline)
        return self._as_completed(_sync_items(checked, "as_completed"), on_error, deadline)

    def _as_completed(
        self, items: Iterable[Any], on_error: OnError, deadline: float | None
    ) -> Generator[tuple[int, Any], None, None]:
        aio = self.aio
        with aio._fanout(on_error, None, deadline) as fo:
            jobs = aio._jobs(items, False, None)
            fan = ThreadFanOut(fo, jobs, threads=aio._most_at_once, name=aio._name, stream=True)
            with contextlib.closing(fan.iterate()) as outcomes:
                for outcome in outcomes:
                    if on_error == "collect":
                        yield outcome.index, outcome
                    elif outcome.ok:
                        yield outcome.index, outcome.value


def _sync_items(items: object, method: str) -> Iterable[Any]:
    if not isinstance(items, Iterable):
        raise UsageError(
            f"{method}() in sync code needs an iterable of inputs, got {type(items).__name__}; "
            f"for an async iterable, use the async face: await f.aio.{method}(items)"
        )
    return items


class _AsyncFace:
    """For type checkers only: ``f.aio`` of a sync ``f`` is ``f`` as an ``async def``."""

    def __get__(
        self, obj: SyncParallelFunction[Callable[P, R]], objtype: type | None = None
    ) -> ParallelFunction[Callable[P, Coroutine[Any, Any, R]]]:
        return obj.aio
