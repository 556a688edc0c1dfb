"""A fan-out: its span, its branch tasks, its failure policy, its deadline and its fan-in.

:class:`FanOut` starts one task per branch (:func:`~fanscope.sdk.branch.run_branch`),
counts outcomes as they arrive and asks the failure policy (:func:`~fanscope.sdk.policy.decide`)
whether to go on, stop or raise; it cancels and awaits every branch it started before it
returns or raises: no task outlives its fan-out. Reading the input and starting the branch
tasks is :class:`~fanscope.sdk.feeder.Feeder`'s part; an adaptive cap's changes on the span are
:class:`~fanscope.sdk.cap_changes.CapChanges`'.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    Sized,
)
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.errors import DeadlineExceeded
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, cost, permits
from fanscope.sdk.branch import Job, end_in_line
from fanscope.sdk.budget import Budget
from fanscope.sdk.cap_changes import CapChanges
from fanscope.sdk.feeder import Feeder
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.policy import FailurePolicy, OnError, Progress, decide, failure
from fanscope.sdk.tracing import record_error, tracer

#: the cancel reason of branches still running when the input of a fan-out fails
INPUT_FAILED = A.CANCEL_INPUT_FAILED


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

        with FanOut("map summarize", A.KIND_MAP) as fo:
            outcomes = await fo.run(jobs)
            with fo.fan_in("fan-in summarize"):
                ...
    """

    def __init__(
        self,
        span_name: str,
        kind: str,
        *,
        size: int = 0,
        function: str | None = None,
        max_concurrency: int | None = None,
        on_error: OnError = "raise",
        min_successes: int | None = None,
        deadline: float | None = None,
        attributes: Mapping[str, Any] | None = None,
        budget: Budget | None = None,
        holders: Sequence[permits.Holder] = (),
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
        self._budget = budget
        self._holders = holders
        # an adaptive cap moves while the branches run: its changes go on the span
        self._caps = CapChanges(holders, max_concurrency)
        self._budget_in_force: contextlib.AbstractContextManager[Any] | None = None
        self.span: Span = trace.INVALID_SPAN
        self.started = 0
        self.context: Context = Context()
        self.tally = cost.Tally(None)

    def __enter__(self) -> FanOut:
        self._attrs.update(callsite.here())  # the line that started the fan-out
        caps = self._caps
        if caps.adaptive:  # the cap now, not when the function was decorated
            self._attrs[A.FANOUT_MAX_CONCURRENCY] = caps.watch()
        self.started = time.time_ns()  # also when the items of a plain iterable were submitted
        caps.started = self.started
        self.span = tracer().start_span(
            self.span_name, attributes=self._attrs, start_time=self.started
        )
        if self._budget is not None:  # a fresh pot for this fan-out, on its span at the end
            self._budget_in_force = self._budget.fresh().applied(self.span)
            self._budget_in_force.__enter__()
        # the branches' context: the budget and the function's limiters in force once here,
        # not once per branch
        self.context, self.tally = cost.span_context(self.span)
        self.context = permits.with_holders(self._holders, self.context)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        span = self.span
        if self._budget_in_force is not None:
            self._budget_in_force.__exit__(None, None, None)
            self._budget_in_force = None
        self._caps.unwatch(span)
        if span.is_recording():
            span.set_attributes(
                {
                    A.FANOUT_SIZE: self.size,
                    A.FANOUT_SUCCEEDED: self.counts[A.OUTCOME_OK],
                    A.FANOUT_FAILED: self.counts["failed"],
                    A.FANOUT_CANCELLED: self.counts[A.OUTCOME_CANCELLED],
                }
            )
            if exc is not None and not isinstance(exc, asyncio.CancelledError | GeneratorExit):
                record_error(span, exc)
            cost.record(span, self.tally)
        span.end()

    @property
    def where(self) -> dict[str, Any]:
        """The ``code.*`` of the line that started the fan-out (known once it is entered)."""
        return {k: v for k, v in self._attrs.items() if k.startswith("code.")}

    @contextmanager
    def fan_in(self, span_name: str | None = None) -> Iterator[Span]:
        """The fan-in span (join and combine), current while the block runs."""
        name = span_name or f"fan-in {self.span_name.split(' ', 1)[-1]}"
        attrs: dict[str, Any] = {A.ROLE: A.ROLE_FANIN, A.KIND: self.kind}
        if self.function is not None:
            attrs[A.FUNCTION] = self.function
        span = tracer().start_span(name, context=self.context, attributes=attrs)
        ctx, tally = cost.span_context(span, self.context)
        token = otel_context.attach(ctx)
        try:
            yield span
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                record_error(span, exc)
            raise
        finally:
            otel_context.detach(token)
            cost.record(span, tally)
            span.end()

    def _what(self) -> str:
        return self.span_name

    def iterate(
        self,
        jobs: Iterable[Job] | AsyncIterable[Job],
        *,
        stop_when: Callable[[Outcome[Any]], str | None] | None = None,
        window: int | None = None,
    ) -> AsyncGenerator[Outcome[Any], None]:
        """Run ``jobs`` as branches; yield their outcomes as they finish.

        Applies the failure policy as outcomes arrive (raising :class:`FanoutError` or
        :class:`NotEnoughSuccesses`), the deadline, and ``stop_when``: called with each
        outcome, it returns a reason to cancel the remaining branches (their cancelled
        outcomes are yielded too), or ``None`` to go on. Whatever way the iteration ends,
        every branch task has finished when it does; wrap it in ``contextlib.aclosing``
        so that leaving the loop early closes it at once.

        With ``window``, ``jobs`` is read only as branches can start (see
        :class:`~fanscope.sdk.feeder.Feeder`): at most ``window`` branch tasks are alive at
        once, and each job's limiters are taken before its task starts. Without it every job
        starts at once (a few, as in a ``gather`` or a vote).
        """
        return self._iterate(jobs, stop_when, window, batched=False)

    def batches(
        self, jobs: Iterable[Job] | AsyncIterable[Job], *, window: int | None = None
    ) -> AsyncGenerator[list[Outcome[Any]], None]:
        """:meth:`iterate` without ``stop_when``, one list per step: the outcomes that ended
        together (one step of the consumer per batch, not per branch)."""
        return self._iterate(jobs, None, window, batched=True)

    async def _iterate(
        self,
        jobs: Iterable[Job] | AsyncIterable[Job],
        stop_when: Callable[[Outcome[Any]], str | None] | None,
        window: int | None,
        *,
        batched: bool,
    ) -> AsyncGenerator[Any, None]:
        """:meth:`iterate`; ``batched``: yield lists of the outcomes that ended together
        (one step of the consumer per batch, not per branch: what :meth:`results` reads),
        only without ``stop_when``."""
        assert not (batched and stop_when is not None)
        reasons = self._reasons
        loop = asyncio.get_running_loop()
        # Each branch task pushes itself into a queue as it ends (run_branch's ``ended``, in
        # the task's last step: it is done once anyone else runs): asyncio.wait() re-registers
        # a callback on every pending task at each call, quadratic in the fan-out size, and a
        # done-callback is one more scheduled call per branch.
        finished: deque[asyncio.Task[Any]] = deque()
        wake = asyncio.Event()
        current_task = asyncio.current_task

        def ended() -> None:
            task = current_task()
            assert task is not None
            finished.append(task)
            wake.set()

        feeder = Feeder(self, jobs, window, ended, wake)
        live = feeder.live
        deadline_at = None if self.deadline is None else loop.time() + self.deadline
        progress = Progress(pending=feeder.expected, keep_failures=self.policy.can_raise)
        feeder.progress = progress
        stop_reason = A.CANCEL_FANOUT_CLOSED

        counts, ok, cancelled = self.counts, A.OUTCOME_OK, A.OUTCOME_CANCELLED

        def settle(done: Iterable[asyncio.Task[Outcome[Any]]]) -> list[Outcome[Any]]:
            """The outcomes of finished branch tasks, counted (one pass: per branch)."""
            nonlocal stop_reason
            batch: list[Outcome[Any]] = []
            others: list[Outcome[Any]] = []  # the outcomes other than ok, counted apart
            failed: dict[int, str] = {}
            for task in done:
                job = live.pop(task)
                try:
                    outcome = task.result()
                except BaseException:  # cancelled, or a BaseException run_branch re-raised
                    if not task.cancelled():  # KeyboardInterrupt...: it stops the siblings
                        stop_reason = A.CANCEL_SIBLING_FAILED
                    outcome = self._settle(task, job)  # (re-raises the latter)
                    others.append(outcome)
                    failed[outcome.index] = job.label
                else:
                    status = outcome.status
                    if status != ok:
                        counts[status if status == cancelled else "failed"] += 1
                        others.append(outcome)
                        failed[outcome.index] = job.label
                batch.append(outcome)
            succeeded = len(batch) - len(others)
            counts[ok] += succeeded
            progress.pending -= succeeded
            progress.succeeded += succeeded
            if others:
                progress.add(others, failed)
            feeder.room()
            return batch

        async def cancel_rest(reason: str) -> list[Outcome[Any]]:
            nonlocal stop_reason
            stop_reason = reason
            in_hand = await feeder.stop(reason)
            for task, job in live.items():
                idx = job.index
                reasons[idx if idx is not None else -1] = reason
                task.cancel()
            await _drain(set(live))
            finished.clear()  # everything in it was live, and is settled below
            ended = settle(sorted(live, key=lambda t: live[t].index or 0))
            if in_hand is not None:  # read but never started: it ended in line
                ended.append(self._tally(progress, [self._unstarted(in_hand)], [in_hand])[0])
            if reason == A.CANCEL_DEADLINE:
                ended.extend(self._rest_timed_out(feeder, progress))
            return ended

        async def next_batch() -> list[Outcome[Any]]:
            if not finished:
                wake.clear()
                if feeder.done and not live:
                    return []
                if deadline_at is None:
                    await wake.wait()
                elif (remaining := deadline_at - loop.time()) > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(remaining):
                            await wake.wait()
                if not finished and deadline_at is not None and loop.time() >= deadline_at:
                    return await cancel_rest(A.CANCEL_DEADLINE)
            done = list(finished)
            finished.clear()
            return settle(done)

        try:
            try:
                feeder.start()
            except Exception:
                stop_reason = INPUT_FAILED
                raise
            while live or not feeder.done:
                batch = await next_batch()
                if (error := feeder.error) is not None:
                    await cancel_rest(INPUT_FAILED)
                    raise error  # the input's own error
                verdict = decide(self.policy, progress)
                if verdict.action == "raise":
                    await cancel_rest(verdict.reason or stop_reason)
                    raise failure(self.policy, progress, verdict, self._what())
                if batched:
                    if batch:
                        yield batch
                    continue
                for outcome in batch:
                    yield outcome
                    if stop_when is not None and (live or not feeder.done):
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
            if live or not feeder.done:
                await cancel_rest(stop_reason)
            self.size = feeder.read

    @staticmethod
    def _tally(
        progress: Progress, outcomes: list[Outcome[Any]], jobs: Sequence[Job]
    ) -> list[Outcome[Any]]:
        failed = {o.index: job.label for o, job in zip(outcomes, jobs, strict=True) if not o.ok}
        progress.add(outcomes, failed)
        return outcomes

    def _unstarted(self, job: Job) -> Outcome[Any]:
        """The outcome of a branch that ended in line (read, never started), with its span."""
        status = end_in_line(job, parent=self.context, kind=self.kind, reasons=self._reasons)
        return self._count(self._cancelled_outcome(job, status))

    def _cancelled_outcome(self, job: Job, status: str) -> Outcome[Any]:
        index = job.index or 0
        if status == A.OUTCOME_TIMEOUT:
            assert self.deadline is not None
            error: BaseException = DeadlineExceeded(job.label, self.deadline)
            return Outcome(index, A.OUTCOME_TIMEOUT, error=error, name=job.name)
        error = asyncio.CancelledError(self._reasons.get(index, "cancelled"))
        return Outcome(index, A.OUTCOME_CANCELLED, error=error, name=job.name)

    def _rest_timed_out(self, feeder: Feeder, progress: Progress) -> list[Outcome[Any]]:
        """At the deadline, the items of a sized input not read yet: each ends ``timeout``.

        An input whose length is known (a list) gets an outcome for every item, as it
        always had; any other input is read no further once the fan-out stops.
        """
        ended = []
        for job in feeder.rest():
            self._reasons[job.index if job.index is not None else -1] = A.CANCEL_DEADLINE
            progress.pending += 1  # read after the fan-out stopped counting its input
            ended.append(self._tally(progress, [self._unstarted(job)], [job])[0])
            self._reasons.pop(job.index if job.index is not None else -1, None)
        return ended

    def _settle(self, task: asyncio.Task[Outcome[Any]], job: Job) -> Outcome[Any]:
        """The outcome of a finished branch task, counted for the fan-out span."""
        if task.cancelled():
            if not job.started:  # cancelled before its first step: it never left the line
                if job.admitted:
                    for limiter in job.policy.limiters:
                        limiter.release()
                return self._unstarted(job)
            index = job.index or 0
            deadline = self._reasons.get(index) == A.CANCEL_DEADLINE
            status = A.OUTCOME_TIMEOUT if deadline else A.OUTCOME_CANCELLED
            return self._count(self._cancelled_outcome(job, status))
        exc = task.exception()
        if exc is not None:  # a BaseException run_branch re-raised (KeyboardInterrupt...)
            raise exc
        return self._count(task.result())

    def _count(self, outcome: Outcome[Any]) -> Outcome[Any]:
        key = outcome.status if outcome.status in (A.OUTCOME_OK, A.OUTCOME_CANCELLED) else "failed"
        self.counts[key] += 1
        return outcome

    async def run(
        self,
        jobs: Iterable[Job] | AsyncIterable[Job],
        *,
        stop_when: Callable[[Outcome[Any]], str | None] | None = None,
        window: int | None = None,
    ) -> list[Outcome[Any]]:
        """Run ``jobs`` to the end; return every outcome in input order."""
        return await self.results(jobs, "collect", stop_when=stop_when, window=window)

    async def results(
        self,
        jobs: Iterable[Job] | AsyncIterable[Job],
        on_error: OnError,
        *,
        stop_when: Callable[[Outcome[Any]], str | None] | None = None,
        window: int | None = None,
    ) -> list[Any]:
        """Run ``jobs`` to the end; return what ``on_error`` keeps, in input order.

        ``collect``: every outcome; ``raise``/``skip``: the values of the successes. Only
        what is returned is kept while the branches run (one slot per item read).
        """
        # an input with a length gets its result list at once: growing it would copy it
        kept: list[Any] = [_MISSING] * len(jobs) if isinstance(jobs, Sized) else []
        keep_outcomes = on_error == "collect"
        ok = A.OUTCOME_OK
        if stop_when is None:  # a batch per step of the loop (the outcomes that ended together)
            stream = self.batches(jobs, window=window)
        else:
            stream = _one_each(self.iterate(jobs, stop_when=stop_when, window=window))
        async with contextlib.aclosing(stream):
            async for batch in stream:
                for outcome in batch:
                    index = outcome.index
                    if index >= len(kept):
                        kept.extend([_MISSING] * (index + 1 - len(kept)))
                    if keep_outcomes:
                        kept[index] = outcome
                    elif outcome.status == ok:
                        kept[index] = outcome.value
        # drop the places with no result (failures under "skip"), in place: no second list
        end = 0
        for value in kept:
            if value is not _MISSING:
                kept[end] = value
                end += 1
        del kept[end:]
        return kept


async def _one_each(outcomes: AsyncGenerator[Outcome[Any], None]) -> AsyncGenerator[Any, None]:
    """``outcomes`` as batches of one (what :meth:`FanOut.results` reads)."""
    async with contextlib.aclosing(outcomes):
        async for outcome in outcomes:
            yield (outcome,)


_MISSING: Any = object()  # an item with no result to return (failed under "skip")


async def combine(reduce: Callable[[Any], Any] | None, value: Any) -> Any:
    """Apply a sync or async ``reduce`` to ``value`` (inside the fan-in span)."""
    if reduce is None:
        return value
    result = reduce(value)
    if inspect.isawaitable(result):
        result = await result
    return result
