"""The sync path: a fan-out of plain ``def`` functions run on threads, with no event loop.

``f.map(xs)`` on a plain ``def`` (and ``fanscope.gather`` over functions) runs each branch on
a worker thread the fan-out owns: the thread reads the next item and runs the whole branch
(:func:`~fanscope.sdk.thread_branch.run`: its limiters, span, attempts, retries and wait in
line), as a hand-written ``ThreadPoolExecutor`` job would, then counts its outcome under the
failure policy (:func:`~fanscope.sdk.policy.decide`, the async path's own). The calling
thread only waits: for the end, for the first failure that stops the fan-out, or for the
deadline (``as_completed`` is handed each outcome as it comes). The fan-out span, its
counts, fan-in, budget and the outcomes of branches ended early are :class:`FanOut`'s.

Threads: at most the fan-out's cap of them, started as items are read (one starts when an
item finds no thread free); a branch sleeping before a retry gives its limiter slot back
and lets one more thread start, as an async branch lets one more task start.

When the fan-out stops early (a failure under ``on_error="raise"``, ``min_successes`` out of
reach, the deadline, the caller leaving ``as_completed``, the input failing), the calling
thread abandons the branches still in line or running
(:func:`~fanscope.sdk.thread_branch.abandon`) and returns at once; their threads finish in
the background.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sized
from typing import Any

from fanscope.sdk import attributes as A
from fanscope.sdk.branch import Job
from fanscope.sdk.fanout import INPUT_FAILED, FanOut
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.policy import Progress, decide, failure
from fanscope.sdk.thread_branch import Branch, Helpers, abandon, run
from fanscope.sdk.threads import run_sync

_UNKNOWN = 1 << 60  # branches still to come from an input of unknown length


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
        self._error_reason = INPUT_FAILED  # why the others stop: the input's, or a sibling's
        self.progress = Progress(pending=self._expected, keep_failures=fo.policy.can_raise)
        self._helpers = Helpers(f"{name} attempt")
        self._submitted = fo.started or time.time_ns()
        # each thread runs in a copy of the caller's context: a tracer provider set for it
        # (use_tracer_provider), and anything else the caller's context holds, carry over
        self._context = contextvars.copy_context()

    # -- the threads ---------------------------------------------------------------------

    def _more(self) -> int:
        """Count in a thread for the next branch when none is free and the cap allows (lock
        held); its number, for :meth:`_start` to start once the locks are let go (0: none).
        Starting a thread waits for it to run: no other thread should wait behind that."""
        if self._exhausted:  # set with stop, under both locks
            return 0
        if self._threads > self._running + self._asleep:  # one is free: it reads next
            return 0
        if self._limit is not None and self._threads >= self._limit + self._asleep:
            return 0
        self._threads += 1
        self._numbered += 1
        return self._numbered

    def _start(self, number: int) -> None:
        if number:
            threading.Thread(
                target=self._context.copy().run,
                args=(self._work,),
                name=f"fanscope {self._name} {number}",
                daemon=True,
            ).start()

    def _pause(self, asleep: bool) -> None:
        with self._lock:
            self._running += -1 if asleep else 1
            self._asleep += 1 if asleep else -1
            number = self._more() if asleep else 0
        self._start(number)

    def _next(self, late: bool) -> Branch | None:
        """The next branch to run, or ``None`` at the end of the input or once stopped."""
        with self._read_lock:
            if self._exhausted:  # set with stop, under both locks
                return None
            try:
                job = next(self._jobs, None)
            except BaseException as exc:  # the input's own error
                with self._lock:
                    self._exhausted = True
                    self._error = self._error or exc
                    self._wake.notify_all()
                return None
            if job is None:
                with self._lock:
                    self._exhausted = True
                    self._count_read()
                    if not self._live:
                        self._wake.notify_all()
                return None
            job.submitted = self._submitted
            if late and job.policy.limiters:
                # read once a thread was free: it waited in line since the fan-out began
                job.waited_on = job.policy.limiters[0].name
            branch = Branch(job)  # made before the lock that every thread takes
            with self._lock:
                self.read += 1
                self._live.add(branch)
                self._running += 1
                number = self._more()
        self._start(number)
        return branch

    def _count_read(self) -> None:
        """The input is read no further: what is pending is what was read (lock held)."""
        self.progress.pending -= self._expected - self.read
        self._expected = self.read

    def _work(self) -> None:
        fo, late, stop, pause = self.fo, False, self.stop, self._pause
        parent, kind, helpers = fo.context, fo.kind, self._helpers
        try:
            while (branch := self._next(late)) is not None:
                try:
                    outcome = run(
                        branch, stop, parent=parent, kind=kind, helpers=helpers, pause=pause
                    )
                except BaseException as exc:
                    with self._lock:
                        self._running -= 1
                        self._live.discard(branch)
                        if self._error is None:
                            self._error, self._error_reason = exc, A.CANCEL_SIBLING_FAILED
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
                number = self._more()
            self._start(number)
            while True:
                batch, over = self._wait(deadline_at)
                yield from batch
                if self._error is not None:
                    yield from self._stop(self._error_reason)
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
