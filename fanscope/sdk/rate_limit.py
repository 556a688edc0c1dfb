"""Rate limits: GCRA (the generic cell rate algorithm), a token bucket expressed as one timestamp.

No background task, and the delay of each request is known when it asks. A :class:`RateLimit`
holds no lock of its own: the :class:`~fanscope.sdk.limits.Limiter` that owns it reads and
reserves under its lock, so the rate holds across threads.
"""

from __future__ import annotations

import math

from fanscope.errors import ConfigurationError
from fanscope.sdk.arguments import checked


class RateLimit:
    """At most ``requests`` per ``per`` seconds, with bursts of up to ``requests``.

    Args:
        requests: requests allowed per period; must be > 0.
        per: the period in seconds (``1`` for per second, ``60`` for per minute); must be > 0.
    """

    __slots__ = ("_interval", "_tat", "_tolerance", "per", "requests")

    @checked("fanscope.RateLimit")
    def __init__(self, requests: float, per: float = 1.0) -> None:
        if not _number(requests) or not requests > 0:
            raise ConfigurationError(
                "rate limit 'requests' must be > 0",
                requests,
                "e.g. fanscope.RateLimit(50, per=60) for 50 per minute",
            )
        if not _number(per) or not per > 0:
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


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def rate_of(rate: RateLimit | float | None) -> RateLimit | None:
    if rate is None or isinstance(rate, RateLimit):
        return rate
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ConfigurationError(
            "rate must be requests per second or a RateLimit",
            rate,
            "pass rate=10 (per second) or rate=fanscope.RateLimit(600, per=60)",
        )
    return RateLimit(rate, per=1.0)
