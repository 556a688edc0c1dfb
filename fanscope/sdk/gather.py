"""``fanscope.gather``: sectioning, different independent sub-tasks run as one traced fan-out.

    answers = await fanscope.gather(news=search_news(q), filings=fetch_filings(q))
    answers.news

Each awaitable is one branch. A call of a ``@parallel`` function passed in runs as the
branch itself (one span, under that function's cap, retry and timeout) rather than as a
branch that awaits a second, nested one.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar, overload

from fanscope.errors import UsageError
from fanscope.sdk import attributes as A
from fanscope.sdk.branch import CallPolicy, Job, check_timeout, lone_call
from fanscope.sdk.fanout import FanOut, combine
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Results
from fanscope.sdk.policy import OnError, check_policy

T = TypeVar("T")


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


def _gather_job(aw: object, index: int, name: str | None, limiters: tuple[Limiter, ...]) -> Job:
    job = _call_job_of(aw, index, name, limiters)
    if job is not None:
        return job
    if not inspect.isawaitable(aw):
        label = f"'{name}'" if name is not None else f"#{index}"
        raise UsageError(
            f"gather() branch {label} is not awaitable (got {aw!r}); pass a call, "
            f"e.g. news=search_news(q), not the function itself"
        )
    span_name = (
        name or getattr(aw, "__qualname__", None) or getattr(aw, "__name__", None) or "branch"
    )
    policy = CallPolicy(span_name=str(span_name).split(".")[-1], limiters=limiters)
    awaitable: Awaitable[Any] = aw
    return Job(policy, lambda: awaitable, index=index, name=name, once=True)


@overload
async def gather(
    *aws: Awaitable[Any],
    name: str | None = ...,
    max_concurrency: int | None = ...,
    on_error: OnError = ...,
    min_successes: int | None = ...,
    deadline: float | None = ...,
    reduce: None = ...,
    **named_aws: Awaitable[Any],
) -> Results: ...
@overload
async def gather(
    *aws: Awaitable[Any],
    name: str | None = ...,
    max_concurrency: int | None = ...,
    on_error: OnError = ...,
    min_successes: int | None = ...,
    deadline: float | None = ...,
    reduce: Callable[[Results], Awaitable[T]] | Callable[[Results], T],
    **named_aws: Awaitable[Any],
) -> T: ...
async def gather(
    *aws: Awaitable[Any],
    name: str | None = None,
    max_concurrency: int | None = None,
    on_error: OnError = "raise",
    min_successes: int | None = None,
    deadline: float | None = None,
    reduce: Callable[[Results], Any] | None = None,
    **named_aws: Awaitable[Any],
) -> Any:
    """Run different independent sub-tasks at once (sectioning), as one traced fan-out.

    Args:
        *aws: awaitables, results by position.
        **named_aws: awaitables by name; their results are available as ``answers.news``
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
    """
    every = [*aws, *named_aws.values()]
    try:
        check_policy(on_error, min_successes)
        deadline = check_timeout("deadline", deadline)
        cap = Limiter(max_concurrency, name=f"gather {name}" if name else "gather")
        limiters = (cap,) if max_concurrency is not None else ()
        names: list[str | None] = [None] * len(aws) + list(named_aws)
        jobs = [
            _gather_job(aw, i, n, limiters)
            for i, (aw, n) in enumerate(zip(every, names, strict=True))
        ]
    except BaseException:
        _close_all(every)
        raise
    span_name = f"gather {name}" if name else "gather"
    with FanOut(
        span_name,
        A.KIND_SECTION,
        size=len(jobs),
        max_concurrency=max_concurrency,
        on_error=on_error,
        min_successes=min_successes,
        deadline=deadline,
    ) as fo:
        outcomes = await fo.run(jobs)
        with fo.fan_in(f"fan-in {span_name}"):
            if on_error == "collect":
                values: list[Any] = list(outcomes)
            else:
                values = [o.value if o.ok else None for o in outcomes]
            return await combine(reduce, Results(values, names))
