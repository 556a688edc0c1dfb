"""``@parallel`` and ``@traced``: the decorators users put on their own functions.

``@parallel`` turns a function into a bounded, traced one: ``await f(x)`` (or ``f(x)`` for a
plain ``def``) is one call under the function's cap; ``f.map(xs)`` fans out over ``xs``.
``@traced`` marks an ordinary sequential step so the analyzer can see it (and the data
flowing into it).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Literal, ParamSpec, TypeVar, overload

from opentelemetry import trace

from fanscope.errors import ConfigurationError, UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, cost, fingerprint

# loaded with the decorators: the first fanscope.gather() in a traced step must not count
# this import in the step's own time (as when gather lived in the runtime module)
from fanscope.sdk import gather as _gather  # noqa: F401
from fanscope.sdk.arguments import check_name, checked
from fanscope.sdk.branch import check_timeout
from fanscope.sdk.budget import Budget
from fanscope.sdk.checks import binding_of, check_target, qualified_name
from fanscope.sdk.hedge import Hedge
from fanscope.sdk.limits import Limiter, RateLimit
from fanscope.sdk.parallel import ParallelFunction
from fanscope.sdk.retry import Retry
from fanscope.sdk.sync_parallel import SyncParallelFunction
from fanscope.sdk.tracing import record_error, set_dataflow, tracer

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
F = TypeVar("F", bound=Callable[..., Any])
# an async def's own type, kept whole: rebuilding it as Coroutine[Any, Any, R] would make its
# calls' types contain an explicit Any, which stops mypy from choosing gather's per-position
# overloads
AsyncF = TypeVar("AsyncF", bound=Callable[..., Coroutine[Any, Any, Any]])


# options of each fan-out, not of the function: said where they belong when given to @parallel
PER_FAN_OUT = {
    word: f"it is an option of each fan-out; pass it to the call, e.g. f.map(items, {word}=...) "
    f"or fanscope.gather(..., {word}=...)"
    for word in ("on_error", "min_successes", "deadline", "reduce")
}


@overload
def parallel(fn: AsyncF, /) -> ParallelFunction[AsyncF]: ...  # type: ignore[overload-overlap]
@overload
def parallel(  # type: ignore[overload-overlap]
    fn: staticmethod[P, Coroutine[Any, Any, R]], /
) -> ParallelFunction[Callable[P, Coroutine[Any, Any, R]]]: ...
@overload
def parallel(fn: staticmethod[P, R], /) -> SyncParallelFunction[Callable[P, R]]: ...
@overload
def parallel(fn: Callable[P, R], /) -> SyncParallelFunction[Callable[P, R]]: ...
@overload
def parallel(
    *,
    max_concurrency: int | Literal["auto"] | None = None,
    limiter: Limiter | None = None,
    rate: RateLimit | float | None = None,
    retry: Retry | int | None = None,
    timeout: float | None = None,
    name: str | None = None,
    budget: Budget | None = None,
    hedge: Hedge | None = None,
) -> ParallelDecorator: ...


@checked("@parallel", elsewhere=PER_FAN_OUT)
def parallel(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    max_concurrency: int | Literal["auto"] | None = None,
    limiter: Limiter | None = None,
    rate: RateLimit | float | None = None,
    retry: Retry | int | None = None,
    timeout: float | None = None,
    name: str | None = None,
    budget: Budget | None = None,
    hedge: Hedge | None = None,
) -> Any:
    """Make a function bounded and traced, and able to fan out.

    On an ``async def``: ``await f(x)``, ``await f.map(xs)``. On a plain ``def``: ``f(x)``,
    ``f.map(xs)`` from sync code, the calls of a fan-out on threads it owns (as many as the
    cap), and ``await f.aio.map(xs)`` from async code. Both share every option below.

    Args:
        max_concurrency: calls of this function in flight at once, program-wide (across
            event loops and threads); ``"auto"`` to learn it from the provider's answers
            (docs/limits.md); ``None`` for no cap of its own.
        limiter: a :class:`~fanscope.Limiter` shared with other functions (e.g. every call
            to one provider); applies on top of ``max_concurrency``.
        rate: requests per second (a number) or a :class:`~fanscope.sdk.limits.RateLimit`.
        retry: a :class:`~fanscope.Retry`, or a number of attempts.
        timeout: seconds per attempt (waiting for a slot does not count). A sync attempt
            that overruns it is abandoned: its thread finishes the call in the background.
        name: the span name (default: the function's ``__name__``).
        budget: a :func:`fanscope.budget`; each call (each fan-out, each lone call) runs under
            a fresh pot of that size, inside any budget that encloses it.
        hedge: a :class:`~fanscope.Hedge`: an attempt still running after its call site's
            usual latency gets a second attempt, the first answer wins (docs/hedging.md).

    Example::

        @parallel(max_concurrency=8, retry=Retry(attempts=4), timeout=30)
        async def summarize(doc: str) -> str: ...

        many = await summarize.map(docs)

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 plain ``def`` functions (the thread path).
    """
    check_name("@parallel", name)
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
    if budget is not None and not isinstance(budget, Budget):
        raise UsageError(
            f"budget must be a fanscope.budget(...), got {budget!r}; "
            f"e.g. budget=fanscope.budget(usd=0.50)"
        )

    if hedge is not None and not isinstance(hedge, Hedge):
        raise UsageError(
            f"hedge must be a fanscope.Hedge(...), got {hedge!r}; e.g. hedge=fanscope.Hedge('p95')"
        )

    def decorate(f: Callable[..., Any]) -> Any:
        binding = binding_of(f)
        if binding:  # @parallel over @staticmethod / @classmethod: bind as they would
            made = decorate(f.__func__)  # type: ignore[attr-defined]
            (made.aio if isinstance(made, SyncParallelFunction) else made)._binding = binding
            return made
        blocking = check_target(f, "@parallel")
        own_name = name or str(getattr(f, "__name__", "call"))
        limiters: list[Limiter] = []
        if max_concurrency is not None or rate is not None:
            limiters.append(Limiter(max_concurrency, rate=rate, name=own_name))
        if limiter is not None:
            limiters.append(limiter)
        made = ParallelFunction(
            f,
            limiters=tuple(limiters),
            retry=retry,
            timeout=checked_timeout,
            name=name,
            budget=budget,
            hedge=hedge,
        )
        return SyncParallelFunction(made) if blocking else made

    if fn is not None:
        return decorate(fn)
    return ParallelDecorator(decorate)


class ParallelDecorator:
    """What ``@parallel(...)`` with options returns: the decorator for one function."""

    def __init__(self, decorate: Callable[[Callable[..., Any]], Any]) -> None:
        self._decorate = decorate

    @overload
    def __call__(self, fn: AsyncF, /) -> ParallelFunction[AsyncF]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: staticmethod[P, Coroutine[Any, Any, R]], /
    ) -> ParallelFunction[Callable[P, Coroutine[Any, Any, R]]]: ...
    @overload
    def __call__(self, fn: staticmethod[P, R], /) -> SyncParallelFunction[Callable[P, R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> SyncParallelFunction[Callable[P, R]]: ...
    def __call__(self, fn: Callable[..., Any], /) -> Any:
        return self._decorate(fn)


# -- @traced ----------------------------------------------------------------------------------


@overload
def traced(fn: F, /) -> F: ...
@overload
def traced(*, name: str | None = None) -> Callable[[F], F]: ...
@checked("@traced")
def traced(fn: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Trace an ordinary sequential step (sync or async) so the analyzer can see it.

    The step gets a span with ``fanscope.role = step`` and data-flow fingerprints of its
    arguments and return value; exceptions are recorded and re-raised.

    .. versionadded:: 0.1
    """
    check_name("@traced", name)

    def decorate(f: F) -> F:
        if binding_of(f):  # @traced over @staticmethod / @classmethod: trace the function
            return type(f)(decorate(f.__func__))  # type: ignore[attr-defined, misc, no-any-return]
        if not callable(f):
            raise UsageError(f"@traced decorates a function, got {f!r}")
        span_name = name or str(getattr(f, "__name__", "step"))
        function = qualified_name(f)
        code = callsite.code_of(f)

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> trace.Span:
            attributes = {A.ROLE: A.ROLE_STEP, A.FUNCTION: function, **callsite.here()}
            span = tracer().start_span(span_name, attributes=attributes)
            callsite.enter(span, code)  # calls inside the step are placed in its function
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
                with (
                    trace.use_span(
                        span,
                        end_on_exit=True,
                        record_exception=False,
                        set_status_on_exception=False,
                    ),
                    cost.tallied(span),
                ):
                    try:
                        value = await f(*args, **kwargs)
                    except Exception as exc:
                        record_error(span, exc)
                        raise
                    finally:
                        callsite.leave(span)
                    finish(span, value)
                    return value

            return async_step  # type: ignore[return-value]

        @functools.wraps(f)
        def step(*args: Any, **kwargs: Any) -> Any:
            span = start(args, kwargs)
            with (
                trace.use_span(
                    span, end_on_exit=True, record_exception=False, set_status_on_exception=False
                ),
                cost.tallied(span),
            ):
                try:
                    value = f(*args, **kwargs)
                except Exception as exc:
                    record_error(span, exc)
                    raise
                finally:
                    callsite.leave(span)
                finish(span, value)
                return value

        return step  # type: ignore[return-value]

    if fn is not None:
        return decorate(fn)
    return decorate
