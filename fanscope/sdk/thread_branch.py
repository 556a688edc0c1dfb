"""One branch of the sync path on its own thread, from its first slot to its outcome.

:func:`run` is what a thread of a sync fan-out (:mod:`~fanscope.sdk.thread_fanout`) runs for
each branch, and what a lone ``f(x)`` of a plain ``def`` runs on the calling thread: take
the branch's limiters (blocking, in the same FIFO line as async waiters), open its span with
its context current, run the attempts and the retries between them, record the wait in
line, end the span. Each decision is the async path's own code
(:mod:`~fanscope.sdk.branch`: the admission steps, the span's start and end, the retry
decision); only the waiting differs.

A thread cannot be stopped from outside. When its fan-out stops early, :func:`abandon` ends
the branch from the fan-out's thread: in line, or running (span ended ``cancelled``, or
``timeout`` at a deadline; limiter slots given back at once), while the branch's thread
finishes its call in the background and its result is dropped. An attempt with a
``timeout`` runs on a helper thread (:class:`Helpers`) while the branch's thread waits for
it at most that long; past it, the attempt is abandoned (it ends ``TimeoutError`` and may be
retried) and goes on in the background. Every thread is a daemon: an abandoned call never
keeps the process alive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.sdk import attributes as A
from fanscope.sdk import cost
from fanscope.sdk.admission import admission, queue_wait
from fanscope.sdk.branch import (
    Job,
    _cancelled,
    end_in_line,
    end_span,
    retry_or_fail,
    start_span,
    succeeded,
)
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.threads import Call, Pool
from fanscope.sdk.tracing import record_error

# -- taking the limiters, on the branch's own thread ----------------------------------------


def admit(
    limiters: tuple[Limiter, ...], stop: threading.Event, retry: tuple[Context, Span] | None = None
) -> tuple[bool, str | None, float]:
    """Take every limiter before an attempt, blocking this thread (the steps of
    :func:`~fanscope.sdk.admission.admission`); before a retry (``retry``: the branch's context
    and span) each wait is a ``queue wait`` child span. Returns whether they were taken (not
    when the fan-out stopped meanwhile: nothing is held then), the limiter waited on, if any,
    and the seconds waited. (:func:`run` tries a lone limiter without waiting first.)"""
    started = time.monotonic()
    waited_on: str | None = None
    held: list[Limiter] = []
    taken = True
    try:
        for reason, limiter, delay in admission(limiters):
            qspan = None
            if reason is not None:
                waited_on = limiter.name
                if retry is not None:
                    qspan = queue_wait(retry[1], retry[0], reason, limiter)
            try:
                if reason == A.QUEUE_REASON_RATE:
                    taken = not stop.wait(delay)
                elif taken := limiter.acquire_slot_blocking(stop):
                    held.append(limiter)
            finally:
                if qspan is not None:
                    qspan.end()
            if not taken:
                break
    finally:
        if not taken:
            for limiter in held:
                limiter.release()
    return taken, waited_on, time.monotonic() - started if waited_on else 0.0


# -- attempts with a timeout -----------------------------------------------------------------


class _Call(Call):
    """One attempt handed to a helper thread, and its result once there."""

    __slots__ = ("done", "error", "value")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> None:
        super().__init__(fn, args, kwargs)  # in the branch's context, its span current
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class Helpers(Pool):
    """The threads that run attempts with a ``timeout``, so that the branch's own thread can
    stop waiting for one. A helper whose attempt was abandoned finishes it, then serves
    again."""

    def call(self, timeout: float, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on a helper thread; :class:`TimeoutError` after ``timeout``
        seconds (the call goes on in the background, its result dropped)."""
        item = _Call(fn, args, kwargs)
        self._hand(item)
        if not item.done.wait(timeout):
            raise TimeoutError(
                f"the attempt took longer than its timeout ({timeout:g} s); "
                f"its thread finishes it in the background"
            )
        if item.error is not None:
            raise item.error
        return item.value

    def _deliver(self, item: _Call, value: Any, error: BaseException | None) -> None:
        item.value, item.error = value, error
        item.done.set()


# -- one branch on this thread ---------------------------------------------------------------

LINE, RUNNING, ENDED = 0, 1, 2
_NO_ATTRIBUTES: dict[str, Any] = {}  # never written: a branch's until its span starts
_NEVER = threading.Event()  # the stop of a lone call: nothing abandons it


class Branch:
    """One branch on its thread, and what its fan-out needs to abandon it.

    ``lock`` orders the branch's own thread against the fan-out's: whoever marks it
    ``claimed`` first records its end (the thread when it finishes, with ``outcome``; the
    fan-out when it abandons it), and its limiter slots are given back once.
    """

    __slots__ = (
        "attempts",
        "attrs",
        "claimed",
        "holding",
        "job",
        "lock",
        "outcome",
        "span",
        "state",
        "tally",
        "waited",
    )

    def __init__(self, job: Job) -> None:
        self.job = job
        self.lock = threading.Lock()
        self.state = LINE
        self.claimed = False
        self.holding = False
        self.outcome: Outcome[Any] | None = None
        self.span: Span | None = None
        self.attrs: dict[str, Any] = _NO_ATTRIBUTES  # the span's, once it starts
        self.tally: cost.Tally | None = None
        self.attempts = 0
        self.waited = 0.0

    def give_back(self) -> None:
        """This thread is done with the branch's slots (unless the fan-out took them back)."""
        with self.lock:
            holding, self.holding = self.holding, False
        if holding:
            for limiter in self.job.policy.limiters:
                limiter.release()


def run(
    branch: Branch,
    stop: threading.Event = _NEVER,
    *,
    parent: Context | None = None,
    kind: str | None = None,
    helpers: Helpers | None = None,
    pause: Callable[[bool], None] | None = None,
) -> Outcome[Any] | None:
    """Run ``branch`` on this thread: its outcome, or ``None`` once its fan-out stopped (the
    fan-out records its end then). An attempt with a timeout runs on one of ``helpers``;
    ``pause(True)`` and ``pause(False)`` frame each sleep before a retry. A
    ``BaseException`` that is not an ``Exception`` ends the branch ``error`` and is raised."""
    job = branch.job
    policy = job.policy
    limiters = policy.limiters
    job.started = True
    if limiters and not (len(limiters) == 1 and limiters[0].try_acquire()):
        taken, waited_on, _ = admit(limiters, stop)
        if not taken:
            return None
        job.waited_on = waited_on or job.waited_on
    with branch.lock:
        ours = not branch.claimed  # else the fan-out stopped while this one waited in line
        if ours:
            branch.holding = bool(limiters)
            branch.span, branch.attrs, ctx, branch.tally = start_span(job, parent, kind)
            branch.state = RUNNING
    if not ours:
        for limiter in limiters:
            limiter.release()
        return None
    span, attrs, tally = branch.span, branch.attrs, branch.tally
    assert span is not None and tally is not None
    token = otel_context.attach(ctx)
    outcome: Outcome[Any] | None = None
    status: str = A.OUTCOME_OK
    try:
        while outcome is None:
            branch.attempts += 1
            if branch.attempts > 1:
                taken, _, waited = admit(limiters, stop, (ctx, span))
                if not taken:
                    return None
                branch.waited += waited
                with branch.lock:
                    stopped = branch.claimed
                    branch.holding = not stopped and bool(limiters)
                if stopped:
                    for limiter in limiters:
                        limiter.release()
                    return None
            try:
                if policy.timeout is not None and helpers is not None:
                    value = helpers.call(policy.timeout, job.call)
                else:
                    value = job.call()
            except Exception as exc:
                branch.give_back()
                if branch.claimed:
                    return None
                step = retry_or_fail(job, span, exc, branch.attempts)
                if isinstance(step, Outcome):
                    status, outcome = step.status, step
                    break
                if pause is not None:
                    pause(True)
                try:
                    if stop.wait(step):
                        return None
                finally:
                    if pause is not None:
                        pause(False)
                continue
            branch.give_back()
            outcome = succeeded(job, value, attrs, kind, branch.attempts)
    except BaseException as exc:  # SystemExit and friends: record, end, propagate
        status = A.OUTCOME_ERROR
        record_error(span, exc)
        branch.give_back()
        with branch.lock:
            ours = not branch.claimed
            branch.claimed = True
        if ours:
            end_span(span, attrs, status, branch.attempts, branch.waited, tally)
        raise
    finally:
        otel_context.detach(token)
    with branch.lock:
        ours = not branch.claimed
        if ours:
            branch.claimed, branch.state, branch.outcome = True, ENDED, outcome
    if not ours:
        return None  # the fan-out stopped and recorded its end
    end_span(span, attrs, status, branch.attempts, branch.waited, tally)
    return outcome


def abandon(
    branch: Branch, *, parent: Context | None, kind: str, reasons: Mapping[int, str]
) -> Outcome[Any] | str | None:
    """End a branch its fan-out stops: in line, or running on its thread, which is left to
    finish in the background. Returns its status, or the outcome its thread had already
    recorded (``None``: it ended with a ``BaseException``, raised elsewhere)."""
    with branch.lock:
        if branch.claimed:
            return branch.outcome
        branch.claimed = True
        state, holding, branch.holding = branch.state, branch.holding, False
    job = branch.job
    if state == LINE:
        return end_in_line(job, parent=parent, kind=kind, reasons=reasons)
    if holding:
        for limiter in job.policy.limiters:
            limiter.release()
    span, tally = branch.span, branch.tally
    assert span is not None and tally is not None
    status = _cancelled(span, job, reasons)
    end_span(span, branch.attrs, status, branch.attempts, branch.waited, tally)
    return status
