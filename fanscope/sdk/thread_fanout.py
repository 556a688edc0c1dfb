"""The sync path: a fan-out of plain ``def`` functions run on threads, with no event loop.

``f.map(xs)`` on a plain ``def`` (and ``fanscope.gather`` over functions, and a lone ``f(x)``)
runs each branch on a worker thread the fan-out owns: the thread reads the next item, takes
the branch's limiters, opens its span, runs the attempts (and the retries between them) and
records the outcome, all in that one thread, as a hand-written ``ThreadPoolExecutor`` job
would. The calling thread only waits for the end (or, for ``as_completed``, for each
outcome). What the async path decides is decided here by the same code: the branch span and
its attributes, the retry decision and the admission steps
(:mod:`~fanscope.sdk.branch`), the failure policy (:func:`~fanscope.sdk.policy.decide`), the
fan-out span, its counts, fan-in, budget and deadline outcomes (:class:`FanOut`).

Threads: at most the fan-out's cap of them, started as items are read (a fan-out without a
cap starts one per branch that can run); a branch sleeping before a retry gives its limiter
slot back and lets one more thread start, as an async branch lets one more task start.

A thread cannot be stopped from outside. When the fan-out stops early (a failure under
``on_error="raise"``, ``min_successes`` out of reach, the deadline, the caller leaving
``as_completed``), its running branches are **abandoned**: the calling thread ends their
spans (``cancelled``, or ``timeout`` at a deadline), gives their limiter slots back and
returns at once; each thread finishes its call in the background and its result is dropped.
Branches waiting for a slot are woken and end in line. An attempt with a ``timeout`` runs on
a helper thread while its branch's thread waits for it at most that long; past it, the
attempt is abandoned (it ends ``TimeoutError``, and may be retried) and goes on in the
background. Every thread is a daemon: an abandoned call never keeps the process alive.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sized
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.sdk import attributes as A
from fanscope.sdk import cost
from fanscope.sdk.branch import (
    Job,
    _cancelled,
    admission,
    end_in_line,
    end_span,
    queue_wait,
    retry_or_fail,
    start_span,
    succeeded,
)
from fanscope.sdk.fanout import INPUT_FAILED, FanOut
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.policy import Progress, decide, failure
from fanscope.sdk.threads import Call, Pool, run_sync
from fanscope.sdk.tracing import record_error

_UNKNOWN = 1 << 60  # branches still to come from an input of unknown length


# -- taking the limiters, on the branch's own thread ----------------------------------------


def admit(
    limiters: tuple[Limiter, ...], stop: threading.Event, retry: tuple[Context, Span] | None = None
) -> tuple[bool, str | None, float]:
    """Take every limiter before an attempt, blocking this thread (the steps of
    :func:`~fanscope.sdk.branch.admission`); before a retry (``retry``: the branch's context
    and span) each wait is a ``queue wait`` child span. Returns whether they were taken (not
    when the fan-out stopped meanwhile: nothing is held then), the limiter waited on, if any,
    and the seconds waited."""
    if retry is None and len(limiters) == 1 and limiters[0].try_acquire():
        return True, None, 0.0
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
        self.attrs: dict[str, Any] = {}
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
    if limiters:
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


# -- the fan-out -----------------------------------------------------------------------------


class ThreadFanOut:
    """The branches of one entered :class:`FanOut` on threads it owns; this thread waits.

    Args:
        fo: the fan-out: its span, context, counts, deadline and failure policy.
        jobs: the branches (their ``call`` runs on the thread), read as threads are free.
        threads: at most this many threads at once running attempts (the cap); ``None``:
            as many as branches can run.
        name: thread names are ``fanscope {name} {n}``.
        stream: hand each outcome over as it comes (``as_completed``); otherwise this thread
            is woken only to stop or at the end.
    """

    def __init__(
        self,
        fo: FanOut,
        jobs: Iterable[Job],
        *,
        threads: int | None,
        name: str,
        stream: bool = False,
    ) -> None:
        self.fo = fo
        self._jobs = iter(jobs)
        self._sized = isinstance(jobs, Sized)
        self._expected = len(jobs) if isinstance(jobs, Sized) else _UNKNOWN
        self._limit = threads
        self._name = name
        self._stream = stream
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()  # reading the input; taken before _lock
        self._wake = threading.Condition(self._lock)
        self.stop = threading.Event()
        self._live: set[Branch] = set()
        self._done: deque[Outcome[Any]] = deque()
        self._exhausted = False
        self.read = 0
        self._threads = 0  # alive
        self._running = 0  # of them, running a branch (not between two, not asleep)
        self._asleep = 0  # of them, sleeping before a retry (their slots given back)
        self._numbered = 0
        self._failed = False  # the failure policy says raise
        self._error: BaseException | None = None  # the input's, or a branch's BaseException
        self.progress = Progress(pending=self._expected, keep_failures=fo.policy.can_raise)
        self._helpers = Helpers(f"{name} attempt")
        self._submitted = fo.started or time.time_ns()
        # each thread runs in a copy of the caller's context: a tracer provider set for it
        # (use_tracer_provider), and anything else the caller's context holds, carry over
        self._context = contextvars.copy_context()

    # -- the threads ---------------------------------------------------------------------

    def _spawn(self) -> None:
        """Start a thread for the next branch when none is free and the cap allows (lock held)."""
        if self._exhausted or self.stop.is_set():
            return
        if self._threads > self._running + self._asleep:  # one is free: it reads next
            return
        if self._limit is not None and self._threads >= self._limit + self._asleep:
            return
        self._threads += 1
        self._numbered += 1
        threading.Thread(
            target=self._context.copy().run,
            args=(self._work,),
            name=f"fanscope {self._name} {self._numbered}",
            daemon=True,
        ).start()

    def _pause(self, asleep: bool) -> None:
        with self._lock:
            self._running += -1 if asleep else 1
            self._asleep += 1 if asleep else -1
            if asleep:
                self._spawn()

    def _next(self, late: bool) -> Branch | None:
        """The next branch to run, or ``None`` at the end of the input or once stopped."""
        with self._read_lock:
            if self._exhausted or self.stop.is_set():
                return None
            try:
                job = next(self._jobs, None)
            except BaseException as exc:  # the input's own error
                with self._lock:
                    self._exhausted = True
                    self._error = self._error or exc
                    self._wake.notify_all()
                return None
            with self._lock:
                if job is None:
                    self._exhausted = True
                    self._count_read()
                    if not self._live:
                        self._wake.notify_all()
                    return None
                self.read += 1
                job.submitted = self._submitted
                if late and job.policy.limiters:
                    # read once a thread was free: it waited in line since the fan-out began
                    job.waited_on = job.policy.limiters[0].name
                branch = Branch(job)
                self._live.add(branch)
                self._running += 1
                self._spawn()
                return branch

    def _count_read(self) -> None:
        """The input is read no further: what is pending is what was read (lock held)."""
        self.progress.pending -= self._expected - self.read
        self._expected = self.read

    def _work(self) -> None:
        fo, late = self.fo, False
        try:
            while (branch := self._next(late)) is not None:
                try:
                    outcome = run(
                        branch,
                        self.stop,
                        parent=fo.context,
                        kind=fo.kind,
                        helpers=self._helpers,
                        pause=self._pause,
                    )
                except BaseException as exc:
                    with self._lock:
                        self._running -= 1
                        self._live.discard(branch)
                        self._error = self._error or exc
                        self._wake.notify_all()
                    return
                with self._lock:
                    self._running -= 1
                    if outcome is not None and branch in self._live:
                        self._ended(branch, outcome)
                    if self._limit is not None and self._threads > self._limit + self._asleep:
                        return  # one more started while a branch slept before a retry
                late = self._limit is not None
        finally:
            with self._lock:
                self._threads -= 1

    def _ended(self, branch: Branch, outcome: Outcome[Any]) -> None:
        """Count a branch's outcome and ask the failure policy (lock held)."""
        self._live.discard(branch)
        self.fo._count(outcome)
        labels = None if outcome.ok else {outcome.index: branch.job.label}
        self.progress.add((outcome,), labels)
        self._done.append(outcome)
        if decide(self.fo.policy, self.progress).action == "raise":
            self._failed = True
            self._exhausted = True  # read no more: the fan-out stops
            self._wake.notify_all()
        elif self._stream or (self._exhausted and not self._live):
            self._wake.notify_all()

    # -- this thread -------------------------------------------------------------------------

    def _wait(self, deadline_at: float | None) -> tuple[list[Outcome[Any]], bool]:
        """Outcomes that came since, and whether every branch has ended."""
        with self._lock:
            while not (
                self._done
                or self._failed
                or self._error is not None
                or (self._exhausted and not self._live)
            ):
                left = None if deadline_at is None else deadline_at - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._wake.wait(left)
            batch = list(self._done)
            self._done.clear()
            return batch, self._exhausted and not self._live

    def iterate(self) -> Generator[Outcome[Any], None, None]:
        """Run the branches; yield their outcomes as they end (all at the end without
        ``stream``), applying the failure policy and the deadline as :meth:`FanOut.iterate`
        does. However it ends, no branch is left that the fan-out waits for."""
        fo = self.fo
        deadline_at = None if fo.deadline is None else time.monotonic() + fo.deadline
        reason = A.CANCEL_CALLER
        try:
            with self._read_lock, self._lock:
                self._spawn()
            while True:
                batch, over = self._wait(deadline_at)
                yield from batch
                if self._error is not None:
                    yield from self._stop(INPUT_FAILED)
                    raise self._error
                if self._failed:
                    verdict = decide(fo.policy, self.progress)
                    yield from self._stop(verdict.reason or A.CANCEL_FANOUT_CLOSED)
                    raise failure(fo.policy, self.progress, verdict, fo._what())
                if over:
                    break
                if deadline_at is not None and time.monotonic() >= deadline_at:
                    yield from self._stop(A.CANCEL_DEADLINE)
                    break
            verdict = decide(fo.policy, self.progress)
            if verdict.action == "raise":
                raise failure(fo.policy, self.progress, verdict, fo._what())
        except GeneratorExit:
            reason = A.CANCEL_FANOUT_CLOSED
            raise
        finally:
            if not self.stop.is_set():
                for _ in self._stop(reason):
                    pass
            fo.size = self.read
            self._helpers.close()

    def _stop(self, reason: str) -> Iterator[Outcome[Any]]:
        """Stop reading, abandon every branch still in line or running, and yield what ended."""
        fo = self.fo
        reasons = fo._reasons
        with self._read_lock, self._lock:
            self.stop.set()
            self._exhausted = True
            self._count_read()
            live = sorted(self._live, key=lambda b: b.job.index or 0)
            self._live.clear()
            ended = list(self._done)
            self._done.clear()
        for limiter in {lim for b in live for lim in b.job.policy.limiters}:
            limiter.interrupt()  # wake the threads still waiting for a slot
        for branch in live:
            job = branch.job
            reasons[job.index if job.index is not None else -1] = reason
            end = abandon(branch, parent=fo.context, kind=fo.kind, reasons=reasons)
            if end is None:
                continue
            outcome = end if isinstance(end, Outcome) else fo._cancelled_outcome(job, end)
            ended.append(FanOut._tally(self.progress, [fo._count(outcome)], [job])[0])
        if reason == A.CANCEL_DEADLINE and self._sized:
            # the items of a sized input not read yet: each ends timeout, as on the async path
            for job in self._jobs:
                self.read += 1
                job.submitted = self._submitted
                index = job.index if job.index is not None else -1
                reasons[index] = A.CANCEL_DEADLINE
                self.progress.pending += 1
                ended.append(FanOut._tally(self.progress, [fo._unstarted(job)], [job])[0])
                reasons.pop(index, None)
        yield from ended


def collect(outcomes: Iterable[Outcome[Any]], on_error: str, size: int | None) -> list[Any]:
    """What ``on_error`` keeps of ``outcomes``, in input order (as :meth:`FanOut.results`)."""
    kept: list[Any] = [_MISSING] * size if size is not None else []
    for outcome in outcomes:
        index = outcome.index
        if index >= len(kept):
            kept.extend([_MISSING] * (index + 1 - len(kept)))
        if on_error == "collect":
            kept[index] = outcome
        elif outcome.ok:
            kept[index] = outcome.value
    return [value for value in kept if value is not _MISSING]


_MISSING: Any = object()


def reduce_sync(reduce: Callable[[Any], Any] | None, value: Any) -> Any:
    """Apply a ``reduce`` from sync code (an async one is run to its end on a private loop)."""
    if reduce is None:
        return value
    result = reduce(value)
    if inspect.isawaitable(result):
        result = run_sync(_awaited(result))
    return result


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
