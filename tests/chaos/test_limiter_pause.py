"""A retry-after pause holds for every waiter: no attempt starts inside a pause already known.

Reproduction: under a storm of 429s, a waiter that slept through one pause used to start
when that pause ended even if a later 429 had extended it meanwhile (at cap 50, 996 of
1,714 attempts started inside a pause the client had already seen). Every start now
checks the pause in force at that moment.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from fanscope import Limiter, Retry, parallel


class RateLimited(Exception):
    status_code = 429

    def __init__(self, retry_after: float) -> None:
        super().__init__("429 Too Many Requests")
        self.retry_after = retry_after


@pytest.mark.parametrize("cap", [4, 50, 200])
async def test_no_attempt_starts_inside_a_pause_the_limiter_already_knows(cap: int) -> None:
    limiter = Limiter(cap, name="provider")
    storm_until = time.monotonic() + 0.15  # the provider refuses every call started before
    starts = 0
    inside_pause: list[float] = []

    @parallel(limiter=limiter, retry=Retry(attempts=50, initial=0.001, max_wait=0.004))
    async def call(i: int) -> int:
        nonlocal starts
        starts += 1
        left = limiter.paused_for()
        if left > 0:
            inside_pause.append(left)
        started = time.monotonic()
        # staggered durations: calls that started before a pause end inside it, and their
        # 429 extends it while other branches sleep through the first one
        await asyncio.sleep(0.002 + (i % 7) * 0.003)
        if started < storm_until:
            raise RateLimited(retry_after=0.01 + (i % 5) * 0.004)
        return i

    results = await call.map(range(cap * 3))
    assert results == list(range(cap * 3))
    assert starts > cap * 3  # the storm happened: there were retries
    assert inside_pause == [], f"{len(inside_pause)} of {starts} attempts started in a pause"
