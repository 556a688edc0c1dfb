"""A provider's hidden limits, as the stand-in enforces them: the ground truth for limiters.

:class:`HiddenLimits` says what one API key may do: requests, input tokens and output tokens
per minute, concurrent requests, and where latency starts to grow with concurrency (the
knee). :class:`Provider` enforces them per key with a clock of its own, so the HTTP stand-in
runs it in real time and the benchmarks in simulated time, with the same arithmetic.

How it follows the Anthropic API (https://docs.anthropic.com/en/api/rate-limits):

* Each limit is a token bucket whose capacity is the per-minute limit, refilled continuously
  (not reset at the top of each minute).
* Input tokens count the uncached input (and cache writes); output tokens are taken at
  ``max_tokens`` when the request starts and the unused part is given back when it ends.
* Every answer carries ``anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-
  {limit,remaining,reset}`` (``reset``: RFC 3339 time at which that bucket is full again;
  ``tokens-*`` is whichever of the input and output buckets is the most restrictive now).
* A request that a bucket cannot take is answered 429 ``rate_limit_error`` with
  ``retry-after`` (whole seconds until it would fit), before any work is done.
* Past ``max_concurrency`` requests in flight, 429 as well (the real API sheds such load with
  429 and 529; which one does not matter to a client that honours ``retry-after``).
* Past the knee, every request's latency is multiplied by ``(in_flight / knee) ** slowdown``:
  more concurrency buys no more throughput there, only longer answers.

The API key itself is never stored: state is kept under a digest of it.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

Clock = Callable[[], float]

HEADER_PREFIX = "anthropic-ratelimit-"


@dataclass(frozen=True, slots=True)
class HiddenLimits:
    """What one API key may do. ``None`` means no such limit.

    Args:
        requests_per_minute: requests (RPM).
        input_tokens_per_minute: uncached input tokens (ITPM).
        output_tokens_per_minute: output tokens (OTPM), taken at ``max_tokens`` up front.
        max_concurrency: requests in flight at once.
        knee: requests in flight past which latency grows (``None``: it never does).
        slowdown: exponent of the growth past the knee (1: linear in the concurrency).
    """

    requests_per_minute: float | None = None
    input_tokens_per_minute: float | None = None
    output_tokens_per_minute: float | None = None
    max_concurrency: int | None = None
    knee: int | None = None
    slowdown: float = 1.0

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None (got {value!r})")
        for name in ("max_concurrency", "knee"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a whole number >= 1 or None (got {value!r})")


class _Bucket:
    """A continuously refilled token bucket of ``capacity`` per minute."""

    __slots__ = ("capacity", "level", "stamp")

    def __init__(self, capacity: float, now: float) -> None:
        self.capacity = capacity
        self.level = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.capacity / 60)
            self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` fits (after :meth:`refill`); ``inf`` if it never can."""
        if amount > self.capacity:
            return math.inf
        return max(0.0, (amount - self.level) * 60 / self.capacity)

    def until_full(self) -> float:
        return (self.capacity - self.level) * 60 / self.capacity


@dataclass
class KeyState:
    """One API key's buckets, requests in flight and what it was billed."""

    buckets: dict[str, _Bucket]
    in_flight: int = 0
    peak: int = 0  # most admitted at once: never above ``max_concurrency``
    # most requests at the key at once, counting the one arriving whether or not it is
    # admitted: what the clients sent together (past ``max_concurrency``, a cap was overrun)
    peak_asked: int = 0
    admitted: int = 0
    refused: int = 0
    refused_by: dict[str, int] = field(default_factory=dict)  # which limit refused, how often
    billed_input: int = 0
    billed_output: int = 0
    billed_by_model: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Admission:
    """The provider's answer to a request at its arrival."""

    ok: bool
    latency_factor: float  # multiply the base latency by this (>= 1)
    headers: dict[str, str]
    retry_after: float = 0.0  # seconds, when refused
    reason: str = ""  # which limit refused it


def _rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Provider:
    """Enforces :class:`HiddenLimits` per API key. Thread-safe.

    Args:
        limits: the limits every key gets.
        clock: monotonic seconds (``time.monotonic``, or a simulated clock).
        wall: seconds since the epoch matching ``clock`` (for the ``reset`` headers).
    """

    def __init__(
        self, limits: HiddenLimits, *, clock: Clock = time.monotonic, wall: Clock = time.time
    ) -> None:
        self.limits = limits
        self.clock = clock
        self._offset = wall() - clock()
        self._keys: dict[str, KeyState] = {}
        self._lock = threading.Lock()

    def key_state(self, api_key: str) -> KeyState:
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        with self._lock:
            return self._state(digest, self.clock())

    def _state(self, digest: str, now: float) -> KeyState:
        state = self._keys.get(digest)
        if state is None:
            lim = self.limits
            buckets = {
                name: _Bucket(float(capacity), now)
                for name, capacity in (
                    ("requests", lim.requests_per_minute),
                    ("input-tokens", lim.input_tokens_per_minute),
                    ("output-tokens", lim.output_tokens_per_minute),
                )
                if capacity is not None
            }
            state = self._keys[digest] = KeyState(buckets)
        return state

    def admit(self, api_key: str, input_tokens: int, max_tokens: int) -> Admission:
        """A request arrives: take what it needs from every bucket, or refuse it (429)."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        with self._lock:
            now = self.clock()
            state = self._state(digest, now)
            state.peak_asked = max(state.peak_asked, state.in_flight + 1)
            for bucket in state.buckets.values():
                bucket.refill(now)
            needs = {"requests": 1.0, "input-tokens": input_tokens, "output-tokens": max_tokens}
            lim = self.limits
            wait, reason = 0.0, ""
            if lim.max_concurrency is not None and state.in_flight >= lim.max_concurrency:
                wait, reason = 1.0, "concurrency"
            for name, bucket in state.buckets.items():
                need = bucket.wait_for(needs[name])
                if need > wait:
                    wait, reason = need, name
            if wait > 0:
                wait = min(wait, 60.0)  # larger than a whole minute: a full bucket's time
                state.refused += 1
                state.refused_by[reason] = state.refused_by.get(reason, 0) + 1
                return Admission(
                    False, 1.0, self._headers(state, now, retry_after=wait), wait, reason
                )
            for name, bucket in state.buckets.items():
                bucket.level -= needs[name]
            state.in_flight += 1
            state.admitted += 1
            state.peak = max(state.peak, state.in_flight)
            factor = 1.0
            if lim.knee is not None and state.in_flight > lim.knee:
                factor = (state.in_flight / lim.knee) ** lim.slowdown
            return Admission(True, factor, self._headers(state, now))

    def drain(self, api_key: str) -> None:
        """Empty the key's buckets, as if its minute had just been spent by earlier work: what
        follows runs in the steady state the limits allow, not on a full minute's burst."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        with self._lock:
            now = self.clock()
            for bucket in self._state(digest, now).buckets.values():
                bucket.level, bucket.stamp = 0.0, now

    def finish(
        self, api_key: str, *, max_tokens: int, model: str = "", input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> dict[str, str]:  # fmt: skip
        """An admitted request ends: give back unused output tokens, bill it; its headers."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        with self._lock:
            now = self.clock()
            state = self._state(digest, now)
            state.in_flight -= 1
            out = state.buckets.get("output-tokens")
            if out is not None:
                out.refill(now)
                out.level = min(out.capacity, out.level + max(0, max_tokens - output_tokens))
            state.billed_input += input_tokens
            state.billed_output += output_tokens
            pair = state.billed_by_model.setdefault(model, [0, 0])
            pair[0] += input_tokens
            pair[1] += output_tokens
            for bucket in state.buckets.values():
                bucket.refill(now)
            return self._headers(state, now)

    def _headers(self, state: KeyState, now: float, retry_after: float = 0.0) -> dict[str, str]:
        headers: dict[str, str] = {}
        wall = now + self._offset
        tightest: tuple[float, str] | None = None
        for name, bucket in state.buckets.items():
            remaining = max(0, math.floor(bucket.level))
            headers[f"{HEADER_PREFIX}{name}-limit"] = str(int(bucket.capacity))
            headers[f"{HEADER_PREFIX}{name}-remaining"] = str(remaining)
            headers[f"{HEADER_PREFIX}{name}-reset"] = _rfc3339(wall + bucket.until_full())
            if name != "requests":
                share = bucket.level / bucket.capacity
                if tightest is None or share < tightest[0]:
                    tightest = (share, name)
        if tightest is not None:
            for part in ("limit", "remaining", "reset"):
                headers[f"{HEADER_PREFIX}tokens-{part}"] = headers[
                    f"{HEADER_PREFIX}{tightest[1]}-{part}"
                ]
        if retry_after > 0:
            headers["retry-after"] = str(max(1, math.ceil(retry_after)))
        return headers
