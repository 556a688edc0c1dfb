"""Rate limits and retry-after pauses in the what-if: no predicted time beats them.

A branch whose limiters include a rate limit records them (``fanscope.limiter.*``,
``docs/conventions.md``). Each attempt takes one token from each of those limiters: the
first at the branch's start (its wait for the token is the gap before the span), each
retry after its backoff (the ``fanscope.retry`` event's time plus ``delay_s``). A retry
that honoured a ``retry-after`` pauses the branch's limiters for that long, for every call
that goes through them.

The what-if schedule (``whatif.py``) first places every span as early as its dependencies
and caps allow, ignoring rates. This module then walks every token and pause of the trace
in what-if time order through a GCRA per limiter (the same algorithm as the SDK's
``RateLimit``: bursts of ``requests``, then one every ``per / requests`` seconds, the
bucket full at the start of the trace) and, where a token would come too early, inserts a
pause there: everything from that instant on moves later by the wait. Stretching time this
way keeps every dependency, every gap and every overlap of the schedule (so every cap still
holds) and makes every rate limit hold, so the result is a schedule the recorded limits
allow. It is conservative: a pause delays unrelated work running at the same time too.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass

from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

#: A rate-limited limiter: (name, requests, period in seconds).
Bucket = tuple[str, float, float]


@dataclass(frozen=True, slots=True)
class Stretch:
    """The pauses the rate limits add: ``(what-if time, ns)`` in time order, and their sum."""

    at: list[int]
    added: list[int]  # running sums: added[i] = pauses at or before at[i]

    @property
    def total(self) -> int:
        return self.added[-1] if self.added else 0

    def within(self, start: int, end: int) -> int:
        """Nanoseconds of pause inserted at what-if times in ``[start, end)``."""
        lo = bisect.bisect_left(self.at, start)
        hi = bisect.bisect_left(self.at, end)
        if hi <= lo:
            return 0
        return self.added[hi - 1] - (self.added[lo - 1] if lo else 0)


def buckets(attributes: Mapping[str, object]) -> list[Bucket]:
    """The rate-limited limiters a branch went through (none when it records none)."""
    names, rates, pers = (
        attributes.get(A.LIMITER_NAMES),
        attributes.get(A.LIMITER_RATE),
        attributes.get(A.LIMITER_PER),
    )
    if not (isinstance(names, list) and isinstance(rates, list) and isinstance(pers, list)):
        return []
    out = []
    for name, requests, per in zip(names, rates, pers, strict=False):
        r, p = _float(requests), _float(per)
        if isinstance(name, str) and 0 < r <= 1e9 and 0 < p <= 1e9:
            out.append((name, r, p))
    return out


def _float(value: object) -> float:
    """A positive finite number as a float; anything else (damage) reads as 0."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and number > 0:
            return number
    return 0.0


# an event in what-if time: (time, order, token or pause, buckets, pause length)
_TOKEN, _PAUSE = 1, 0  # a pause at an instant applies to a token at the same instant


def stretch(
    trace: Trace, eff: Mapping[str, tuple[int, int]], moved: Mapping[str, int]
) -> Stretch | None:
    """The pauses the trace's rate limits add to the what-if schedule (``None``: no limits).

    ``moved`` maps a span to how much later (or, negative, earlier) the what-if starts it
    than observed, relative to its parent; a span's what-if time is its observed time plus
    the sum over it and its ancestors.
    """
    events: list[tuple[int, int, int, list[Bucket], int]] = []
    offsets: dict[str, int] = {}
    for span in trace.spans.values():
        if A.LIMITER_RATE not in span.attributes:
            continue
        limits = buckets(span.attributes)
        if not limits or span.span_id not in eff:
            continue
        attempts = span.attr_int(A.BRANCH_ATTEMPTS)
        if attempts == 0:
            continue  # cancelled while waiting in line: it never got to go
        offset = offset_of(trace, span.span_id, moved, offsets)
        start, end = eff[span.span_id]
        events.append((start + offset, _TOKEN, len(events), limits, 0))
        for time_ns, name, attributes in span.events:
            if name != A.EVENT_RETRY:
                continue
            moment = min(max(time_ns, start), end) + offset
            after = _float(attributes.get(A.RETRY_AFTER))
            if after:
                events.append((moment, _PAUSE, len(events), limits, int(after * 1e9)))
            delay = int(_float(attributes.get(A.RETRY_DELAY)) * 1e9)
            events.append((min(moment + delay, end + offset), _TOKEN, len(events), limits, 0))
    if not events:
        return None
    events.sort()
    delay_total = 0
    tat: dict[Bucket, float] = {}
    resume: dict[Bucket, int] = {}
    at: list[int] = []
    added: list[int] = []
    for time_ns, kind, _, limits, length in events:
        now = time_ns + delay_total
        if kind == _PAUSE:
            for bucket in limits:
                resume[bucket] = max(resume.get(bucket, now), now + length)
            continue
        wait = 0
        for bucket in limits:
            _, requests, per = bucket
            interval = per / requests * 1e9
            tolerance = per * 1e9 - interval
            go = now + wait
            theoretical = max(tat.get(bucket, go), go)
            needed = max(theoretical - tolerance, resume.get(bucket, go))
            if needed > go:
                wait += math.ceil(needed - go)
            tat[bucket] = max(theoretical, now + wait) + interval
        if wait:
            delay_total += wait
            at.append(time_ns)
            added.append(delay_total)
    return Stretch(at, added)


def offset_of(trace: Trace, span_id: str, moved: Mapping[str, int], memo: dict[str, int]) -> int:
    """The sum of ``moved`` over a span and its ancestors (remembered along the way up)."""
    walked: list[str] = []
    current: str | None = span_id
    total = 0
    while current is not None:
        known = memo.get(current)
        if known is not None:
            total += known
            break
        walked.append(current)
        current = trace.parent(current)
    # assign from the top down: each walked span's sum is its own move plus its parent's
    running = total
    for sid in reversed(walked):
        running += moved.get(sid, 0)
        memo[sid] = running
    return memo[span_id]
