"""The cap's line: slots of a concurrency cap, waited for in FIFO order by tasks and threads.

:class:`SlotLine` is the cap half of a :class:`~fanscope.sdk.limits.Limiter` (which adds the
rate limits, the retry-after pause and the model calls' pacing). It is a FIFO semaphore with
direct hand-over whose waiters are futures created on the waiting task's own loop, or a blocked
thread's own event: a released slot is handed to the longest waiter, on that waiter's loop
(``call_soon_threadsafe`` when it is another loop), so no loop ever resolves another loop's
future. A sync fan-out's threads wait in the same line as the tasks of every loop.

With a shared backend (Redis), slots are leases taken from the server; the backend's thread
asks for slots for every waiter and hands them over here (:meth:`SlotLine._serve_shared`).

Thread- and loop-safe since 0.2: before, a slot released on one loop could wake a waiter
of another loop from the wrong thread, and that waiter never woke.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, TypeVar

from fanscope.sdk.redis_ledger import Unavailable

if TYPE_CHECKING:
    from fanscope.sdk.redis_backend import SharedLimit

W = TypeVar("W", "_Waiter", "_ThreadWaiter")


class _Waiter:
    """A task waiting for a slot: its future, the loop it belongs to, and whether it got one."""

    __slots__ = ("fut", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.fut: asyncio.Future[None] = loop.create_future()
        self.granted = False


class _ThreadWaiter:
    """A thread waiting for a slot (the sync path): an event to block on, and its fan-out's
    stop, which :meth:`SlotLine.interrupt` honours."""

    __slots__ = ("event", "granted", "stop")

    def __init__(self, stop: threading.Event | None) -> None:
        self.event = threading.Event()
        self.stop = stop
        self.granted = False


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class SlotLine:
    """The slots of a cap and the line of those waiting for one, under one lock.

    The :class:`~fanscope.sdk.limits.Limiter` that subclasses it says what the cap is now
    (``max_concurrency``) and whether it is shared (``_shared``); the same lock also guards
    its rate and pause, so the cap and the rate hold across threads.
    """

    _shared: SharedLimit | None

    def __init__(self) -> None:
        self._in_use = 0
        self._waiters: deque[_Waiter | _ThreadWaiter] = deque()
        self._lock = threading.Lock()

    @property
    def max_concurrency(self) -> int | None:
        raise NotImplementedError

    def _cap(self) -> int | None:
        """The cap this process enforces on its own (all of it; a share when Redis is down)."""
        cap = self.max_concurrency
        if cap is not None and self._shared is not None:
            cap = max(1, int(cap * self._shared.local_share))
        return cap

    @property
    def in_use(self) -> int:
        """Slots held right now (by this process)."""
        return self._in_use

    def _take_or_join(self, make: Callable[[], W]) -> W | bool:
        """Take a slot at once (``True``), or join the line with the waiter ``make()`` makes
        (returned). ``False``: the fan-out of a thread waiter has stopped: neither."""
        max_concurrency = self.max_concurrency
        assert max_concurrency is not None
        shared = self._shared
        if shared is not None and shared.up():
            with self._lock:
                first = not self._waiters
            try:
                if first and shared.take(max_concurrency, 1):
                    with self._lock:
                        self._in_use += 1
                    return True
            except Unavailable:
                pass
        with self._lock:
            cap = self._cap()
            if (
                (shared is None or not shared.up())
                and cap is not None
                and self._in_use < cap
                and not self._waiters
            ):
                self._in_use += 1
                return True
            waiter = make()
            stop = waiter.stop if isinstance(waiter, _ThreadWaiter) else None
            if stop is not None and stop.is_set():  # checked under the lock interrupt() takes
                return False
            self._waiters.append(waiter)
        if shared is not None:
            shared.backend.kick()  # its thread asks Redis for slots for every waiter
        return waiter

    async def acquire_slot(self) -> None:
        """Take a slot under the cap, waiting in FIFO order when it is full."""
        if self.max_concurrency is None:
            return
        loop = asyncio.get_running_loop()
        waiter = self._take_or_join(lambda: _Waiter(loop))
        if isinstance(waiter, bool):
            return
        try:
            await waiter.fut  # release() hands its slot over directly: _in_use already counts us
        except asyncio.CancelledError:
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted:
                self.release()  # the slot arrived together with the cancellation: pass it on
            raise

    def _serve_shared(self) -> bool:
        """Hand slots from Redis (or the local limit while it is down) to waiting branches.

        Runs on the backend's thread; returns whether branches still wait.
        """
        shared = self._shared
        cap = self.max_concurrency
        with self._lock:
            want = len(self._waiters)
        if shared is None or not want or cap is None:
            return False
        leases = 0
        if shared.up():
            try:
                leases = shared.take(cap, want)
            except Unavailable:
                self._grant()
        else:
            self._grant()
        for _ in range(leases):
            with self._lock:
                waiter = self._waiters.popleft() if self._waiters else None
                if waiter is not None:
                    waiter.granted = True
                    self._in_use += 1
            if waiter is None or not self._wake(waiter):
                if waiter is not None:
                    with self._lock:
                        waiter.granted = False
                        self._in_use -= 1
                with suppress(Unavailable):
                    shared.give()
        with self._lock:
            return bool(self._waiters)

    def acquire_slot_blocking(self, stop: threading.Event | None = None) -> bool:
        """:meth:`acquire_slot` for a thread: block it until a slot is handed to it (FIFO,
        with the tasks of every loop). Returns ``False``, holding nothing, when ``stop`` is
        set first and :meth:`interrupt` is called."""
        if self.max_concurrency is None:
            return True
        waiter = self._take_or_join(lambda: _ThreadWaiter(stop))
        if isinstance(waiter, bool):
            return waiter
        waiter.event.wait()
        return waiter.granted  # not granted: interrupt() took it out of the line

    def interrupt(self) -> None:
        """Wake the threads waiting for a slot whose ``stop`` is set: they get none."""
        with self._lock:
            stopped = [
                w
                for w in self._waiters
                if isinstance(w, _ThreadWaiter) and w.stop is not None and w.stop.is_set()
            ]
            for waiter in stopped:
                self._waiters.remove(waiter)
        for waiter in stopped:
            waiter.event.set()

    def release(self) -> None:
        """Give a slot back (to the longest waiter, if any, on that waiter's own loop)."""
        shared = self._shared
        if shared is not None and shared.leases:
            with self._lock:
                self._in_use -= 1
                waiting = bool(self._waiters)
            with suppress(Unavailable):
                shared.give(kick=waiting)  # the thread serves this process's waiters
            return
        with self._lock:  # the common case, once per branch: nobody waits
            if not self._waiters and self._in_use:
                self._in_use -= 1
                return
        cap = self._cap()
        if cap is None and not self._in_use:
            return
        while True:
            with self._lock:
                if not self._waiters or (cap is not None and self._in_use > cap):
                    self._in_use -= 1  # the cap shrank below what is held: not handed over
                    return
                waiter = self._waiters.popleft()
                waiter.granted = True
            if self._wake(waiter):
                return
            with self._lock:  # its loop is closed: nobody will take the slot, pass it on
                waiter.granted = False

    def _grant(self) -> None:
        """The cap grew: hand the new slots to waiters."""
        if self._shared is not None and self._shared.up():
            self._shared.backend.kick()
            return
        while True:
            cap = self._cap()
            with self._lock:
                if not self._waiters or (cap is not None and self._in_use >= cap):
                    return
                waiter = self._waiters.popleft()
                waiter.granted = True
                self._in_use += 1
            if not self._wake(waiter):
                with self._lock:
                    waiter.granted = False
                    self._in_use -= 1

    @staticmethod
    def _wake(waiter: _Waiter | _ThreadWaiter) -> bool:
        if isinstance(waiter, _ThreadWaiter):
            waiter.event.set()
            return True
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is waiter.loop:
            _resolve(waiter.fut)
            return True
        try:
            waiter.loop.call_soon_threadsafe(_resolve, waiter.fut)
        except RuntimeError:  # the loop was closed while its task waited
            return False
        return True
