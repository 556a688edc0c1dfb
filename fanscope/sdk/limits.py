"""Limiters: a concurrency cap, a rate limit, and a pause for retry-after, in one object.

A :class:`Limiter` is what a branch waits on before each attempt. Every ``@parallel``
function owns one (built from its ``max_concurrency`` and ``rate`` options); pass the same
``Limiter`` to several functions to give them one shared budget, e.g. every call to one
provider.

Why our own instead of ``asyncio.Semaphore`` and aiolimiter: the runtime must know *before*
waiting whether it will wait, so that it can open a ``queue wait`` span only then, and why
(``cap`` or ``rate``), and one limiter must serve several event loops and threads at once
(a sync fan-out runs on a loop of its own, a program may call ``asyncio.run`` twice, a web
server may run a loop per thread). The cap below is a FIFO semaphore with direct hand-over
whose waiters are futures created on the waiting task's own loop: a released slot is handed
to the longest waiter, on that waiter's loop (``call_soon_threadsafe`` when it is another
loop), so no loop ever resolves another loop's future. The rate limit is GCRA (the generic
cell rate algorithm, a token bucket expressed as one timestamp): no background task, and the
delay of each request is known when it asks. One lock guards the counts, the waiters, the
GCRA timestamp and the pause, so the cap and the rate hold across threads.

Thread- and loop-safe since 0.2: before, a slot released on one loop could wake a waiter
of another loop from the wrong thread, and that waiter never woke.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Literal

from fanscope.errors import ConfigurationError

WaitReason = Literal["cap", "rate"]


class RateLimit:
    """At most ``requests`` per ``per`` seconds, with bursts of up to ``requests``.

    Args:
        requests: requests allowed per period; must be > 0.
        per: the period in seconds (``1`` for per second, ``60`` for per minute); must be > 0.
    """

    __slots__ = ("_interval", "_tat", "_tolerance", "per", "requests")

    def __init__(self, requests: float, per: float = 1.0) -> None:
        if not requests > 0:
            raise ConfigurationError(
                "rate limit 'requests' must be > 0", requests, "e.g. RateLimit(50, per=60)"
            )
        if not per > 0:
            raise ConfigurationError(
                "rate limit 'per' must be > 0 seconds", per, "use per=1 or per=60"
            )
        self.requests = requests
        self.per = float(per)
        self._interval = self.per / requests
        self._tolerance = self.per - self._interval
        self._tat = 0.0  # theoretical arrival time of the next request

    def delay(self, now: float) -> float:
        """Seconds a request arriving at ``now`` must wait (0.0 when it may go at once)."""
        return max(0.0, max(self._tat, now) - self._tolerance - now)

    def reserve(self, now: float) -> float:
        """Reserve the next slot; return how long to wait for it."""
        tat = max(self._tat, now)
        wait = max(0.0, tat - self._tolerance - now)
        self._tat = tat + self._interval
        return wait

    def __repr__(self) -> str:
        return f"RateLimit({self.requests!r}, per={self.per!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RateLimit):
            return NotImplemented
        return (self.requests, self.per) == (other.requests, other.per)

    def __hash__(self) -> int:
        return hash((self.requests, self.per))


def _rate_of(rate: RateLimit | float | None) -> RateLimit | None:
    if rate is None or isinstance(rate, RateLimit):
        return rate
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ConfigurationError(
            "rate must be requests per second or a RateLimit",
            rate,
            "pass rate=10 (per second) or rate=RateLimit(600, per=60)",
        )
    return RateLimit(rate, per=1.0)


class _Waiter:
    """A task waiting for a slot: its future, the loop it belongs to, and whether it got one."""

    __slots__ = ("fut", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.fut: asyncio.Future[None] = loop.create_future()
        self.granted = False


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Limiter:
    """A concurrency cap plus an optional rate limit, shared by everything that uses it.

    Args:
        max_concurrency: calls in flight at once; ``None`` for no cap; must be >= 1.
        rate: requests per second (a number) or a :class:`RateLimit`; ``None`` for none.
        name: shown in spans (``fanscope.queue.limiter``) and reprs.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        max_concurrency: int | None = None,
        *,
        rate: RateLimit | float | None = None,
        name: str = "limiter",
    ) -> None:
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ConfigurationError(
                "max_concurrency must be a whole number >= 1",
                max_concurrency,
                "use max_concurrency=None for no cap, or e.g. max_concurrency=8",
            )
        self.max_concurrency = max_concurrency
        self.rate = _rate_of(rate)
        self.name = name
        self._in_use = 0
        self._waiters: deque[_Waiter] = deque()
        self._resume_at = 0.0
        self._lock = threading.Lock()

    # -- introspection ------------------------------------------------------------------------

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        return self._in_use

    def wait_reason(self) -> WaitReason | None:
        """Why an acquire made now would wait: ``"cap"``, ``"rate"``, or ``None`` (it would not)."""
        with self._lock:
            if self.max_concurrency is not None and (
                self._in_use >= self.max_concurrency or self._waiters
            ):
                return "cap"
            return self._rate_reason(time.monotonic())

    def _rate_reason(self, now: float) -> WaitReason | None:
        if self._resume_at > now or (self.rate is not None and self.rate.delay(now) > 0):
            return "rate"
        return None

    def paused_for(self) -> float:
        """Seconds left of the pause a ``retry-after`` put on this limiter (0.0: none)."""
        return max(0.0, self._resume_at - time.monotonic())

    # -- the slot -----------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take a slot and a rate token at once if both are free now; never waits."""
        with self._lock:
            if self.max_concurrency is not None and (
                self._in_use >= self.max_concurrency or self._waiters
            ):
                return False
            if self.rate is not None or self._resume_at:
                now = time.monotonic()
                if self._resume_at > now or (self.rate is not None and self.rate.delay(now) > 0):
                    return False
                if self.rate is not None:
                    self.rate.reserve(now)
            if self.max_concurrency is not None:
                self._in_use += 1
            return True

    async def acquire_slot(self) -> None:
        """Take a slot under the cap, waiting in FIFO order when it is full."""
        if self.max_concurrency is None:
            return
        with self._lock:
            if self._in_use < self.max_concurrency and not self._waiters:
                self._in_use += 1
                return
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
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

    def reserve_rate(self) -> float:
        """Reserve the next request under the rate limit and any retry-after pause.

        Returns:
            Seconds the caller must sleep before sending (0.0 when it may go at once). A
            pause that a later ``retry-after`` extends meanwhile is not in this figure: check
            :meth:`paused_for` again right before sending.
        """
        with self._lock:
            now = time.monotonic()
            wait = max(0.0, self._resume_at - now)
            if self.rate is not None:
                wait += self.rate.reserve(now + wait)
            return wait

    def release(self) -> None:
        """Give a slot back (to the longest waiter, if any, on that waiter's own loop)."""
        if self.max_concurrency is None:
            return
        while True:
            with self._lock:
                if not self._waiters:
                    self._in_use -= 1
                    return
                waiter = self._waiters.popleft()
                waiter.granted = True
            if self._wake(waiter):
                return
            with self._lock:  # its loop is closed: nobody will take the slot, pass it on
                waiter.granted = False

    @staticmethod
    def _wake(waiter: _Waiter) -> bool:
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

    def pause(self, seconds: float) -> None:
        """Hold back every new attempt for ``seconds`` (a provider said ``retry-after``)."""
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def __repr__(self) -> str:
        return (
            f"Limiter(max_concurrency={self.max_concurrency!r}, rate={self.rate!r}, "
            f"name={self.name!r})"
        )
