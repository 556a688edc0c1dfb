"""A ``@parallel`` function's async face.

:class:`ParallelFunction` wraps an ``async def`` (``await f(x)``, ``await f.map(xs)``); the
async face of a plain ``def`` (``f.aio``) is the same class, each attempt running on a thread
of the fan-out (:class:`~fanscope.sdk.threads.Workers`). The plain ``def``'s own face, for
sync code, is in :mod:`fanscope.sdk.sync_parallel`. What decorating a function and calling a
fan-out check (the target, the input, the options) is in :mod:`fanscope.sdk.checks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Self,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from fanscope.sdk import attributes as A
from fanscope.sdk import callsite
from fanscope.sdk import hedge as hedging
from fanscope.sdk.branch import CallPolicy, lone_call
from fanscope.sdk.budget import Budget
from fanscope.sdk.checks import (
    MAP_OPTIONS,
    STREAM_OPTIONS,
    Items,
    check_target,
    fan_out_options,
    qualified_name,
    refuse_options,
)
from fanscope.sdk.fanout import FanOut, combine
from fanscope.sdk.hedge import Hedge
from fanscope.sdk.jobs import jobs_of
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.policy import OnError
from fanscope.sdk.retry import Retry
from fanscope.sdk.threads import Workers, on_own_thread

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
Item = TypeVar("Item")  # the item type of map(): the function's one parameter
Owner = TypeVar("Owner")  # what an instance method is bound to
#: The type of the wrapped function itself, so that calls keep its whole signature and
#: map() can read its parameter (a ParamSpec alone cannot be matched against one parameter
#: by mypy). Covariant: a function with extra optional keyword parameters still maps.
F = TypeVar("F", bound=Callable[..., Any], covariant=True)


class ParallelFunction(Generic[F]):
    """An ``async def`` made bounded and traced by ``@parallel``.

    Calling it runs one call under the function's cap, retry policy and timeout, traced as
    a branch span. :meth:`map`, :meth:`starmap` and :meth:`as_completed` fan out.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        fn: F,
        *,
        limiters: tuple[Limiter, ...],
        retry: Retry | None,
        timeout: float | None,
        name: str | None = None,
        budget: Budget | None = None,
        hedge: Hedge | None = None,
    ) -> None:
        self.__wrapped__ = fn
        functools.update_wrapper(self, fn)
        self._fn: Callable[..., Any] = fn
        # a plain def: each attempt runs on a thread of the fan-out (or of the lone call)
        self._blocking = check_target(fn, "@parallel")
        self._binding = ""  # "static", "class" (decorated over those), "bound" (by __get__)
        caps = [lim.max_concurrency for lim in limiters if lim.max_concurrency is not None]
        self._max_concurrency = min(caps) if caps else None
        self._name: str = name or str(getattr(fn, "__name__", "call"))
        self.policy = CallPolicy(
            span_name=self._name,
            function=qualified_name(fn),
            limiters=limiters,
            retry=retry,
            timeout=timeout,
            code=callsite.code_of(fn),  # calls inside a branch are placed in this function
            budget=budget,
            hedge=hedge,
        )
        # asyncio.iscoroutinefunction() on Python 3.11 looks for this marker.
        self._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)

    @property
    def limiters(self) -> tuple[Limiter, ...]:
        """The limiters each call waits on: the function's own, then any shared one."""
        return self.policy.limiters

    if TYPE_CHECKING:  # a call has the wrapped function's own signature and result
        __call__: F

    else:

        def __call__(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
            if self._blocking:
                call = functools.partial(on_own_thread, self._fn, self._name)
                return lone_call(self.policy, call, args, kwargs)
            return lone_call(self.policy, self._fn, args, kwargs)

    @overload
    def __get__(
        self: ParallelFunction[Callable[Concatenate[Owner, P], R]],
        obj: Owner,
        objtype: type | None = None,
    ) -> ParallelFunction[Callable[P, R]]: ...
    @overload
    def __get__(
        self: ParallelFunction[Callable[Concatenate[type[Owner], P], R]],
        obj: Owner | None,
        objtype: type[Owner],
    ) -> ParallelFunction[Callable[P, R]]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Self: ...
    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        """Bind like a method (or a class method), sharing this function's limiters.

        Typed for each way it is reached: on an instance the first parameter is bound; on a
        class method (``@parallel`` above ``@classmethod``), the class; otherwise (the class
        itself, a static method) nothing is.
        """
        if self._binding == "class":
            obj = objtype if objtype is not None else type(obj)
        elif obj is None or self._binding == "static":
            return self
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound._fn = functools.partial(self._fn, obj)
        bound._binding = "bound"
        bound.__self__ = obj  # type: ignore[attr-defined]
        return bound

    def __repr__(self) -> str:
        return f"<parallel {self.policy.function} limiters={list(self.policy.limiters)!r}>"

    # -- fan-outs ----------------------------------------------------------------------------

    def _jobs(self, items: Items, star: bool, workers: Workers | None) -> Any:
        """One job per item, made as the fan-out reads the item (:func:`~.jobs.jobs_of`)."""
        return jobs_of(self._fn, self.policy, items, star, workers)

    def _workers(self) -> contextlib.AbstractContextManager[Workers | None]:
        """The threads of one fan-out of a sync function (none for an ``async def``)."""
        return Workers(self._name) if self._blocking else contextlib.nullcontext()

    def _fanout(
        self, on_error: OnError, min_successes: int | None, deadline: float | None
    ) -> FanOut:
        return FanOut(
            f"map {self._name}",
            A.KIND_MAP,
            function=self.policy.function,
            max_concurrency=self._max_concurrency,
            on_error=on_error,
            min_successes=min_successes,
            deadline=deadline,
            budget=self.policy.budget,
            holders=self.policy.limiters,
        )

    @contextlib.contextmanager
    def _hedging(self, fo: FanOut) -> Iterator[None]:
        """The fan-out's share of hedges (``hedge=``); its counts on the fan-out span."""
        policy = self.policy.hedge
        if policy is None:
            yield
            return
        with hedging.scope(policy, fo.where, self.policy.function) as made:
            fo.context = hedging.in_context(made, fo.context)
            try:
                yield
            finally:
                if made is not None and fo.span.is_recording():
                    fo.span.set_attributes(made.attributes())

    @property
    def _face(self) -> str:
        """How the user reaches this face: ``summarize``, or ``lookup.aio`` for a plain def."""
        return f"{self._name}.aio" if self._blocking else self._name

    @property
    def _most_at_once(self) -> int | None:
        """The most branches the function's caps may let run at once (``None``: no cap): an
        adaptive cap moves, so it counts as the most it may grow to, not as where it started."""
        cap = self._max_concurrency
        if cap is not None and any(lim.adaptive is not None for lim in self.policy.limiters):
            cap = min(
                lim.adaptive.max if lim.adaptive is not None else lim.max_concurrency or cap
                for lim in self.policy.limiters
                if lim.max_concurrency is not None
            )
        return cap

    @property
    def _window(self) -> int | None:
        """Branch tasks a fan-out keeps alive: twice the cap (none without a cap).

        Room for the cap's running branches plus as many again, so that branches sleeping
        before a retry (which give their slot back meanwhile) do not stall the fan-out.
        """
        cap = self._most_at_once
        return None if cap is None else 2 * cap

    async def _run(
        self,
        items: Items,
        star: bool,
        on_error: OnError,
        min_successes: int | None,
        deadline: float | None,
        reduce: Callable[[Any], Any] | None,
    ) -> Any:
        with (
            self._workers() as workers,
            self._fanout(on_error, min_successes, deadline) as fo,
            self._hedging(fo),
        ):
            jobs = self._jobs(items, star, workers)
            results = await fo.results(jobs, on_error, window=self._window)
            with fo.fan_in():
                return await combine(reduce, results)

    @overload
    async def map(
        self: ParallelFunction[Callable[[Item], Awaitable[R]]],
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        on_error: Literal["raise", "skip"] = ...,
        min_successes: int | None = ...,
        deadline: float | None = ...,
        reduce: None = ...,
    ) -> list[R]: ...
    @overload
    async def map(
        self: ParallelFunction[Callable[[Item], Awaitable[R]]],
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        on_error: Literal["collect"],
        min_successes: int | None = ...,
        deadline: float | None = ...,
        reduce: None = ...,
    ) -> list[Outcome[R]]: ...
    @overload
    async def map(
        self: ParallelFunction[Callable[[Item], Awaitable[Any]]],
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        on_error: OnError = ...,
        min_successes: int | None = ...,
        deadline: float | None = ...,
        reduce: Callable[[list[Any]], Awaitable[S]] | Callable[[list[Any]], S],
    ) -> S: ...
    async def map(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        on_error: OnError = "raise",
        min_successes: int | None = None,
        deadline: float | None = None,
        reduce: Callable[[list[Any]], Any] | None = None,
        **unknown: object,
    ) -> Any:
        """Call the function once per item, bounded by its cap, as one traced fan-out.

        Args:
            items: one positional argument per call.
            on_error: ``raise``: the first failure cancels the other branches and raises
                :class:`~fanscope.FanoutError`; ``collect``: return an
                :class:`~fanscope.Outcome` per item; ``skip``: return the successful values.
            min_successes: with ``collect``/``skip``, raise
                :class:`~fanscope.NotEnoughSuccesses` once fewer can succeed.
            deadline: seconds for the whole fan-out; branches still running then end with
                :class:`~fanscope.errors.DeadlineExceeded` (a failure under the policy).
            reduce: combine the list of results (sync or async) inside the fan-in span.

        Returns:
            The results in input order (or what ``reduce`` returns).
        """
        if unknown:
            refuse_options(self._face, "map", MAP_OPTIONS, unknown)
        checked, deadline = fan_out_options(items, "map", on_error, min_successes, deadline, reduce)
        return await self._run(checked, False, on_error, min_successes, deadline, reduce)

    @overload
    async def starmap(
        self: ParallelFunction[Callable[..., Awaitable[R]]],
        items: Iterable[Iterable[Any]] | AsyncIterable[Iterable[Any]],
        *,
        on_error: Literal["raise", "skip"] = ...,
        **o: Unpack[_Opts],
    ) -> list[R]: ...
    @overload
    async def starmap(
        self: ParallelFunction[Callable[..., Awaitable[R]]],
        items: Iterable[Iterable[Any]] | AsyncIterable[Iterable[Any]],
        *,
        on_error: Literal["collect"],
        **o: Unpack[_Opts],
    ) -> list[Outcome[R]]: ...
    @overload
    async def starmap(
        self,
        items: Iterable[Iterable[Any]] | AsyncIterable[Iterable[Any]],
        *,
        reduce: Callable[[list[Any]], S],
        **o: Unpack[_AnyOpts],
    ) -> S: ...
    async def starmap(
        self,
        items: Iterable[Iterable[Any]] | AsyncIterable[Iterable[Any]],
        *,
        on_error: OnError = "raise",
        min_successes: int | None = None,
        deadline: float | None = None,
        reduce: Callable[[list[Any]], Any] | None = None,
        **unknown: object,
    ) -> Any:
        """Like :meth:`map`, each item being the positional arguments of one call."""
        if unknown:
            refuse_options(self._face, "starmap", MAP_OPTIONS, unknown)
        checked, deadline = fan_out_options(
            items, "starmap", on_error, min_successes, deadline, reduce
        )
        return await self._run(checked, True, on_error, min_successes, deadline, reduce)

    @overload
    def as_completed(
        self: ParallelFunction[Callable[[Item], Awaitable[R]]],
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        on_error: Literal["raise", "skip"] = ...,
        deadline: float | None = ...,
    ) -> AsyncGenerator[tuple[int, R], None]: ...
    @overload
    def as_completed(
        self: ParallelFunction[Callable[[Item], Awaitable[R]]],
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        on_error: Literal["collect"],
        deadline: float | None = ...,
    ) -> AsyncGenerator[tuple[int, Outcome[R]], None]: ...
    def as_completed(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        on_error: OnError = "raise",
        deadline: float | None = None,
        **unknown: object,
    ) -> AsyncGenerator[tuple[int, Any], None]:
        """Yield ``(index, result)`` as calls finish, fastest first.

        Leaving the loop early cancels the calls still running once the iterator is closed:
        use ``async with contextlib.aclosing(f.as_completed(xs)) as it:`` when you may
        ``break``, so that this happens at once rather than when the iterator is collected.
        No fan-in span is recorded: the caller does the combining.
        """
        if unknown:
            refuse_options(self._face, "as_completed", STREAM_OPTIONS, unknown)
        checked, deadline = fan_out_options(items, "as_completed", on_error, None, deadline)
        return self._as_completed(checked, on_error, deadline)

    async def _as_completed(
        self, items: Items, on_error: OnError, deadline: float | None
    ) -> AsyncGenerator[tuple[int, Any], None]:
        with (
            self._workers() as workers,
            self._fanout(on_error, None, deadline) as fo,
            self._hedging(fo),
        ):
            jobs = self._jobs(items, False, workers)
            # the outcomes that ended together, one step of the fan-out per batch
            async with contextlib.aclosing(fo.batches(jobs, window=self._window)) as batches:
                async for batch in batches:
                    for outcome in batch:
                        if on_error == "collect":
                            yield outcome.index, outcome
                        elif outcome.ok:
                            yield outcome.index, outcome.value


class _Until(TypedDict, total=False):
    deadline: float | None


class _Opts(_Until, total=False):
    min_successes: int | None


class _AnyOpts(_Opts, total=False):
    on_error: OnError
