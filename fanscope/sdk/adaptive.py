"""An adaptive concurrency limit: find what the provider sustains, within the user's bounds.

``max_concurrency="auto"`` (or ``Limiter(adaptive=Adaptive(...))``) lets this controller set
the cap from what each model call's answer says:

* a 429 or 529 (overload), or a call that got no answer in time (a client timeout): the limit
  is cut to ``backoff`` times what it was, at most once per round trip (answers to calls sent
  before the cut say nothing new about the new limit);
* latency: a short average against the no-load latency; above ``tolerance`` times it, the
  limit moves toward ``limit * tolerance * base / latency`` within a round trip, and does not
  grow. The no-load latency is the average latency at the lowest level of concurrency seen at
  least five times (levels: 1 call in flight, 2-3, 4-7, 8-15, ...; each a slow average of its
  own answers). Answers under load only move their own level, so a sustained overload cannot
  redefine itself as normal (Gradient2's long-term average drifts up with it);
* the rate-limit headers: while a bucket the provider announces is nearly empty, the limit
  does not grow (the pacing holds calls back already; more concurrency would only wait);
* otherwise, when the limit is in use (not held back by the caller), it grows: by one per
  answer until the first sign of overload (doubling per round trip, "slow start", as
  inspect_ai's adaptive connections and TCP do), then by one per round trip, and by one per
  eight round trips near the limit where the last overload struck (so a hard limit is probed
  rarely: few 429s), until a quarter past it (the provider's limit rose).

The two failures users of Netflix's concurrency-limits report are ruled out by construction:
steady timeouts (Gradient2 grows to its maximum because their latency never varies, #137) are
an overload signal here, and growth needs latency within tolerance *and* the limit in use, so
modest overload (a gradient of 0.8, where Gradient2 adds its queue term and its long-term
average drifts up with the load, PR #134) holds the limit where latency is ``tolerance`` times
the no-load latency. After a cut, growth resumes when the signals clear, so the limit comes
back up when the provider's does. If the provider's own no-load latency rises (longer
prompts, a slower model), the limit shrinks until answers come back light, and the baseline
follows them.

The controller is pure arithmetic over the times it is given (no clock of its own), so tests
drive it with hand-built samples and the benchmark with simulated time.

.. versionadded:: 0.2
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk.arguments import checked

REASON_GROW = A.LIMIT_REASON_GROW
REASON_OVERLOAD = A.LIMIT_REASON_OVERLOAD
REASON_TIMEOUT = A.LIMIT_REASON_TIMEOUT
REASON_LATENCY = A.LIMIT_REASON_LATENCY


@dataclass(frozen=True, slots=True)
class Decision:
    """A change of the limit: from ``old`` to ``new`` (whole slots), and why."""

    old: int
    new: int
    reason: str
    latency: float | None = None
    baseline: float | None = None


def _whole(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(
            f"Adaptive {name} must be a whole number >= {low}", value, f"e.g. {name}={max(low, 4)}"
        )
    return value


def _real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Adaptive:
    """The controller of an adaptive concurrency limit.

    Args:
        initial: the limit to start from.
        min: the lowest limit (never below).
        max: the highest limit (never above).
        backoff: the factor applied on overload or timeout (0 < backoff < 1).
        tolerance: latency up to this many times the no-load latency counts as unloaded.
    """

    @checked("fanscope.Adaptive")
    def __init__(
        self,
        *,
        initial: int = 8,
        min: int = 1,
        max: int = 256,
        backoff: float = 0.7,
        tolerance: float = 1.5,
    ) -> None:
        self.min = _whole("min", min, 1)
        self.max = _whole("max", max, self.min)
        self.initial = _whole("initial", initial, 1)
        if not self.min <= self.initial <= self.max:
            raise ConfigurationError(
                "Adaptive initial must lie between min and max",
                initial,
                f"pick initial from {self.min} to {self.max}",
            )
        if not _real(backoff) or not 0 < backoff < 1:
            raise ConfigurationError(
                "Adaptive backoff must be between 0 and 1", backoff, "e.g. 0.7"
            )
        if not _real(tolerance) or not tolerance >= 1:
            raise ConfigurationError("Adaptive tolerance must be >= 1", tolerance, "e.g. 1.5")
        self.backoff = float(backoff)
        self.tolerance = float(tolerance)
        self.limit = float(self.initial)
        self.slow_start = True
        self._cut_at = -math.inf  # when the limit was last cut
        self._ceiling: float | None = None  # the limit at the last overload
        self._smoothed: float | None = None  # recent latency (EWMA)
        # latency by concurrency level (in flight 1, 2-3, 4-7, ...): (answers, average)
        self._levels: dict[int, tuple[int, float]] = {}

    @property
    def value(self) -> int:
        """The limit in whole slots."""
        return max(self.min, min(self.max, int(self.limit)))

    def baseline(self) -> float | None:
        """The no-load latency: the average latency at the lowest concurrency seen often enough."""
        for level in sorted(self._levels):
            count, mean = self._levels[level]
            if count >= 5:
                return mean
        return None

    def _remember(self, latency: float, in_flight: int) -> None:
        level = max(1, in_flight).bit_length()  # 1, 2-3, 4-7, 8-15, ...
        count, mean = self._levels.get(level, (0, latency))
        count += 1
        weight = max(0.1, 1.0 / count)  # the mean of the first ten, then a slow average
        self._levels[level] = (count, mean + weight * (latency - mean))

    def _set(self, limit: float, reason: str) -> Decision | None:
        old = self.value
        self.limit = float(max(self.min, min(self.max, limit)))
        new = self.value
        if new == old:
            return None
        return Decision(old, new, reason, self._smoothed, self.baseline())

    def overload(
        self, now: float, sent_at: float, in_flight: int, *, timeout: bool = False
    ) -> Decision | None:
        """A call sent at ``sent_at`` was answered 429/529 (or timed out) at ``now``."""
        if sent_at < self._cut_at:
            return None  # sent before the last cut: already accounted for
        self._cut_at = now
        self.slow_start = False
        self._ceiling = float(min(self.limit, max(in_flight, self.min)))
        base = min(self.limit, float(max(in_flight, self.min)))
        return self._set(base * self.backoff, REASON_TIMEOUT if timeout else REASON_OVERLOAD)

    def success(
        self, now: float, latency: float, in_flight: int, room: float = 1.0
    ) -> Decision | None:
        """A call answered after ``latency`` seconds, with ``in_flight`` calls under the limit.

        ``room``: the smallest share the provider says is left of its buckets (1.0: plenty).
        """
        self._remember(latency, in_flight)
        alpha = 2.0 / (1.0 + max(2.0, self.limit))
        smoothed = latency if self._smoothed is None else self._smoothed
        self._smoothed = smoothed = smoothed + alpha * (latency - smoothed)
        base = self.baseline()
        if base is not None and base > 0 and smoothed > self.tolerance * base:
            self.slow_start = False
            gradient = max(0.5, self.tolerance * base / smoothed)
            # toward limit * gradient over one round trip's worth of answers
            step = (self.limit * gradient - self.limit) / max(1.0, self.limit)
            return self._set(self.limit + step, REASON_LATENCY)
        if room < 0.1 or in_flight < self.value * 0.75:
            return None  # held back by the provider's pacing or by the caller: no evidence
        step = 0.5 if self.slow_start else 1.0 / max(1.0, self.limit)
        if self._ceiling is not None:
            if self.limit >= self._ceiling * 1.25 + 1:
                self._ceiling = None  # well past the last overload: the provider's limit rose
            elif self.limit >= self._ceiling - 1:
                step /= 8  # near where the last overload struck: probe slowly
        return self._set(self.limit + step, REASON_GROW)

    def __repr__(self) -> str:
        return (
            f"Adaptive(initial={self.initial}, min={self.min}, max={self.max}, "
            f"backoff={self.backoff}, tolerance={self.tolerance})"
        )
