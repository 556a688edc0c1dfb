"""One Limiter shared by threads and event loops: no hang, the cap and the rate hold."""

from __future__ import annotations

import asyncio
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fanscope import Limiter, parallel
from fanscope.sdk.limits import RateLimit

HANG = 120.0  # seconds: only a hang takes this long; a pass takes well under a second


class Peak:
    """Calls in flight across threads, and the most seen at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def run_in_threads(*targets: object) -> None:
    errors: list[BaseException] = []

    def guard(target: object) -> None:
        try:
            target()  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(t,), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    assert not any(t.is_alive() for t in threads), "a thread hung waiting for a slot"
    assert errors == []


def test_a_slot_released_on_one_loop_wakes_a_waiter_on_another() -> None:
    limiter = Limiter(1, name="shared")
    peak = Peak()

    def loop_thread() -> None:
        async def main() -> None:
            for _ in range(200):
                await limiter.acquire_slot()
                peak.enter()
                await asyncio.sleep(0)
                peak.leave()
                limiter.release()

        asyncio.run(main())

    run_in_threads(loop_thread, loop_thread, loop_thread)
    assert peak.peak == 1
    assert limiter.in_use == 0


def test_a_waiter_cancelled_while_its_slot_is_on_the_way_passes_the_slot_on() -> None:
    limiter = Limiter(1, name="shared")
    holding = threading.Event()
    waiting = threading.Event()
    done = threading.Event()

    def holder() -> None:
        async def main() -> None:
            await limiter.acquire_slot()
            holding.set()
            waiting.wait(HANG)
            limiter.release()  # hands the slot to the other loop's waiter
            done.set()

        asyncio.run(main())

    def canceller() -> None:
        async def main() -> None:
            holding.wait(HANG)
            task = asyncio.ensure_future(limiter.acquire_slot())
            await asyncio.sleep(0.01)
            waiting.set()
            await asyncio.to_thread(done.wait, HANG)
            task.cancel()  # the grant is queued on this loop but not yet run
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(main())

    run_in_threads(holder, canceller)
    assert limiter.in_use in (0, 1)
    # whatever the order, the slot is not lost: one more acquire goes through at once
    if limiter.in_use == 1:
        limiter.release()
    assert limiter.try_acquire()


def test_rate_holds_across_threads() -> None:
    limiter = Limiter(rate=RateLimit(20, per=1.0), name="rate")
    starts: list[float] = []
    lock = threading.Lock()

    def loop_thread() -> None:
        async def main() -> None:
            for _ in range(15):
                delay = limiter.reserve_rate()
                await asyncio.sleep(delay)
                with lock:
                    starts.append(time.monotonic())

        asyncio.run(main())

    first = time.monotonic()
    run_in_threads(loop_thread, loop_thread)
    # 30 requests at 20/s with a burst of 20: the last cannot start before ~0.5 s
    assert max(starts) - first >= 0.45


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cap=st.integers(1, 4),
    calls=st.integers(1, 10),
    holds=st.lists(st.sampled_from([0.0, 0.0005, 0.002]), min_size=1, max_size=4),
)
def test_a_limiter_shared_by_two_loops_and_a_sync_thread_never_exceeds_its_cap(
    cap: int, calls: int, holds: list[float]
) -> None:
    limiter = Limiter(cap, name="shared")
    peak = Peak()

    @parallel(limiter=limiter)
    async def on_a_loop(i: int) -> int:
        peak.enter()
        await asyncio.sleep(holds[i % len(holds)])
        peak.leave()
        return i

    @parallel(limiter=limiter)
    def on_threads(i: int) -> int:
        peak.enter()
        time.sleep(holds[i % len(holds)])
        peak.leave()
        return i

    def loop_thread() -> None:
        assert asyncio.run(on_a_loop.map(range(calls))) == list(range(calls))

    def sync_thread() -> None:
        assert on_threads.map(range(calls)) == list(range(calls))
        assert on_threads(7) == 7

    run_in_threads(loop_thread, loop_thread, sync_thread)
    assert 1 <= peak.peak <= cap
    assert limiter.in_use == 0
