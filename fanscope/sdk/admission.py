"""Taking a branch's limiters before an attempt: slots, rate limits and retry-after pauses.

:func:`admission` lists what taking every limiter waits for, step by step; the async face
takes them with :func:`acquire_first` (before the first attempt, no span open yet: the wait is
the gap before the branch span) and :func:`acquire_again` (before a retry, each wait a
``queue wait`` child span), the thread face (:mod:`fanscope.sdk.thread_branch`) with its own
blocking loop over the same steps. It is apart from :mod:`fanscope.sdk.branch`, which runs the
attempts, because waiting in line is its own concern with its own traps: a slot taken must be
given back on every way out, and a pause another branch's 429 set may start or grow while
this one sleeps. Both are on the hot path: keep the common case (one limiter with room) free
of coroutines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.sdk import attributes as A
from fanscope.sdk.limits import Limiter
from fanscope.sdk.pacing import Pause
from fanscope.sdk.tracing import tracer


def _queue_span(parent: Context, reason: str, limiter: Limiter) -> Span:
    attributes: dict[str, Any] = {
        A.ROLE: A.ROLE_QUEUE,
        A.QUEUE_REASON: reason,
        A.QUEUE_LIMITER: limiter.name,
    }
    if limiter.shared:
        attributes[A.QUEUE_SHARED] = True  # the slot may be held by another process
    return tracer().start_span("queue wait", context=parent, attributes=attributes)


_NO_LIMITER = Limiter(name="none")


def pause_of(limiters: tuple[Limiter, ...]) -> tuple[float, Limiter]:
    """The longest retry-after pause in force on ``limiters`` right now, and whose it is.

    Checked again right before every attempt starts: another branch's 429 may have paused
    (or extended the pause of) a limiter while this one slept through an earlier pause.
    """
    longest, whose = 0.0, _NO_LIMITER
    for limiter in limiters:
        if (left := limiter.paused_for()) > longest:
            longest, whose = left, limiter
    return longest, whose


def admission(limiters: tuple[Limiter, ...]) -> Iterator[tuple[str | None, Limiter, float]]:
    """What taking every limiter before an attempt waits for, step by step (both faces).

    Yields ``(reason, limiter, 0.0)`` for each limiter's slot, which the caller takes
    (``reason`` is ``"cap"`` when taking it will wait, else ``None``), then
    ``("rate", limiter, seconds)`` for each sleep before the attempt may start: a rate
    limit's, then any retry-after pause (checked again after each sleep: another branch's
    429 may have paused, or extended the pause of, a limiter meanwhile).
    """
    for limiter in limiters:
        cap = limiter.wait_reason() == A.QUEUE_REASON_CAP
        yield (A.QUEUE_REASON_CAP if cap else None), limiter, 0.0
    for limiter in limiters:
        delay = limiter.reserve_rate()
        if delay > 0:
            yield A.QUEUE_REASON_RATE, limiter, delay
    while (pause := pause_of(limiters))[0] > 0:
        yield A.QUEUE_REASON_RATE, pause[1], pause[0]


async def acquire_first(limiters: tuple[Limiter, ...]) -> str | None:
    """Before the first attempt: take every limiter; return the limiter waited on, if any.

    No span is open yet: the branch span starts once the slot is granted, so the wait shows
    as the gap before it (and as ``fanscope.queue.wait_s``) at no extra span per branch.
    """
    if len(limiters) == 1 and limiters[0].try_acquire():
        return None  # the common case: one limiter with room
    return await wait_first(limiters)


async def wait_first(limiters: tuple[Limiter, ...]) -> str | None:
    """:func:`acquire_first` once taking the limiters at once (``try_acquire``) has failed."""
    if len(limiters) == 1:
        limiter = limiters[0]
        if limiter.rate is None and limiter.backend is None and Pause.latest <= time.monotonic():
            # only its cap holds the branch back (no rate, no pause): wait for a slot alone
            await limiter.acquire_slot()
            if Pause.latest > time.monotonic():  # a retry-after paused it meanwhile
                try:
                    # (a deadline another branch's 429 may move, checked after each sleep)
                    while (pause := pause_of(limiters))[0] > 0:  # noqa: ASYNC110
                        await asyncio.sleep(pause[0])
                except BaseException:
                    limiter.release()
                    raise
            return limiter.name
    waited_on: str | None = None
    held: list[Limiter] = []
    try:
        for reason, limiter, delay in admission(limiters):
            if reason is not None:
                waited_on = limiter.name
            if reason == A.QUEUE_REASON_RATE:
                await asyncio.sleep(delay)
            else:
                await limiter.acquire_slot()
                held.append(limiter)
    except BaseException:
        for limiter in held:
            limiter.release()
        raise
    return waited_on


def queue_wait(span: Span, ctx: Context, reason: str | None, limiter: Limiter) -> Span | None:
    """Before a retry, a step of :func:`admission` that waits: its ``queue wait`` span."""
    if reason is None:
        return None
    span.set_attribute(A.QUEUE_LIMITER, limiter.name)
    return _queue_span(ctx, reason, limiter)


async def acquire_again(limiters: tuple[Limiter, ...], ctx: Context, span: Span) -> float:
    """Before a retry: take every limiter again, each wait a ``queue wait`` child span."""
    started = time.monotonic()
    waited = False
    held: list[Limiter] = []
    try:
        for reason, limiter, delay in admission(limiters):
            qspan = queue_wait(span, ctx, reason, limiter)
            waited = waited or qspan is not None
            try:
                if reason == A.QUEUE_REASON_RATE:
                    await asyncio.sleep(delay)
                else:
                    await limiter.acquire_slot()
                    held.append(limiter)
            finally:
                if qspan is not None:
                    qspan.end()
    except BaseException:
        for limiter in held:
            limiter.release()
        raise
    return time.monotonic() - started if waited else 0.0
