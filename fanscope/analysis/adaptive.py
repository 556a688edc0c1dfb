"""What adaptive limits did in a trace, read from their ``fanscope.limit.changed`` events.

An adaptive cap (``max_concurrency="auto"``, ``docs/limits.md``) records each change as an
event on the span of the call whose answer decided it (``docs/conventions.md``): the limiter's
name, the cap before and after, and why. Per limiter, the events give the cap as a step
function of time over the trace: the first event's ``old`` from the trace's start (the trace
cannot say when the limiter was made; its start is the earliest the cap could have held),
each event's ``new`` from its time on, the last one's to the trace's end.

From it, per limiter (``traces[].limits[]``, ``docs/analysis.md``):

* **start** and **final** cap, **min** and **max**;
* the **decreases** and their causes (``overload``: a 429 or 529; ``timeout``; ``latency``)
  and the number of increases;
* the **converged** limit: the time-weighted median of the cap over the trace's second half
  (the lower of two middle values). A controller that
  probes past the provider's limit and backs off spends short moments above and below it;
  the median over the second half is the level it kept, not its excursions, and it leaves out
  the climb from the start;
* **still growing**: the second half saw increases and no decrease, so the controller had
  not yet met a limit when the trace ended (its converged value is only where it had got to);
* the **time below** the converged limit, over the whole trace: what learning cost (the climb
  from a low start, the dips after each cut).

A limiter with no change in the trace is not listed: its cap is not in the events.
"""

from __future__ import annotations

from fanscope.analysis.schema import AdaptiveLimitDoc
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

NS = 1e9
CAUSES = (A.LIMIT_REASON_OVERLOAD, A.LIMIT_REASON_TIMEOUT, A.LIMIT_REASON_LATENCY)


_Change = tuple[int, int, int, str]  # time (ns), old, new, reason


def _whole(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def adaptive_limits(trace: Trace) -> list[AdaptiveLimitDoc]:
    """Each adaptive limiter that changed its cap in ``trace``, by name."""
    found: dict[str, list[_Change]] = {}
    for span in trace.spans.values():
        for time, name, attrs in span.events:
            if name != A.EVENT_LIMIT:
                continue
            limiter = attrs.get(A.LIMIT_NAME)
            old, new = _whole(attrs.get(A.LIMIT_OLD)), _whole(attrs.get(A.LIMIT_NEW))
            if not isinstance(limiter, str) or old is None or new is None or old == new:
                continue  # a malformed event says nothing we can use
            reason = attrs.get(A.LIMIT_REASON)
            reason = reason if isinstance(reason, str) else ""
            found.setdefault(limiter, []).append((time, old, new, reason))
    if not found:
        return []
    start, end = trace.start, max(trace.end, trace.start)
    return [_limit(name, changes, start, end) for name, changes in sorted(found.items())]


def _limit(name: str, events: list[_Change], start: int, end: int) -> AdaptiveLimitDoc:
    events.sort(key=lambda e: e[0])
    # the cap as steps: (from, to, cap), clipped to the trace
    steps: list[tuple[int, int, int]] = []
    at, cap = start, events[0][1]
    for time, _, new, _ in events:
        time = min(max(time, start), end)
        if time > at:
            steps.append((at, time, cap))
        at, cap = max(at, time), new
    if end > at:
        steps.append((at, end, cap))
    middle = start + (end - start) // 2
    late = [(max(a, middle), b, c) for a, b, c in steps if b > middle]
    converged = _median(late) if late else events[-1][2]
    below = sum(b - a for a, b, c in steps if c < converged)
    causes: dict[str, int] = {}
    decreases = increases = 0
    late_decreases = late_increases = 0
    for time, old, new, reason in events:
        if new < old:
            decreases += 1
            late_decreases += time >= middle
            cause = reason if reason in CAUSES else "other"
            causes[cause] = causes.get(cause, 0) + 1
        else:
            increases += 1
            late_increases += time >= middle
    values = [v for _, old, new, _ in events for v in (old, new)]
    duration = (end - start) / NS
    return AdaptiveLimitDoc(
        name=name,
        start=events[0][1],
        final=events[-1][2],
        converged=converged,
        min=min(values),
        max=max(values),
        increases=increases,
        decreases=decreases,
        causes=causes,
        still_growing=late_increases > 0 and late_decreases == 0,
        below_converged=below / NS,
        below_share=below / NS / duration if duration > 0 else 0.0,
        first_change=(events[0][0] - start) / NS,
        last_change=(events[-1][0] - start) / NS,
    )


def _median(steps: list[tuple[int, int, int]]) -> int:
    """The time-weighted median cap of ``steps`` (the lower one when two share the middle)."""
    held: dict[int, int] = {}
    for a, b, cap in steps:
        held[cap] = held.get(cap, 0) + (b - a)
    total = sum(held.values())
    if total <= 0:
        return steps[-1][2]
    run = 0
    for cap in sorted(held):
        run += held[cap]
        if 2 * run >= total:
            return cap
    return steps[-1][2]  # not reached
