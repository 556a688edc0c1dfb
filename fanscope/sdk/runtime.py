"""The fan-out runtime: branches, their limiters and retries, failure policies, and spans.

Three layers, each usable on its own by the decorators and by ``@vote``:

* :func:`run_branch` runs one unit of work under its limiters, retry policy and per-attempt
  timeout, inside a branch span, and returns an :class:`Outcome` (it re-raises
  cancellation, so a cancelled branch task really ends cancelled);
* :class:`FanOut` owns the fan-out span, starts one task per branch, applies the failure
  policy as outcomes arrive, and cancels and awaits every branch it started before it
  returns or raises: no task outlives its fan-out;
* :func:`gather` is sectioning: different awaitables, optionally named, run as one fan-out.

Parent/child links do not depend on the ambient context surviving task switches: every
branch span gets its fan-out's context explicitly, and the branch's own context is attached
inside its task, so work the branch starts (nested fan-outs, ``asyncio.to_thread``, the
anthropic client) nests under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.errors import (
    ConfigurationError,
    DeadlineExceeded,
    FanoutError,
    NotEnoughSuccesses,
    UsageError,
)
from fanscope.sdk import attributes as A
from fanscope.sdk import fingerprint
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Outcome, Results, Status
from fanscope.sdk.retry import Retry
from fanscope.sdk.tracing import error_type, record_error, tracer

OnError = Literal["raise", "collect", "skip"]
T = TypeVar("T")
_ON_ERROR = ("raise", "collect", "skip")


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How each attempt of a branch runs: limiters, retry, timeout, and what it is called."""

    span_name: str
    function: str | None = None
    limiters: tuple[Limiter, ...] = ()
    retry: Retry | None = None
    timeout: float | None = None

    @property
    def max_concurrency(self) -> int | None:
        """The tightest cap among the limiters (``None`` when unbounded)."""
        caps = [lim.max_concurrency for lim in self.limiters if lim.max_concurrency is not None]
        return min(caps) if caps else None


@dataclass(slots=True)
class Job:
    """One branch to run: a fresh awaitable per attempt, plus what to record about it."""

    policy: CallPolicy
    call: Callable[[], Awaitable[Any]]
    index: int | None = None
    name: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    once: bool = False  # a plain awaitable: it cannot be awaited twice, so it is never retried

    @property
    def label(self) -> str:
        if self.name is not None:
            return self.name
        if self.index is None:
            return self.policy.span_name
        return f"{self.policy.span_name}[{self.index}]"


def check_timeout(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"{name} must be a number of seconds > 0",
            value,
            f"pass e.g. {name}=30, or {name}=None for no limit",
        )
    return float(value)


def check_policy(on_error: str, min_successes: int | None) -> None:
    if on_error not in _ON_ERROR:
        raise ConfigurationError(
            "on_error must be 'raise', 'collect' or 'skip'", on_error, "e.g. on_error='collect'"
        )
    if min_successes is not None:
        if isinstance(min_successes, bool) or not isinstance(min_successes, int):
            raise ConfigurationError(
                "min_successes must be a whole number >= 1", min_successes, "e.g. min_successes=3"
            )
        if min_successes < 1:
            raise ConfigurationError(
                "min_successes must be >= 1", min_successes, "e.g. min_successes=3"
            )
        if on_error == "raise":
            raise ConfigurationError(
                "min_successes tolerates failures, but on_error='raise' fails on the first one",
                on_error,
                "use on_error='skip' (successful values) or 'collect' (every outcome)",
            )


# -- one branch -------------------------------------------------------------------------------


def _queue_span(parent: Context, reason: str, limiter: Limiter) -> Span:
    return tracer().start_span(
        "queue wait",
        context=parent,
        attributes={A.ROLE: A.ROLE_QUEUE, A.QUEUE_REASON: reason, A.QUEUE_LIMITER: limiter.name},
    )


async def _acquire_first(limiters: tuple[Limiter, ...]) -> tuple[float, str | None]:
    """Before the first attempt: take every limiter; return (seconds waited, limiter waited on).

    No span is open yet: the branch span starts once the slot is granted, so the wait shows
    as the gap before it (and as ``fanscope.queue.wait_s``) at no extra span per branch.
    """
    if len(limiters) == 1 and limiters[0].try_acquire():
        return 0.0, None  # the common case: one limiter with room, no coroutine needed
    started: float | None = None
    waited_on: str | None = None
    held: list[Limiter] = []
    try:
        for limiter in limiters:
            if limiter.wait_reason() == "cap":
                started = started if started is not None else time.monotonic()
                waited_on = limiter.name
            await limiter.acquire_slot()
            held.append(limiter)
        for limiter in limiters:
            delay = limiter.reserve_rate()
            if delay > 0:
                started = started if started is not None else time.monotonic()
                waited_on = limiter.name
                await asyncio.sleep(delay)
    except BaseException:
        for limiter in held:
            limiter.release()
        raise
    return (0.0 if started is None else time.monotonic() - started), waited_on


async def _acquire_again(limiters: tuple[Limiter, ...], ctx: Context, span: Span) -> float:
    """Before a retry: take every limiter again, each wait a ``queue wait`` child span."""
    started = time.monotonic()
    waited = False
    held: list[Limiter] = []
    try:
        for limiter in limiters:
            if limiter.wait_reason() == "cap":
                waited = True
                span.set_attribute(A.QUEUE_LIMITER, limiter.name)
                qspan = _queue_span(ctx, "cap", limiter)
                try:
                    await limiter.acquire_slot()
                finally:
                    qspan.end()
            else:
                await limiter.acquire_slot()
            held.append(limiter)
        for limiter in limiters:
            delay = limiter.reserve_rate()
            if delay > 0:
                waited = True
                span.set_attribute(A.QUEUE_LIMITER, limiter.name)
                qspan = _queue_span(ctx, "rate", limiter)
                try:
                    await asyncio.sleep(delay)
                finally:
                    qspan.end()
    except BaseException:
        for limiter in held:
            limiter.release()
        raise
    return time.monotonic() - started if waited else 0.0


async def _attempt(job: Job) -> Any:
    timeout = job.policy.timeout
    if timeout is None:
        return await job.call()
    async with asyncio.timeout(timeout):
        return await job.call()


def _branch_attrs(job: Job, kind: str | None, fingerprinted: bool) -> dict[str, Any]:
    """The branch's attributes known at its start; set together with the end ones.

    Setting every attribute in one call at the end costs the SDK about half of what passing
    some to ``start_span`` and the rest later does (span processors' ``on_start`` therefore
    sees no fanscope attributes on a branch).
    """
    policy = job.policy
    attrs: dict[str, Any] = {A.ROLE: A.ROLE_BRANCH}
    # kind, and a map's function, are read from the parent (conventions.md); gather and vote
    # branches may each call a different function (vote.among), so they carry their own
    if policy.function is not None and kind != A.KIND_MAP:
        attrs[A.FUNCTION] = policy.function
    if job.index is not None:
        attrs[A.BRANCH_INDEX] = job.index
    if job.name is not None:
        attrs[A.BRANCH_NAME] = job.name
    if policy.timeout is not None:
        attrs[A.BRANCH_TIMEOUT] = policy.timeout
    if kind is None and policy.max_concurrency is not None:
        attrs[A.BRANCH_MAX_CONCURRENCY] = policy.max_concurrency
    if fingerprinted and (job.args or job.kwargs) and fingerprint.is_enabled():
        prints = fingerprint.inputs_of(job.args, job.kwargs, scalars=kind != A.KIND_MAP)
        if prints:
            attrs[A.DATAFLOW_INPUTS] = prints
    return attrs


def _cancelled(span: Span, job: Job, reasons: Mapping[int, str] | None) -> str:
    """Record a cancellation on ``span``; return the outcome (``timeout`` for a deadline)."""
    reason = (reasons or {}).get(job.index if job.index is not None else -1) or "caller cancelled"
    status = A.OUTCOME_CANCELLED
    if reason == "deadline":
        status = A.OUTCOME_TIMEOUT
        record_error(span, DeadlineExceeded(job.label))
    if span.is_recording():
        span.set_attribute(A.CANCEL_REASON, reason)
    return status


async def run_branch(
    job: Job,
    *,
    parent: Context | None = None,
    kind: str | None = None,
    reasons: Mapping[int, str] | None = None,
) -> Outcome[Any]:
    """Run ``job`` as one branch span; return its outcome.

    Errors become an ``error``/``timeout`` outcome; cancellation is recorded on the span and
    re-raised. ``reasons`` maps a branch index to why its fan-out cancelled it.
    """
    policy = job.policy
    submitted = time.time_ns()
    try:
        if policy.limiters:
            waited, waited_on = await _acquire_first(policy.limiters)
        else:
            waited, waited_on = 0.0, None
    except asyncio.CancelledError:
        # cancelled while waiting in line: the branch span covers the wait it never finished
        span = tracer().start_span(policy.span_name, context=parent, start_time=submitted)
        ended = _cancelled(span, job, reasons)
        if span.is_recording():
            attrs = _branch_attrs(job, kind, True)
            attrs[A.BRANCH_OUTCOME] = ended
            attrs[A.BRANCH_ATTEMPTS] = 0
            attrs[A.QUEUE_WAIT] = (time.time_ns() - submitted) / 1e9
            span.set_attributes(attrs)
        span.end()
        raise
    span = tracer().start_span(policy.span_name, context=parent)
    recording = span.is_recording()
    attrs = _branch_attrs(job, kind, recording) if recording else {}
    if waited_on is not None:
        attrs[A.QUEUE_LIMITER] = waited_on
    ctx = trace.set_span_in_context(span, parent)
    token = otel_context.attach(ctx)
    attempts = 0
    status: str = A.OUTCOME_OK
    try:
        while True:
            attempts += 1
            if attempts > 1:
                waited += await _acquire_again(policy.limiters, ctx, span)
            try:
                value = await (_attempt(job) if policy.timeout is not None else job.call())
            except Exception as exc:
                decision = None
                if policy.retry is not None and not job.once:
                    decision = policy.retry.next_delay(attempts, exc)
                if decision is None:
                    failed: Status = "timeout" if isinstance(exc, TimeoutError) else "error"
                    status = failed
                    record_error(span, exc)
                    return Outcome(
                        job.index or 0, failed, error=exc, name=job.name, attempts=attempts
                    )
                delay, after = decision
                if recording:
                    event: dict[str, Any] = {
                        A.RETRY_ATTEMPT: attempts,
                        A.RETRY_DELAY: delay,
                        A.ERROR_TYPE: error_type(exc),
                    }
                    if after is not None:
                        event[A.RETRY_AFTER] = after
                    span.add_event(A.EVENT_RETRY, event)
                if after is not None:
                    for limiter in policy.limiters:
                        limiter.pause(after)
                await asyncio.sleep(delay)
                continue
            finally:
                for limiter in policy.limiters:
                    limiter.release()
            if recording and fingerprint.is_enabled():
                prints = fingerprint.outputs_of(value, scalars=kind != A.KIND_MAP)
                if prints:
                    attrs[A.DATAFLOW_OUTPUTS] = prints
            return Outcome(job.index or 0, "ok", value=value, name=job.name, attempts=attempts)
    except asyncio.CancelledError:
        status = _cancelled(span, job, reasons)
        raise
    except BaseException as exc:  # KeyboardInterrupt and friends: record, end, propagate
        status = A.OUTCOME_ERROR
        record_error(span, exc)
        raise
    finally:
        if recording:
            # attempts and wait are set only when they differ from 1 and 0 (like OTel's
            # http.request.resend_count): each attribute costs about a microsecond per branch
            attrs[A.BRANCH_OUTCOME] = status
            if attempts != 1:
                attrs[A.BRANCH_ATTEMPTS] = attempts
            if waited:
                attrs[A.QUEUE_WAIT] = waited
            span.set_attributes(attrs)
        otel_context.detach(token)
        span.end()


# -- a fan-out --------------------------------------------------------------------------------


def _index_of(
    by_task: Mapping[asyncio.Task[Outcome[Any]], Job],
) -> Callable[[asyncio.Task[Outcome[Any]]], int]:
    return lambda task: by_task[task].index or 0


async def _drain(tasks: set[asyncio.Task[Any]]) -> None:
    """Wait until every task is done, even if we are cancelled meanwhile (then re-raise)."""
    cancelled = False
    while tasks:
        try:
            await asyncio.wait(tasks)
            break
        except asyncio.CancelledError:
            cancelled = True
            for task in tasks:
                task.cancel()
    if cancelled:
        raise asyncio.CancelledError


class FanOut:
    """One fan-out: its span, its branches, its failure policy, and its fan-in.

    Use as a context manager around :meth:`iterate` (or :meth:`run`) and :meth:`fan_in`::

        with FanOut("map summarize", A.KIND_MAP, size=len(jobs)) as fo:
            outcomes = await fo.run(jobs)
            with fo.fan_in("fan-in summarize"):
                ...
    """

    def __init__(
        self,
        span_name: str,
        kind: str,
        *,
        size: int,
        function: str | None = None,
        max_concurrency: int | None = None,
        on_error: OnError = "raise",
        min_successes: int | None = None,
        deadline: float | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.span_name = span_name
        self.kind = kind
        self.size = size
        self.function = function
        self.on_error = on_error
        self.min_successes = min_successes
        self.deadline = deadline
        self.counts = {A.OUTCOME_OK: 0, "failed": 0, A.OUTCOME_CANCELLED: 0}
        attrs: dict[str, Any] = {
            A.ROLE: A.ROLE_FANOUT,
            A.KIND: kind,
            A.FANOUT_SIZE: size,
            A.FANOUT_ON_ERROR: on_error,
        }
        if function is not None:
            attrs[A.FUNCTION] = function
        if max_concurrency is not None:
            attrs[A.FANOUT_MAX_CONCURRENCY] = max_concurrency
        if min_successes is not None:
            attrs[A.FANOUT_MIN_SUCCESSES] = min_successes
        if deadline is not None:
            attrs[A.FANOUT_DEADLINE] = deadline
        attrs.update(attributes or {})
        self._attrs = attrs
        self._reasons: dict[int, str] = {}
        self.span: Span = trace.INVALID_SPAN
        self.context: Context = Context()

    def __enter__(self) -> FanOut:
        self.span = tracer().start_span(self.span_name, attributes=self._attrs)
        self.context = trace.set_span_in_context(self.span)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        span = self.span
        if span.is_recording():
            span.set_attributes(
                {
                    A.FANOUT_SUCCEEDED: self.counts[A.OUTCOME_OK],
                    A.FANOUT_FAILED: self.counts["failed"],
                    A.FANOUT_CANCELLED: self.counts[A.OUTCOME_CANCELLED],
                }
            )
            if exc is not None and not isinstance(exc, asyncio.CancelledError | GeneratorExit):
                record_error(span, exc)
        span.end()

    @contextmanager
    def fan_in(self, span_name: str | None = None) -> Iterator[Span]:
        """The fan-in span (join and combine), current while the block runs."""
        name = span_name or f"fan-in {self.span_name.split(' ', 1)[-1]}"
        attrs: dict[str, Any] = {A.ROLE: A.ROLE_FANIN, A.KIND: self.kind}
        if self.function is not None:
            attrs[A.FUNCTION] = self.function
        span = tracer().start_span(name, context=self.context, attributes=attrs)
        token = otel_context.attach(trace.set_span_in_context(span, self.context))
        try:
            yield span
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                record_error(span, exc)
            raise
        finally:
            otel_context.detach(token)
            span.end()

    def _what(self) -> str:
        return self.span_name

    async def iterate(
        self,
        jobs: Sequence[Job],
        *,
        stop_when: Callable[[Outcome[Any]], str | None] | None = None,
    ) -> AsyncGenerator[Outcome[Any], None]:
        """Run ``jobs`` as branches; yield their outcomes as they finish.

        Applies the failure policy as outcomes arrive (raising :class:`FanoutError` or
        :class:`NotEnoughSuccesses`), the deadline, and ``stop_when``: called with each
        outcome, it returns a reason to cancel the remaining branches (their cancelled
        outcomes are yielded too), or ``None`` to go on. Whatever way the iteration ends,
        every branch task has finished when it does; wrap it in ``contextlib.aclosing``
        so that leaving the loop early closes it at once.
        """
        reasons = self._reasons
        labels = {job.index: job.label for job in jobs}
        loop = asyncio.get_running_loop()
        # Completion is pushed by done-callbacks into a queue: asyncio.wait() re-registers a
        # callback on every pending task at each call, which is quadratic in the fan-out size.
        finished: deque[asyncio.Task[Outcome[Any]]] = deque()
        wake = asyncio.Event()

        def on_done(task: asyncio.Task[Outcome[Any]]) -> None:
            finished.append(task)
            wake.set()

        by_task: dict[asyncio.Task[Outcome[Any]], Job] = {}
        for job in jobs:
            task = loop.create_task(
                run_branch(job, parent=self.context, kind=self.kind, reasons=reasons)
            )
            task.add_done_callback(on_done)
            by_task[task] = job
        pending: set[asyncio.Task[Outcome[Any]]] = set(by_task)
        deadline_at = None if self.deadline is None else loop.time() + self.deadline
        failures: list[tuple[str, Exception]] = []
        successes = 0
        stop_reason = "fan-out closed"

        async def cancel_rest(reason: str) -> list[Outcome[Any]]:
            nonlocal pending
            for task in pending:
                idx = by_task[task].index
                reasons[idx if idx is not None else -1] = reason
                task.cancel()
            rest, pending = pending, set()
            await _drain(rest)
            finished.clear()  # everything in it was pending, and is settled below
            return [self._settle(t, by_task[t]) for t in sorted(rest, key=_index_of(by_task))]

        async def next_batch() -> list[Outcome[Any]]:
            nonlocal pending
            if not finished:
                wake.clear()
                if deadline_at is None:
                    await wake.wait()
                elif (remaining := deadline_at - loop.time()) > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(remaining):
                            await wake.wait()
            if not finished:
                return await cancel_rest("deadline")
            done = list(finished)
            finished.clear()
            pending.difference_update(done)
            return [self._settle(t, by_task[t]) for t in done]

        def failed(batch: Sequence[Outcome[Any]]) -> list[tuple[str, Exception]]:
            return [
                (labels.get(o.index, str(o.index)), o.error)
                for o in batch
                if o.status in (A.OUTCOME_ERROR, A.OUTCOME_TIMEOUT)
                and isinstance(o.error, Exception)
            ]

        def too_few(what: str) -> NotEnoughSuccesses:
            return NotEnoughSuccesses.for_branches(
                f"{what} (needed {self.min_successes} successes, got {successes})", failures
            )

        try:
            while pending:
                batch = await next_batch()
                successes += sum(1 for o in batch if o.ok)
                new_failures = failed(batch)
                failures.extend(new_failures)
                if new_failures and self.on_error == "raise":
                    failures.extend(failed(await cancel_rest("sibling failed")))
                    raise FanoutError.for_branches(self._what(), failures)
                if (
                    new_failures
                    and self.min_successes is not None
                    and successes + len(pending) < self.min_successes
                ):
                    await cancel_rest("not enough successes")
                    raise too_few(self._what())
                for outcome in batch:
                    yield outcome
                    if stop_when is not None and pending:
                        reason = stop_when(outcome)
                        if reason is not None:
                            for rest in await cancel_rest(reason):
                                yield rest
            if self.min_successes is not None and successes < self.min_successes:
                raise too_few(self._what())
        except asyncio.CancelledError:
            stop_reason = "caller cancelled"
            raise
        finally:
            if pending:
                await cancel_rest(stop_reason)

    def _settle(self, task: asyncio.Task[Outcome[Any]], job: Job) -> Outcome[Any]:
        """The outcome of a finished branch task, counted for the fan-out span."""
        index = job.index or 0
        if task.cancelled():
            if self._reasons.get(index) == "deadline":
                assert self.deadline is not None
                error: BaseException = DeadlineExceeded(job.label, self.deadline)
                outcome: Outcome[Any] = Outcome(
                    index, A.OUTCOME_TIMEOUT, error=error, name=job.name
                )
            else:
                error = asyncio.CancelledError(self._reasons.get(index, "cancelled"))
                outcome = Outcome(index, A.OUTCOME_CANCELLED, error=error, name=job.name)
        else:
            exc = task.exception()
            if exc is not None:  # a BaseException run_branch re-raised (KeyboardInterrupt...)
                raise exc
            outcome = task.result()
        key = outcome.status if outcome.status in (A.OUTCOME_OK, A.OUTCOME_CANCELLED) else "failed"
        self.counts[key] += 1
        return outcome

    async def run(
        self,
        jobs: Sequence[Job],
        *,
        stop_when: Callable[[Outcome[Any]], str | None] | None = None,
    ) -> list[Outcome[Any]]:
        """Run ``jobs`` to the end; return every outcome in input order."""
        outcomes: list[Outcome[Any] | None] = [None] * len(jobs)
        position = {job.index: i for i, job in enumerate(jobs)}
        async with contextlib.aclosing(self.iterate(jobs, stop_when=stop_when)) as stream:
            async for outcome in stream:
                outcomes[position[outcome.index]] = outcome
        return [o for o in outcomes if o is not None]


def shape(outcomes: Sequence[Outcome[Any]], on_error: OnError) -> list[Any]:
    """Results as the policy returns them: values, values of successes, or outcomes."""
    if on_error == "collect":
        return list(outcomes)
    return [o.value for o in outcomes if o.ok]


async def combine(reduce: Callable[[Any], Any] | None, value: Any) -> Any:
    """Apply a sync or async ``reduce`` to ``value`` (inside the fan-in span)."""
    if reduce is None:
        return value
    result = reduce(value)
    if inspect.isawaitable(result):
        result = await result
    return result


# -- gather -----------------------------------------------------------------------------------


async def lone_call(
    policy: CallPolicy,
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """One bounded, traced call of a ``@parallel`` function (what ``await f(x)`` runs)."""
    job = Job(policy, lambda: fn(*args, **kwargs), args=args, kwargs=kwargs)
    outcome = await run_branch(job, parent=None)
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


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
