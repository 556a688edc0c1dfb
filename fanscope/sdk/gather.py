"""``fanscope.gather``: sectioning, different independent sub-tasks run as one traced fan-out.

    answers = await fanscope.gather(news=search_news(q), filings=fetch_filings(q))
    answers.news

Each awaitable is one branch. A call of a ``@parallel`` function passed in runs as the
branch itself (one span, under that function's cap, retry and timeout) rather than as a
branch that awaits a second, nested one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypedDict, TypeVar, Unpack, overload

from fanscope.errors import UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite
from fanscope.sdk.arguments import check_name
from fanscope.sdk.branch import CallPolicy, Job, check_timeout, lone_call
from fanscope.sdk.checks import check_target, qualified_name
from fanscope.sdk.fanout import FanOut, combine
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Outcome, Results
from fanscope.sdk.parallel import ParallelFunction
from fanscope.sdk.policy import OnError, check_policy, check_reduce
from fanscope.sdk.sync_parallel import SyncParallelFunction
from fanscope.sdk.thread_fanout import ThreadFanOut, collect, reduce_sync

T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")
# the branches of a gather typed as a whole (Results): a type variable, not Any, so that an
# argument whose type contains Any still picks a per-position overload above under mypy
_A = TypeVar("_A")


def _call_job_of(
    aw: object, index: int, name: str | None, extra: tuple[Limiter, ...]
) -> Job | None:
    """The job inside a not-yet-started ``lone_call`` coroutine, which is then closed.

    ``fanscope.gather(news=search_news(q))`` receives the coroutine of a ``@parallel``
    call; running it as the gather's branch itself (instead of a branch that awaits a
    second, nested branch) keeps one span per branch with the function's cap and retry.
    """
    if not inspect.iscoroutine(aw) or aw.cr_code is not lone_call.__code__:
        return None
    if inspect.getcoroutinestate(aw) != inspect.CORO_CREATED or aw.cr_frame is None:
        return None
    local = aw.cr_frame.f_locals
    policy: CallPolicy = local["policy"]
    fn, args, kwargs = local["fn"], local["args"], local["kwargs"]
    aw.close()
    if name is not None:
        policy = replace(policy, span_name=name)
    policy = replace(policy, limiters=(*extra, *policy.limiters))
    return Job(
        policy, lambda: fn(*args, **kwargs), index=index, name=name, args=args, kwargs=kwargs
    )


def _close_all(aws: Sequence[object]) -> None:
    for aw in aws:
        close = getattr(aw, "close", None)
        if inspect.iscoroutine(aw) and callable(close):
            close()


def _blocking_job(fn: object, index: int, name: str | None, limiters: tuple[Limiter, ...]) -> Job:
    """A branch of a sync gather: a callable run on one of the gather's threads.

    A ``@parallel`` sync function (or a ``functools.partial`` of one) runs as the branch
    itself, under that function's cap, retry and timeout.
    """
    label = f"'{name}'" if name is not None else f"#{index}"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    target = fn
    if isinstance(fn, functools.partial):
        target, args, kwargs = fn.func, fn.args, dict(fn.keywords)
    if isinstance(target, SyncParallelFunction):
        aio: ParallelFunction[Any] = target.aio
        policy = replace(aio.policy, limiters=(*limiters, *aio.policy.limiters))
        call = aio._fn
    elif not check_target(fn, f"gather() branch {label}"):
        raise UsageError(
            f"gather() branch {label} is an async function ({fn!r}); in async code pass a "
            f"call and await: news=search_news(q); in sync code pass plain functions"
        )
    else:
        short = str(getattr(fn, "__name__", None) or "branch")
        code = callsite.code_of(fn)
        policy = CallPolicy(
            span_name=short, function=qualified_name(fn), limiters=limiters, code=code
        )
        call, args, kwargs = fn, (), {}  # type: ignore[assignment]
    if name is not None:
        policy = replace(policy, span_name=name)
    run = functools.partial(_not_awaitable, call, label, *args, **kwargs)
    return Job(policy, run, index=index, name=name, args=args, kwargs=kwargs)


def _not_awaitable(fn: Callable[..., Any], label: str, /, *args: Any, **kwargs: Any) -> Any:
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        _close_all([value])
        raise UsageError(
            f"gather() branch {label} returned an awaitable ({value!r}); in sync code pass "
            f"plain functions, in async code pass calls and await gather(...)"
        )
    return value


def _gather_job(
    aw: object,
    index: int,
    name: str | None,
    limiters: tuple[Limiter, ...],
    blocking: bool,
) -> Job:
    if blocking:
        return _blocking_job(aw, index, name, limiters)
    job = _call_job_of(aw, index, name, limiters)
    if job is not None:
        return job
    if not inspect.isawaitable(aw):
        label = f"'{name}'" if name is not None else f"#{index}"
        raise UsageError(
            f"gather() branch {label} is not awaitable (got {aw!r}); pass a call, "
            f"e.g. news=search_news(q), not the function itself (in sync code, pass only "
            f"functions: news=lambda: search_news(q))"
        )
    span_name = (
        name or getattr(aw, "__qualname__", None) or getattr(aw, "__name__", None) or "branch"
    )
    code = getattr(aw, "cr_code", None)  # a coroutine: its calls are placed in its function
    policy = CallPolicy(span_name=str(span_name).split(".")[-1], limiters=limiters, code=code)
    awaitable: Awaitable[Any] = aw
    return Job(policy, lambda: awaitable, index=index, name=name, once=True)


class _PositionalOptions(TypedDict, total=False):
    """The options a positional ``gather`` typed per position takes (no ``reduce``, no named
    branches; ``on_error`` only ``"raise"``, the default, so every result is a value)."""

    name: str | None
    max_concurrency: int | None
    on_error: Literal["raise"]
    deadline: float | None


# Positional gathers of up to six branches are typed per position, as typeshed types
# asyncio.gather: ``a, b = await gather(f(x), g(y))`` gives ``a`` the type of ``f``'s result.
# The rest (named branches, collect/skip, reduce, more branches) returns ``Results``.
@overload
def gather(
    a1: Awaitable[T1], /, **options: Unpack[_PositionalOptions]
) -> Coroutine[Any, Any, tuple[T1]]: ...
@overload
def gather(
    a1: Awaitable[T1], a2: Awaitable[T2], /, **options: Unpack[_PositionalOptions]
) -> Coroutine[Any, Any, tuple[T1, T2]]: ...
@overload
def gather(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    /,
    **options: Unpack[_PositionalOptions],
) -> Coroutine[Any, Any, tuple[T1, T2, T3]]: ...
@overload
def gather(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    a4: Awaitable[T4],
    /,
    **options: Unpack[_PositionalOptions],
) -> Coroutine[Any, Any, tuple[T1, T2, T3, T4]]: ...
@overload
def gather(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    a4: Awaitable[T4],
    a5: Awaitable[T5],
    /,
    **options: Unpack[_PositionalOptions],
) -> Coroutine[Any, Any, tuple[T1, T2, T3, T4, T5]]: ...
@overload
def gather(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    a4: Awaitable[T4],
    a5: Awaitable[T5],
    a6: Awaitable[T6],
    /,
    **options: Unpack[_PositionalOptions],
) -> Coroutine[Any, Any, tuple[T1, T2, T3, T4, T5, T6]]: ...
@overload
def gather(f1: Callable[[], T1], /, **options: Unpack[_PositionalOptions]) -> tuple[T1]: ...
@overload
def gather(
    f1: Callable[[], T1], f2: Callable[[], T2], /, **options: Unpack[_PositionalOptions]
) -> tuple[T1, T2]: ...
@overload
def gather(
    f1: Callable[[], T1],
    f2: Callable[[], T2],
    f3: Callable[[], T3],
    /,
    **options: Unpack[_PositionalOptions],
) -> tuple[T1, T2, T3]: ...
@overload
def gather(
    f1: Callable[[], T1],
    f2: Callable[[], T2],
    f3: Callable[[], T3],
    f4: Callable[[], T4],
    /,
    **options: Unpack[_PositionalOptions],
) -> tuple[T1, T2, T3, T4]: ...
@overload
def gather(
    f1: Callable[[], T1],
    f2: Callable[[], T2],
    f3: Callable[[], T3],
    f4: Callable[[], T4],
    f5: Callable[[], T5],
    /,
    **options: Unpack[_PositionalOptions],
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
def gather(
    f1: Callable[[], T1],
    f2: Callable[[], T2],
    f3: Callable[[], T3],
    f4: Callable[[], T4],
    f5: Callable[[], T5],
    f6: Callable[[], T6],
    /,
    **options: Unpack[_PositionalOptions],
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
def gather(
    *aws: Awaitable[_A],
    name: str | None = ...,
    max_concurrency: int | None = ...,
    on_error: OnError = ...,
    min_successes: int | None = ...,
    deadline: float | None = ...,
    reduce: None = ...,
    **named_aws: Awaitable[_A],
) -> Coroutine[Any, Any, Results]: ...
@overload
def gather(
    *aws: Awaitable[_A],
    name: str | None = ...,
    max_concurrency: int | None = ...,
    on_error: OnError = ...,
    min_successes: int | None = ...,
    deadline: float | None = ...,
    reduce: Callable[[Results], Awaitable[T]] | Callable[[Results], T],
    **named_aws: Awaitable[_A],
) -> Coroutine[Any, Any, T]: ...
@overload
def gather(
    *fns: Callable[[], _A],
    name: str | None = ...,
    max_concurrency: int | None = ...,
    on_error: OnError = ...,
    min_successes: int | None = ...,
    deadline: float | None = ...,
    reduce: None = ...,
    **named_fns: Callable[[], _A],
) -> Results: ...
@overload
def gather(
    *fns: Callable[[], _A],
    name: str | None = ...,
    max_concurrency: int | None = ...,
    on_error: OnError = ...,
    min_successes: int | None = ...,
    deadline: float | None = ...,
    reduce: Callable[[Results], T],
    **named_fns: Callable[[], _A],
) -> T: ...
def gather(
    *aws: Any,
    name: str | None = None,
    max_concurrency: int | None = None,
    on_error: OnError = "raise",
    min_successes: int | None = None,
    deadline: float | None = None,
    reduce: Callable[[Results], Any] | None = None,
    **named_aws: Any,
) -> Any:
    """Run different independent sub-tasks at once (sectioning), as one traced fan-out.

    In async code pass calls (awaitables) and await the result; in sync code pass plain
    functions (``news=lambda: search_news(q)``, or ``functools.partial(search_news, q)``,
    which runs a ``@parallel`` function's call as the branch itself): they run on threads
    the gather owns, and the :class:`Results` are returned directly.

    Args:
        *aws: awaitables (or functions, in sync code), results by position.
        **named_aws: the same by name; their results are available as ``answers.news``
            and their branch spans are named after them. The keywords below are reserved.
        name: a name for the fan-out span (``gather {name}``).
        max_concurrency: a cap on the branches of this call (each ``@parallel`` call
            passed in is also bounded by its own function's cap).
        on_error: ``raise`` (the first failure cancels the rest and raises
            :class:`FanoutError`), ``collect`` (results are :class:`Outcome` objects) or
            ``skip`` (a failed branch's result is ``None``).
        min_successes: with ``collect`` or ``skip``: fail with
            :class:`NotEnoughSuccesses` when fewer branches can succeed.
        deadline: seconds for the whole gather; branches still running then end with
            :class:`DeadlineExceeded`.
        reduce: combines the :class:`Results` inside the fan-in span (sync or async).

    Returns:
        :class:`Results` (or what ``reduce`` returns).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 functions from sync code, on threads.
    """
    every = [*aws, *named_aws.values()]
    labels = [f"#{i}" for i in range(len(aws))] + [repr(n) for n in named_aws]
    for label, branch in zip(labels, every, strict=True):
        if not callable(branch) and not inspect.isawaitable(branch):  # now, not when awaited
            _close_all(every)
            _refuse_misspelt_option(label, branch)
            raise UsageError(
                f"gather() branch {label} is neither a call to await nor a function (got "
                f"{branch!r:.60}); in async code pass calls: news=search_news(q), in sync code "
                f"functions: news=lambda: search_news(q)"
            )
        if _async_parallel(branch):  # the others are refused where their job is made
            _close_all(every)
            raise UsageError(
                f"gather() branch {label} is an async function ({branch!r:.80}); in async code "
                f"pass a call and await: news=search_news(q); in sync code pass plain functions"
            )
    check_reduce(reduce)
    check_name("gather()", name)
    blocking = bool(every) and all(callable(b) and not inspect.isawaitable(b) for b in every)
    options = _Options(name, max_concurrency, on_error, min_successes, deadline, reduce)
    if blocking:
        return _gather_on_threads(aws, named_aws, options)
    return _gather(aws, named_aws, options)


_OPTIONS = ("name", "max_concurrency", "on_error", "min_successes", "deadline", "reduce")


def _refuse_misspelt_option(label: str, value: object) -> None:
    """A named branch that is no branch and is spelt like an option (``on_eror='skip'``)."""
    import difflib  # the error path only

    word = label.strip("'")
    near = difflib.get_close_matches(word, _OPTIONS, n=1, cutoff=0.75)
    if label.startswith("'") and near:
        raise UsageError(
            f"gather() has no option {word}=; did you mean {near[0]}=? (a named argument that "
            f"is not an option is a branch, and {value!r:.40} is neither a call nor a function)"
        )


def _async_parallel(branch: object) -> bool:
    """The ``@parallel`` face of an ``async def`` (or a partial of it), passed uncalled: on a
    thread it would only make a coroutine."""
    target = branch.func if isinstance(branch, functools.partial) else branch
    return isinstance(target, ParallelFunction)


@dataclass(frozen=True, slots=True)
class _Options:
    name: str | None
    max_concurrency: int | None
    on_error: OnError
    min_successes: int | None
    deadline: float | None
    reduce: Callable[[Results], Any] | None


def _sections(
    aws: tuple[Any, ...], named_aws: dict[str, Any], o: _Options, *, blocking: bool
) -> tuple[list[Job], list[str | None], FanOut]:
    """Check a gather's options and make its branches and fan-out (both faces)."""
    every = [*aws, *named_aws.values()]
    try:
        check_policy(o.on_error, o.min_successes)
        deadline = check_timeout("deadline", o.deadline)
        limiters: tuple[Limiter, ...] = ()
        if o.max_concurrency is not None:  # none made (and checked) for nothing on each call
            name = f"gather {o.name}" if o.name else "gather"
            limiters = (Limiter(o.max_concurrency, name=name),)
        names: list[str | None] = [None] * len(aws) + list(named_aws)
        jobs = [
            _gather_job(aw, i, n, limiters, blocking)
            for i, (aw, n) in enumerate(zip(every, names, strict=True))
        ]
    except BaseException:
        _close_all(every)
        raise
    fanout = FanOut(
        f"gather {o.name}" if o.name else "gather",
        A.KIND_SECTION,
        size=len(jobs),
        max_concurrency=o.max_concurrency,
        on_error=o.on_error,
        min_successes=o.min_successes,
        deadline=deadline,
    )
    return jobs, names, fanout


def _results(outcomes: list[Outcome[Any]], names: list[str | None], on_error: OnError) -> Results:
    if on_error == "collect":
        return Results(outcomes, names)
    return Results([o.value if o.ok else None for o in outcomes], names)


async def _gather(aws: tuple[Any, ...], named_aws: dict[str, Any], o: _Options) -> Any:
    jobs, names, fanout = _sections(aws, named_aws, o, blocking=False)
    with fanout as fo:
        outcomes = await fo.run(jobs)
        with fo.fan_in(f"fan-in {fo.span_name}"):
            return await combine(o.reduce, _results(outcomes, names, o.on_error))


def _gather_on_threads(aws: tuple[Any, ...], named_aws: dict[str, Any], o: _Options) -> Any:
    """A gather of functions from sync code: each on a thread of its own (at most the cap)."""
    jobs, names, fanout = _sections(aws, named_aws, o, blocking=True)
    with fanout as fo:
        fan = ThreadFanOut(fo, jobs, threads=o.max_concurrency, name="gather")
        outcomes = collect(fan.iterate(), "collect", len(jobs))
        with fo.fan_in(f"fan-in {fo.span_name}"):
            return reduce_sync(o.reduce, _results(outcomes, names, o.on_error))
