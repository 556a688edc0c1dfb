"""``@parallel`` and ``@traced``: the decorators users put on their own functions.

``@parallel`` turns an ``async def`` into a bounded, traced function: ``await f(x)`` is one
call under the function's cap; ``await f.map(xs)`` fans out over ``xs``. ``@traced`` marks an
ordinary sequential step so the analyzer can see it (and the data flowing into it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

from opentelemetry import trace

from fanscope.errors import ConfigurationError, UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk import fingerprint
from fanscope.sdk.branch import CallPolicy, Job, check_timeout, lone_call
from fanscope.sdk.fanout import FanOut, combine
from fanscope.sdk.limits import Limiter, RateLimit
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.policy import OnError, check_policy, shape
from fanscope.sdk.retry import Retry
from fanscope.sdk.tracing import record_error, set_dataflow, tracer

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
F = TypeVar("F", bound=Callable[..., Any])


def qualified_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def require_async(fn: object, decorator: str) -> None:
    """Fail at decoration time, naming the function and the fix, unless ``fn`` is async.

    An object whose class has an ``async def __call__`` (a ``@vote``, say) counts as async.
    """
    if inspect.iscoroutinefunction(fn):
        return
    plain = inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn)
    call = None if plain else vars(type(fn)).get("__call__")
    if inspect.iscoroutinefunction(call):
        return
    name = getattr(fn, "__qualname__", None) or repr(fn)
    if inspect.isasyncgenfunction(fn):
        raise UsageError(
            f"{decorator} needs an 'async def' function that returns a value, but {name} is an "
            f"async generator; collect its items in an 'async def' and decorate that"
        )
    if callable(fn):
        raise UsageError(
            f"{decorator} needs an 'async def' function, but {name} is not a coroutine "
            f"function; write it as 'async def {getattr(fn, '__name__', 'f')}(...)', or run "
            f"blocking code with 'await asyncio.to_thread(...)' inside one"
        )
    raise UsageError(f"{decorator} decorates a function, got {fn!r}; put it on an 'async def'")


def _items(items: object, method: str) -> list[Any]:
    if isinstance(items, str | bytes):
        raise UsageError(
            f"{method}() got a {type(items).__name__}, which would fan out over its characters; "
            f"pass a list, e.g. {method}([text])"
        )
    if not isinstance(items, Iterable):
        raise UsageError(
            f"{method}() needs an iterable of inputs, got {type(items).__name__} {items!r}; "
            f"pass e.g. a list"
        )
    return list(items)


class ParallelFunction(Generic[P, R]):
    """An ``async def`` made bounded and traced by ``@parallel``.

    Calling it runs one call under the function's cap, retry policy and timeout, traced as
    a branch span. :meth:`map`, :meth:`starmap` and :meth:`as_completed` fan out.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        fn: Callable[P, Coroutine[Any, Any, R]],
        *,
        limiters: tuple[Limiter, ...],
        retry: Retry | None,
        timeout: float | None,
        name: str | None = None,
    ) -> None:
        self.__wrapped__ = fn
        functools.update_wrapper(self, fn)
        self._fn = fn
        caps = [lim.max_concurrency for lim in limiters if lim.max_concurrency is not None]
        self._max_concurrency = min(caps) if caps else None
        self._name: str = name or str(getattr(fn, "__name__", "call"))
        self.policy = CallPolicy(
            span_name=self._name,
            function=qualified_name(fn),
            limiters=limiters,
            retry=retry,
            timeout=timeout,
        )
        # asyncio.iscoroutinefunction() on Python 3.11 looks for this marker.
        self._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)

    @property
    def limiters(self) -> tuple[Limiter, ...]:
        """The limiters each call waits on: the function's own, then any shared one."""
        return self.policy.limiters

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        return lone_call(self.policy, self._fn, args, kwargs)

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        """Bind like a method, sharing this function's limiters."""
        if obj is None:
            return self
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound._fn = functools.partial(self._fn, obj)  # type: ignore[arg-type]
        bound.__self__ = obj  # type: ignore[attr-defined]
        return bound

    def __repr__(self) -> str:
        return f"<parallel {self.policy.function} limiters={list(self.policy.limiters)!r}>"

    # -- fan-outs ----------------------------------------------------------------------------

    def _jobs(self, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Job]:
        fn = self._fn
        jobs = []
        for index, (args, kwargs) in enumerate(calls):
            jobs.append(
                Job(
                    self.policy,
                    functools.partial(fn, *args, **kwargs),
                    index=index,
                    args=args,
                    kwargs=kwargs,
                )
            )
        return jobs

    def _fanout(
        self, size: int, on_error: OnError, min_successes: int | None, deadline: float | None
    ) -> FanOut:
        return FanOut(
            f"map {self._name}",
            A.KIND_MAP,
            size=size,
            function=self.policy.function,
            max_concurrency=self._max_concurrency,
            on_error=on_error,
            min_successes=min_successes,
            deadline=deadline,
        )

    async def _run(
        self,
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
        on_error: OnError,
        min_successes: int | None,
        deadline: float | None,
        reduce: Callable[[Any], Any] | None,
    ) -> Any:
        check_policy(on_error, min_successes)
        deadline = check_timeout("deadline", deadline)
        with self._fanout(len(calls), on_error, min_successes, deadline) as fo:
            outcomes = await fo.run(self._jobs(calls))
            with fo.fan_in():
                return await combine(reduce, shape(outcomes, on_error))

    @overload
    async def map(
        self,
        items: Iterable[Any],
        *,
        on_error: Literal["raise", "skip"] = ...,
        min_successes: int | None = ...,
        deadline: float | None = ...,
        reduce: None = ...,
    ) -> list[R]: ...
    @overload
    async def map(
        self,
        items: Iterable[Any],
        *,
        on_error: Literal["collect"],
        min_successes: int | None = ...,
        deadline: float | None = ...,
        reduce: None = ...,
    ) -> list[Outcome[R]]: ...
    @overload
    async def map(
        self,
        items: Iterable[Any],
        *,
        on_error: OnError = ...,
        min_successes: int | None = ...,
        deadline: float | None = ...,
        reduce: Callable[[list[Any]], Awaitable[S]] | Callable[[list[Any]], S],
    ) -> S: ...
    async def map(
        self,
        items: Iterable[Any],
        *,
        on_error: OnError = "raise",
        min_successes: int | None = None,
        deadline: float | None = None,
        reduce: Callable[[list[Any]], Any] | None = None,
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
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
        calls = [((item,), {}) for item in _items(items, "map")]
        return await self._run(calls, on_error, min_successes, deadline, reduce)

    async def starmap(
        self,
        items: Iterable[Iterable[Any]],
        *,
        on_error: OnError = "raise",
        min_successes: int | None = None,
        deadline: float | None = None,
        reduce: Callable[[list[Any]], Any] | None = None,
    ) -> Any:
        """Like :meth:`map`, each item being the positional arguments of one call."""
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        for item in _items(items, "starmap"):
            if isinstance(item, str | bytes) or not isinstance(item, Iterable):
                raise UsageError(
                    f"starmap() needs an iterable of argument tuples, got item {item!r}; "
                    f"pass e.g. [(a, b), (c, d)], or use map() for one argument per call"
                )
            calls.append((tuple(item), {}))
        return await self._run(calls, on_error, min_successes, deadline, reduce)

    @overload
    def as_completed(
        self,
        items: Iterable[Any],
        *,
        on_error: Literal["raise", "skip"] = ...,
        deadline: float | None = ...,
    ) -> AsyncGenerator[tuple[int, R], None]: ...
    @overload
    def as_completed(
        self,
        items: Iterable[Any],
        *,
        on_error: Literal["collect"],
        deadline: float | None = ...,
    ) -> AsyncGenerator[tuple[int, Outcome[R]], None]: ...
    def as_completed(
        self,
        items: Iterable[Any],
        *,
        on_error: OnError = "raise",
        deadline: float | None = None,
    ) -> AsyncGenerator[tuple[int, Any], None]:
        """Yield ``(index, result)`` as calls finish, fastest first.

        Leaving the loop early cancels the calls still running once the iterator is closed:
        use ``async with contextlib.aclosing(f.as_completed(xs)) as it:`` when you may
        ``break``, so that this happens at once rather than when the iterator is collected.
        No fan-in span is recorded: the caller does the combining.
        """
        check_policy(on_error, None)
        checked = check_timeout("deadline", deadline)
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
        calls = [((item,), {}) for item in _items(items, "as_completed")]
        return self._as_completed(calls, on_error, checked)

    async def _as_completed(
        self,
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
        on_error: OnError,
        deadline: float | None,
    ) -> AsyncGenerator[tuple[int, Any], None]:
        with self._fanout(len(calls), on_error, None, deadline) as fo:
            async with contextlib.aclosing(fo.iterate(self._jobs(calls))) as outcomes:
                async for outcome in outcomes:
                    if on_error == "collect":
                        yield outcome.index, outcome
                    elif outcome.ok:
                        yield outcome.index, outcome.value


@overload
def parallel(fn: Callable[P, Coroutine[Any, Any, R]], /) -> ParallelFunction[P, R]: ...
@overload
def parallel(
    *,
    max_concurrency: int | None = None,
    limiter: Limiter | None = None,
    rate: RateLimit | float | None = None,
    retry: Retry | int | None = None,
    timeout: float | None = None,
    name: str | None = None,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], ParallelFunction[P, R]]: ...
def parallel(
    fn: Callable[P, Coroutine[Any, Any, R]] | None = None,
    /,
    *,
    max_concurrency: int | None = None,
    limiter: Limiter | None = None,
    rate: RateLimit | float | None = None,
    retry: Retry | int | None = None,
    timeout: float | None = None,
    name: str | None = None,
) -> (
    ParallelFunction[P, R] | Callable[[Callable[P, Coroutine[Any, Any, R]]], ParallelFunction[P, R]]
):
    """Make an ``async def`` a bounded, traced function that can fan out.

    Args:
        max_concurrency: calls of this function in flight at once, program-wide (per event
            loop); ``None`` for no cap of its own.
        limiter: a :class:`~fanscope.Limiter` shared with other functions (e.g. every call
            to one provider); applies on top of ``max_concurrency``.
        rate: requests per second (a number) or a :class:`~fanscope.sdk.limits.RateLimit`.
        retry: a :class:`~fanscope.Retry`, or a number of attempts.
        timeout: seconds per attempt (waiting for a slot does not count).
        name: the span name (default: the function's ``__name__``).

    Example::

        @parallel(max_concurrency=8, retry=Retry(attempts=4), timeout=30)
        async def summarize(doc: str) -> str: ...

        many = await summarize.map(docs)

    .. versionadded:: 0.1
    """
    if isinstance(retry, int) and not isinstance(retry, bool):
        retry = Retry(attempts=retry)
    if retry is not None and not isinstance(retry, Retry):
        raise ConfigurationError(
            "retry must be a Retry or a number of attempts", retry, "e.g. retry=Retry(attempts=4)"
        )
    if limiter is not None and not isinstance(limiter, Limiter):
        raise UsageError(
            f"limiter must be a fanscope.Limiter, got {limiter!r}; "
            f"create one with fanscope.Limiter(max_concurrency=16, name='provider')"
        )
    checked_timeout = check_timeout("timeout", timeout)

    def decorate(f: Callable[P, Coroutine[Any, Any, R]]) -> ParallelFunction[P, R]:
        require_async(f, "@parallel")
        own_name = name or str(getattr(f, "__name__", "call"))
        limiters: list[Limiter] = []
        if max_concurrency is not None or rate is not None:
            limiters.append(Limiter(max_concurrency, rate=rate, name=own_name))
        if limiter is not None:
            limiters.append(limiter)
        return ParallelFunction(
            f,
            limiters=tuple(limiters),
            retry=retry,
            timeout=checked_timeout,
            name=name,
        )

    if fn is not None:
        return decorate(fn)
    return decorate


# -- @traced ----------------------------------------------------------------------------------


@overload
def traced(fn: F, /) -> F: ...
@overload
def traced(*, name: str | None = None) -> Callable[[F], F]: ...
def traced(fn: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Trace an ordinary sequential step (sync or async) so the analyzer can see it.

    The step gets a span with ``fanscope.role = step`` and data-flow fingerprints of its
    arguments and return value; exceptions are recorded and re-raised.

    .. versionadded:: 0.1
    """

    def decorate(f: F) -> F:
        if not callable(f):
            raise UsageError(f"@traced decorates a function, got {f!r}")
        span_name = name or str(getattr(f, "__name__", "step"))
        function = qualified_name(f)

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> trace.Span:
            span = tracer().start_span(
                span_name, attributes={A.ROLE: A.ROLE_STEP, A.FUNCTION: function}
            )
            if span.is_recording() and fingerprint.is_enabled() and (args or kwargs):
                prints = fingerprint.inputs_of(args, kwargs, scalars=True)
                set_dataflow(span, A.DATAFLOW_INPUTS, prints)
            return span

        def finish(span: trace.Span, value: Any) -> None:
            if span.is_recording() and fingerprint.is_enabled():
                set_dataflow(span, A.DATAFLOW_OUTPUTS, fingerprint.outputs_of(value, scalars=True))

        if inspect.iscoroutinefunction(f):

            @functools.wraps(f)
            async def async_step(*args: Any, **kwargs: Any) -> Any:
                span = start(args, kwargs)
                with trace.use_span(
                    span, end_on_exit=True, record_exception=False, set_status_on_exception=False
                ):
                    try:
                        value = await f(*args, **kwargs)
                    except Exception as exc:
                        record_error(span, exc)
                        raise
                    finish(span, value)
                    return value

            return async_step  # type: ignore[return-value]

        @functools.wraps(f)
        def step(*args: Any, **kwargs: Any) -> Any:
            span = start(args, kwargs)
            with trace.use_span(
                span, end_on_exit=True, record_exception=False, set_status_on_exception=False
            ):
                try:
                    value = f(*args, **kwargs)
                except Exception as exc:
                    record_error(span, exc)
                    raise
                finish(span, value)
                return value

        return step  # type: ignore[return-value]

    if fn is not None:
        return decorate(fn)
    return decorate
