"""Limiters: a concurrency cap, a rate limit, and a pause for retry-after, in one object.

A :class:`Limiter` is what a branch waits on before each attempt. Every ``@parallel``
function owns one (built from its ``max_concurrency`` and ``rate`` options); pass the same
``Limiter`` to several functions to give them one shared budget, e.g. every call to one
provider.

Why our own instead of ``asyncio.Semaphore`` and aiolimiter: the runtime must know *before*
waiting whether it will wait, so that it can open a ``queue wait`` span only then, and why
(``cap`` or ``rate``), and one limiter must serve several event loops and threads at once
(a sync fan-out's threads wait on it directly, a program may call ``asyncio.run`` twice, a
web server may run a loop per thread). The cap below is a FIFO semaphore with direct
hand-over whose waiters are futures created on the waiting task's own loop, or a blocked
thread's own event: a released slot is handed to the longest waiter, on that waiter's loop
(``call_soon_threadsafe`` when it is another loop), so no loop ever resolves another loop's
future. The rate limit is GCRA (the generic
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
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from opentelemetry import trace

from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk import permits
from fanscope.sdk.adaptive import Adaptive, Decision
from fanscope.sdk.pacing import Pacing
from fanscope.sdk.permits import Demand, Ledger, Meter, Observation
from fanscope.sdk.redis_ledger import Unavailable

if TYPE_CHECKING:
    from fanscope.sdk.redis_backend import RedisBackend, SharedLimit

WaitReason = Literal["cap", "rate"]
W = TypeVar("W", "_Waiter", "_ThreadWaiter")


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


class _ThreadWaiter:
    """A thread waiting for a slot (the sync path): an event to block on, and its fan-out's
    stop, which :meth:`Limiter.interrupt` honours."""

    __slots__ = ("event", "granted", "stop")

    def __init__(self, stop: threading.Event | None) -> None:
        self.event = threading.Event()
        self.stop = stop
        self.granted = False


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _per_minute(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"{name} must be a number > 0", value, f"pass e.g. {name}=40_000, or leave it out"
        )
    return float(value)


class Limiter:
    """A concurrency cap, rate limits of requests and tokens, and the provider's own word.

    Args:
        max_concurrency: calls in flight at once: a whole number >= 1, ``"auto"`` to learn it
            (:class:`~fanscope.sdk.adaptive.Adaptive`), or ``None`` for no cap.
        rate: branch attempts per second (a number) or a :class:`RateLimit`; ``None`` for none.
        name: shown in spans (``fanscope.queue.limiter``) and reprs; the key of a shared limit.
        requests_per_minute: model calls per minute (counted per call, by the integration).
        tokens_per_minute: input plus output tokens per minute; a call takes an upper bound of
            its input and ``max_tokens`` before it starts, and gives back what it did not use.
        input_tokens_per_minute: input tokens alone (the provider's ITPM).
        output_tokens_per_minute: output tokens alone (the provider's OTPM).
        adaptive: an :class:`~fanscope.sdk.adaptive.Adaptive` controller for the cap (what
            ``max_concurrency="auto"`` makes with its defaults).
        follow_headers: pace model calls to what the provider's rate-limit headers say remains
            (default on; it does nothing where no header is sent).
        backend: a :class:`~fanscope.RedisBackend` to share all of the above with every process
            whose limiter names the same key (``None``: this process alone).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 token limits, ``"auto"``, the provider's rate-limit headers,
       ``backend=`` (limits shared through Redis).
    """

    def __init__(
        self,
        max_concurrency: int | Literal["auto"] | None = None,
        *,
        rate: RateLimit | float | None = None,
        name: str = "limiter",
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
        adaptive: Adaptive | None = None,
        follow_headers: bool = True,
        backend: RedisBackend | None = None,
    ) -> None:
        if max_concurrency == "auto":
            adaptive = adaptive or Adaptive()
            max_concurrency = None
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ConfigurationError(
                "max_concurrency must be a whole number >= 1 or 'auto'",
                max_concurrency,
                "use max_concurrency=None for no cap, 'auto' to learn it, or e.g. 8",
            )
        if adaptive is not None and not isinstance(adaptive, Adaptive):
            raise ConfigurationError(
                "adaptive must be a fanscope Adaptive controller",
                adaptive,
                "pass adaptive=Adaptive(min=2, max=64), or max_concurrency='auto'",
            )
        self._static_cap = max_concurrency
        self.adaptive = adaptive
        self.rate = _rate_of(rate)
        self.name = name
        self.decisions: list[tuple[float, Decision]] = []  # (wall time, decision), newest last
        rates = {
            "requests_per_minute": _per_minute("requests_per_minute", requests_per_minute),
            "tokens_per_minute": _per_minute("tokens_per_minute", tokens_per_minute),
            "input_tokens_per_minute": _per_minute(
                "input_tokens_per_minute", input_tokens_per_minute
            ),
            "output_tokens_per_minute": _per_minute(
                "output_tokens_per_minute", output_tokens_per_minute
            ),
        }
        self._in_use = 0
        self._waiters: deque[_Waiter | _ThreadWaiter] = deque()
        self._lock = threading.Lock()
        self.backend = backend
        self._shared: SharedLimit | None = None
        if backend is not None:
            from fanscope.sdk.redis_backend import require_backend

            self._shared = require_backend(backend).bind(name, self._serve_shared)
        self.pacing = Pacing(name, follow_headers=follow_headers, shared=self._shared, **rates)

    @property
    def max_concurrency(self) -> int | None:
        """The cap now: fixed, or the adaptive controller's current limit."""
        if self.adaptive is not None:
            return self.adaptive.value
        return self._static_cap

    @property
    def _resume_at(self) -> float:
        return self.pacing.pause.resume_at

    def _cap(self) -> int | None:
        """The cap this process enforces on its own (all of it; a share when Redis is down)."""
        cap = self.max_concurrency
        if cap is not None and self._shared is not None:
            cap = max(1, int(cap * self._shared.local_share))
        return cap

    # -- introspection ------------------------------------------------------------------------

    @property
    def in_use(self) -> int:
        """Slots held right now (by this process)."""
        return self._in_use

    @property
    def shared(self) -> bool:
        """Whether the limit is shared with other processes (through a backend) right now."""
        return self._shared is not None and self._shared.up()

    def wait_reason(self) -> WaitReason | None:
        """Why an acquire made now would wait: ``"cap"``, ``"rate"``, or ``None`` (it would not)."""
        shared = self._shared
        with self._lock:
            if shared is not None and shared.up():
                if self.max_concurrency is not None and (self._waiters or shared.full):
                    return "cap"
            elif self._cap() is not None and (self._in_use >= (self._cap() or 0) or self._waiters):
                return "cap"
            return self._rate_reason(time.monotonic())

    def _rate_reason(self, now: float) -> WaitReason | None:
        if self._resume_at > now or (self.rate is not None and self.rate.delay(now) > 0):
            return "rate"
        if self._shared is not None and self._shared.pause_left() > 0:
            return "rate"
        return None

    def paused_for(self) -> float:
        """Seconds left of the pause a ``retry-after`` put on this limiter (0.0: none)."""
        left = max(0.0, self._resume_at - time.monotonic())
        if self._shared is not None:
            left = max(left, self._shared.pause_left())
        return left

    # -- the slot -----------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take a slot and a rate token at once if both are free now; never waits."""
        shared = self._shared
        if shared is not None and shared.up():
            cap = self.max_concurrency
            with self._lock:
                if (cap is not None and self._waiters) or self._resume_at > time.monotonic():
                    return False
            try:
                if not shared.try_admit(cap, self.rate):
                    return False
            except Unavailable:
                pass  # Redis is down: the local limit below
            else:
                if cap is not None:
                    with self._lock:
                        self._in_use += 1
                return True
        with self._lock:
            cap = self._cap()
            if cap is not None and (self._in_use >= cap or self._waiters):
                return False
            if self.rate is not None or self._resume_at:
                now = time.monotonic()
                if self._resume_at > now or (self.rate is not None and self.rate.delay(now) > 0):
                    return False
                if self.rate is not None:
                    self.rate.reserve(now)
            if cap is not None:
                self._in_use += 1
            return True

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

    def reserve_rate(self) -> float:
        """Reserve the next request under the rate limit and any retry-after pause.

        Returns:
            Seconds the caller must sleep before sending (0.0 when it may go at once). A
            pause that a later ``retry-after`` extends meanwhile is not in this figure: check
            :meth:`paused_for` again right before sending.
        """
        shared = self._shared
        if shared is not None and self.rate is not None and shared.up():
            with suppress(Unavailable):
                return max(shared.reserve_rate(self.rate), self._resume_at - time.monotonic())
        with self._lock:
            now = time.monotonic()
            wait = max(0.0, self._resume_at - now)
            if self.rate is not None:
                wait += self.rate.reserve(now + wait)
            return wait

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

    def pause(self, seconds: float) -> None:
        """Hold back every new attempt and model call for ``seconds`` (``retry-after``)."""
        with self._lock, permits.LOCK:  # the cap's lock too: attempts read it under that one
            pause = self.pacing.pause
            pause.resume_at = max(pause.resume_at, time.monotonic() + seconds)
        if self._shared is not None and self._shared.up():
            with suppress(Unavailable):
                self._shared.pause(seconds)  # every process sharing the limit pauses

    # -- model calls (the permits of fanscope.sdk.permits) ----------------------------------

    def meters(self, demand: Demand) -> Sequence[tuple[Ledger, Meter]]:
        """What a model call under this limiter reserves: its rates, the provider's, a pause."""
        return self.pacing.meters(demand)

    def observe(self, event: Observation) -> None:
        """What one answer said: headers, a 429, latency; pace and adapt to it."""
        if event.remaining:
            self.pacing.hear(event.remaining)
        if event.retry_after is not None and event.status in (429, 529):
            self.pause(event.retry_after)
        if self.adaptive is None:
            return
        now = time.monotonic()
        held = self._in_use
        before = self.adaptive.limit
        with self._lock:
            if event.status in (429, 529) or event.status is None:
                decision = self.adaptive.overload(
                    now, now - (event.latency or 0.0), held, timeout=event.status is None
                )
            elif event.status < 400 and event.latency is not None:
                decision = self.adaptive.success(now, event.latency, held, self.pacing.room())
            else:
                decision = None
        if self._shared is not None and self._shared.up():
            self._share_limit(before)
        if decision is not None:
            self._decided(decision)

    def _share_limit(self, before: float) -> None:
        """One adaptive limit for every process: apply this answer's change to the shared one.

        Growth adds up (each process's answers grow it as one controller's would); a cut takes
        the lower of the two; the result is the limit every process enforces from now on.
        """
        assert self._shared is not None and self.adaptive is not None
        adaptive = self.adaptive
        change = adaptive.limit - before
        op, value = ("=", adaptive.limit) if change < 0 else ("+", change)
        with suppress(Unavailable):
            adaptive.limit = self._shared.adjust(
                op, value, adaptive.min, adaptive.max, adaptive.initial
            )

    def _decided(self, decision: Decision) -> None:
        self.decisions.append((time.time(), decision))
        del self.decisions[:-1000]
        if decision.new > decision.old:
            self._grant()
        span = trace.get_current_span()
        if span.is_recording():
            attrs: dict[str, Any] = {
                A.LIMIT_NAME: self.name,
                A.LIMIT_OLD: decision.old,
                A.LIMIT_NEW: decision.new,
                A.LIMIT_REASON: decision.reason,
            }
            if decision.latency is not None:
                attrs[A.LIMIT_LATENCY] = decision.latency
            span.add_event(A.EVENT_LIMIT, attrs)

    def __repr__(self) -> str:
        cap = "'auto'" if self.adaptive is not None else repr(self.max_concurrency)
        extra = "".join(
            f", {m.unit}_per_minute={getattr(m, 'amount', 0):g}" for m in self.pacing.configured
        )
        if self.backend is not None:
            extra += f", backend={self.backend!r}"
        return f"Limiter(max_concurrency={cap}, rate={self.rate!r}{extra}, name={self.name!r})"
