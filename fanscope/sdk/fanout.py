"""A fan-out: its span, its branch tasks, its failure policy, its deadline and its fan-in.

:class:`FanOut` starts one task per branch (:func:`~fanscope.sdk.branch.run_branch`),
counts outcomes as they arrive and asks the failure policy (:func:`~fanscope.sdk.policy.decide`)
whether to go on, stop or raise; it cancels and awaits every branch it started before it
returns or raises: no task outlives its fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.errors import DeadlineExceeded
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite
from fanscope.sdk.branch import Job, run_branch
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.policy import FailurePolicy, OnError, Progress, decide, failure
from fanscope.sdk.tracing import record_error, tracer


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
        self.policy = FailurePolicy(on_error, min_successes)
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
        self._attrs.update(callsite.here())  # the line that started the fan-out
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
        labels = {job.index or 0: job.label for job in jobs}
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
        progress = Progress(pending=len(jobs))
        stop_reason = A.CANCEL_FANOUT_CLOSED

        async def cancel_rest(reason: str) -> list[Outcome[Any]]:
            nonlocal pending
            for task in pending:
                idx = by_task[task].index
                reasons[idx if idx is not None else -1] = reason
                task.cancel()
            rest, pending = pending, set()
            await _drain(rest)
            finished.clear()  # everything in it was pending, and is settled below
            ended = [self._settle(t, by_task[t]) for t in sorted(rest, key=_index_of(by_task))]
            progress.add(ended, labels)
            return ended

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
                return await cancel_rest(A.CANCEL_DEADLINE)
            done = list(finished)
            finished.clear()
            pending.difference_update(done)
            batch = [self._settle(t, by_task[t]) for t in done]
            progress.add(batch, labels)
            return batch

        try:
            while pending:
                batch = await next_batch()
                verdict = decide(self.policy, progress)
                if verdict.action == "raise":
                    await cancel_rest(verdict.reason or stop_reason)
                    raise failure(self.policy, progress, verdict, self._what())
                for outcome in batch:
                    yield outcome
                    if stop_when is not None and pending:
                        verdict = decide(self.policy, progress, stop_when(outcome))
                        if verdict.action == "stop":
                            for rest in await cancel_rest(verdict.reason or stop_reason):
                                yield rest
            verdict = decide(self.policy, progress)
            if verdict.action == "raise":
                raise failure(self.policy, progress, verdict, self._what())
        except asyncio.CancelledError:
            stop_reason = A.CANCEL_CALLER
            raise
        finally:
            if pending:
                await cancel_rest(stop_reason)

    def _settle(self, task: asyncio.Task[Outcome[Any]], job: Job) -> Outcome[Any]:
        """The outcome of a finished branch task, counted for the fan-out span."""
        index = job.index or 0
        if task.cancelled():
            if self._reasons.get(index) == A.CANCEL_DEADLINE:
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


async def combine(reduce: Callable[[Any], Any] | None, value: Any) -> Any:
    """Apply a sync or async ``reduce`` to ``value`` (inside the fan-in span)."""
    if reduce is None:
        return value
    result = reduce(value)
    if inspect.isawaitable(result):
        result = await result
    return result
