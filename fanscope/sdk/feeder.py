"""Reading a fan-out's input and starting its branch tasks, as room and slots allow.

:class:`Feeder` is the fan-out's intake: it reads the jobs (a list, a generator, an async
iterable) only as fast as branches can start, takes each job's limiters before its task
starts when the fan-out has a window, and counts what it read so the failure policy knows
what is still to come. It is apart from :class:`~fanscope.sdk.fanout.FanOut`, which counts
outcomes, applies the policy and the deadline, and cancels what is left: reading the input is
one concern (back-pressure, submission times, an input that fails), deciding about outcomes
another. The code each branch goes through here is the fan-out's hot path: keep it lean.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sized
from typing import TYPE_CHECKING, Any

from fanscope.sdk.admission import wait_first
from fanscope.sdk.branch import Job, run_branch
from fanscope.sdk.outcomes import Outcome
from fanscope.sdk.policy import Progress

if TYPE_CHECKING:
    from fanscope.sdk.fanout import FanOut

_UNKNOWN = sys.maxsize // 4  # branches still to come from an input of unknown length


class Feeder:
    """Reads a fan-out's jobs and starts their branch tasks, as room and slots allow.

    With a ``window`` (a fan-out with a cap), a job is read only when fewer than ``window``
    branch tasks are alive, and its task starts only once every limiter of the job has
    given it a slot for its first attempt: the memory of a fan-out of a million items is
    that of ``window`` branches, plus its results. Items of a plain iterable count as
    submitted at the fan-out's start, and items of an async iterable when they are read:
    their wait in line runs from then until their slot (``docs/conventions.md``).
    """

    def __init__(
        self,
        fanout: FanOut,
        jobs: Iterable[Job] | AsyncIterable[Job],
        window: int | None,
        ended: Callable[[], None],
        wake: asyncio.Event,
    ) -> None:
        self.fanout = fanout
        self.window = window
        self.ended = ended
        self.live: dict[asyncio.Task[Outcome[Any]], Job] = {}
        self.read = 0
        self.expected = len(jobs) if isinstance(jobs, Sized) else _UNKNOWN
        self.progress: Progress | None = None
        self._sync: Iterator[Job] | None = None
        self._async: AsyncIterator[Job] | None = None
        if isinstance(jobs, AsyncIterable):
            self._async = aiter(jobs)
        else:
            self._sync = iter(jobs)
        self._hand: Job | None = None  # read, waiting for its slots
        self._loop = asyncio.get_running_loop()
        # what each branch task runs: made once, a branch is then one call with one argument
        parent, kind, reasons = fanout.context, fanout.kind, fanout._reasons
        self._branch = functools.partial(
            run_branch, parent=parent, kind=kind, reasons=reasons, ended=ended
        )
        self._task: asyncio.Task[None] | None = None
        self._wake = wake
        self._room = asyncio.Event()
        self._counted = False  # progress.pending counts exactly the items read
        self._started_at = fanout.started or time.time_ns()
        # an item of a plain iterable read after the feeder had to wait has waited in line
        # since the fan-out's start, even when its slot is free once it is read
        self._late = False

    def room(self) -> None:
        if self.window is not None and len(self.live) < self.window:
            self._room.set()

    @property
    def done(self) -> bool:
        """The input is read to its end (or no more of it will be read)."""
        return self._task is None or self._task.done()

    @property
    def error(self) -> BaseException | None:
        """The error reading the input raised, if it did."""
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    def start(self) -> None:
        """Start what can start at once, then read the rest in a task of its own.

        Branches that need no wait start here, in the caller's step, as a ``gather`` starts
        its awaitables; the feeding task takes over at the first wait (for room, for a slot,
        for an item of an async iterable).
        """
        if self._sync is not None and self._fill():
            self._count_read()
            return
        self._task = self._loop.create_task(self._run())
        self._task.add_done_callback(lambda _: self._wake.set())

    def _fill(self) -> bool:
        """Start the branches of a plain iterable that can start now; ``True`` at its end."""
        assert self._sync is not None
        window, live = self.window, self.live
        while window is None or len(live) < window:
            job = next(self._sync, None)
            if job is None:
                return True
            job.submitted = self._started_at
            self.read += 1
            limiters = job.policy.limiters
            if window is not None and limiters:
                if len(limiters) != 1 or not limiters[0].try_acquire():
                    self._hand = job  # the feeding task waits for its slots
                    return False
                job.admitted = True
            self._start(job)
        return False

    def _start(self, job: Job) -> None:
        self.live[self._loop.create_task(self._branch(job))] = job

    async def _next(self) -> Job | None:
        """The next job of an async iterable (``None`` at its end)."""
        assert self._async is not None
        try:
            job = await anext(self._async)
        except StopAsyncIteration:
            return None
        job.submitted = time.time_ns()
        self._late = False  # an item of an async iterable waits from when it was read
        return job

    async def _run(self) -> None:
        window, live = self.window, self.live
        while True:
            job = self._hand
            if job is None:
                if window is not None:
                    while len(live) >= window:
                        self._room.clear()
                        self._late = True
                        await self._room.wait()
                if self._sync is not None:  # no coroutine per item of a plain iterable
                    job = next(self._sync, None)
                    if job is not None:
                        job.submitted = self._started_at
                else:
                    job = await self._next()
                if job is None:
                    break
                self.read += 1
                self._hand = job
            limiters = job.policy.limiters
            if window is not None and limiters:
                if len(limiters) == 1 and limiters[0].try_acquire():
                    waited_on = None  # the common case, without a coroutine
                else:
                    waited_on = await wait_first(limiters)
                job.admitted = True
                if waited_on is not None:
                    self._late = True
                elif self._late:
                    waited_on = limiters[0].name
                job.waited_on = waited_on
            self._hand = None
            self._start(job)
        self._count_read()

    def _count_read(self) -> None:
        """The input is read no further: what is pending is what was read and not ended."""
        if not self._counted and self.progress is not None:
            self._counted = True
            self.progress.pending -= self.expected - self.read

    async def stop(self, reason: str) -> Job | None:
        """Stop reading; return the job read but not started, if any (it ended in line)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        self._task = None
        self._count_read()
        job, self._hand = self._hand, None
        if job is not None:
            self.fanout._reasons[job.index if job.index is not None else -1] = reason
        return job

    def rest(self) -> Iterator[Job]:
        """The jobs of a sized input not read yet (none for any other input)."""
        if self.expected == _UNKNOWN or self._sync is None:
            return
        for job in self._sync:
            self.read += 1
            job.submitted = self._started_at
            yield job
