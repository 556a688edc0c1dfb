"""Limiters: a concurrency cap, a rate limit, and a pause for retry-after, in one object.

A :class:`Limiter` is what a branch waits on before each attempt. Every ``@parallel``
function owns one (built from its ``max_concurrency`` and ``rate`` options); pass the same
``Limiter`` to several functions to give them one shared budget, e.g. every call to one
provider.

Why our own instead of ``asyncio.Semaphore`` and aiolimiter: the runtime must know *before*
waiting whether it will wait, so that it can open a ``queue wait`` span only then, and why
(``cap`` or ``rate``), and one limiter must serve several event loops and threads at once
(a sync fan-out's threads wait on it directly, a program may call ``asyncio.run`` twice, a
web server may run a loop per thread). The cap is the FIFO line of
:mod:`fanscope.sdk.slot_line` (direct hand-over, each waiter woken on its own loop or
thread); the rate limit is the GCRA of :mod:`fanscope.sdk.rate_limit`. One lock guards the
counts, the waiters, the GCRA timestamp and the pause, so the cap and the rate hold across
threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import trace

from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk import permits
from fanscope.sdk.adaptive import Adaptive, Decision
from fanscope.sdk.arguments import check_flag, check_name, checked
from fanscope.sdk.meters import Meter
from fanscope.sdk.pacing import Pacing
from fanscope.sdk.permits import Demand, Ledger, Observation
from fanscope.sdk.rate_limit import RateLimit, rate_of
from fanscope.sdk.redis_ledger import Unavailable
from fanscope.sdk.slot_line import SlotLine

if TYPE_CHECKING:
    from fanscope.sdk.redis_backend import RedisBackend

__all__ = ["Limiter", "RateLimit", "WaitReason"]

WaitReason = Literal["cap", "rate"]


def _per_minute(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"{name} must be a number > 0", value, f"pass e.g. {name}=40_000, or leave it out"
        )
    return float(value)


class Limiter(SlotLine):
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

    @checked("fanscope.Limiter")
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
        check_name("Limiter", name, optional=False)
        check_flag("follow_headers", follow_headers, where="Limiter ")
        self._static_cap = max_concurrency
        self.adaptive = adaptive
        self.rate = rate_of(rate)
        self.name = name
        self.decisions: list[tuple[float, Decision]] = []  # (wall time, decision), newest last
        #: called after each change of an adaptive cap (a fan-out records its cap's changes)
        self._watchers: list[Callable[[], None]] = []
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
        super().__init__()
        self.backend = backend
        self._shared = None
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

    # -- introspection ------------------------------------------------------------------------

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
        rate, pause = self.rate, self.pacing.pause
        with self._lock:  # every branch comes here: the cap read inline, not by _cap()
            adaptive = self.adaptive
            cap = self._static_cap if adaptive is None else adaptive.value
            if cap is not None and shared is not None:
                cap = max(1, int(cap * shared.local_share))
            if cap is not None and (self._in_use >= cap or self._waiters):
                return False
            if rate is not None or pause.resume_at:
                now = time.monotonic()
                if pause.resume_at > now or (rate is not None and rate.delay(now) > 0):
                    return False
                if rate is not None:
                    rate.reserve(now)
            if cap is not None:
                self._in_use += 1
            return True

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

    def pause(self, seconds: float) -> None:
        """Hold back every new attempt and model call for ``seconds`` (``retry-after``)."""
        with self._lock, permits.LOCK:  # the cap's lock too: attempts read it under that one
            self.pacing.pause.extend(time.monotonic() + seconds)
        if self._shared is not None and self._shared.up():
            with suppress(Unavailable):
                self._shared.pause(seconds)  # every process sharing the limit pauses

    # -- model calls (the permits of fanscope.sdk.permits) ----------------------------------

    def meters(self, demand: Demand) -> Sequence[tuple[Ledger, Meter]]:
        """What a model call under this limiter reserves: its rates, the provider's, a pause."""
        return self.pacing.meters(demand)

    def sending(self, demand: Demand, sign: int, seq: int) -> None:
        """A model call under this limiter is sent or over: the pacing counts it in flight."""
        self.pacing.sending(demand, sign, seq)

    def observe(self, event: Observation) -> None:
        """What one answer said: headers, a 429, latency; pace and adapt to it."""
        if event.remaining:
            self.pacing.hear(event.remaining, event.sent_seq)
        if event.retry_after is not None and event.status in (429, 529):
            self.pause(event.retry_after)
        if self.adaptive is None:
            return
        now = time.monotonic()
        held = self._in_use
        before = self.adaptive.limit
        was = self.adaptive.value
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
        if self._watchers and self.adaptive.value != was:
            for watcher in tuple(self._watchers):
                watcher()

    def watch(self, watcher: Callable[[], None]) -> None:
        """Call ``watcher`` after each change of the adaptive cap, until :meth:`unwatch`."""
        self._watchers.append(watcher)

    def unwatch(self, watcher: Callable[[], None]) -> None:
        with suppress(ValueError):
            self._watchers.remove(watcher)

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
