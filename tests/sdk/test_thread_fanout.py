"""The sync path's own mechanics: branches on the fan-out's threads, with no event loop.

What it shares with the async path (outcomes, spans, policies) is tested side by side in
test_sync.py; here: what only threads do (abandoning a running or waiting thread, the thread
count, the slot of a branch sleeping before a retry, a limiter shared with a loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Limiter, Retry, parallel
from fanscope.errors import FanoutError
from fanscope.sdk import attributes as A
from tests.conftest import spans_named

HANG = 60.0  # only a hang waits this long


def outcome_of(exporter: InMemorySpanExporter, name: str) -> dict[int, tuple[object, object]]:
    """Branch index -> (outcome, cancel reason) of the spans named ``name``."""
    return {
        int(s.attributes[A.BRANCH_INDEX]): (  # type: ignore[arg-type, index]
            s.attributes.get(A.BRANCH_OUTCOME),  # type: ignore[union-attr]
            s.attributes.get(A.CANCEL_REASON),  # type: ignore[union-attr]
        )
        for s in spans_named(exporter, name)
    }


def test_a_failure_abandons_a_running_thread_ends_its_span_and_gives_its_slot_back(
    exporter: InMemorySpanExporter,
) -> None:
    release, finished = threading.Event(), threading.Event()
    running = threading.Event()

    @parallel(max_concurrency=2)
    def work(i: int) -> int:
        if i == 0:
            running.set()
            release.wait(HANG)
            finished.set()
            return i
        running.wait(HANG)
        raise ValueError("one fails")

    try:
        with pytest.raises(FanoutError, match=r"work\[1\]: ValueError"):
            work.map(range(2))
        assert not finished.is_set()  # raised while branch 0's thread still blocks
        assert work.limiters[0].in_use == 0  # its slot was given back at once
        ends = outcome_of(exporter, "work")
        assert ends[0] == (A.OUTCOME_CANCELLED, A.CANCEL_SIBLING_FAILED)
        assert ends[1] == (A.OUTCOME_ERROR, None)
        (fanout,) = spans_named(exporter, "map work")
        assert fanout.attributes is not None
        assert fanout.attributes[A.FANOUT_CANCELLED] == 1
    finally:
        release.set()
    assert finished.wait(HANG)
    assert work.limiters[0].in_use == 0  # the abandoned thread did not give it back twice


def test_threads_waiting_in_line_for_a_shared_slot_are_woken_at_the_deadline(
    exporter: InMemorySpanExporter,
) -> None:
    shared = Limiter(1, name="provider")
    assert shared.try_acquire()  # someone else holds the only slot

    @parallel(max_concurrency=3, limiter=shared)
    def ask(i: int) -> int:
        return i

    outcomes = ask.map(range(3), on_error="collect", deadline=0.05)
    assert [o.status for o in outcomes] == ["timeout"] * 3
    assert not shared._waiters  # no thread is left in line for the slot
    ends = outcome_of(exporter, "ask")
    assert set(ends.values()) == {(A.OUTCOME_TIMEOUT, A.CANCEL_DEADLINE)}
    shared.release()
    assert ask.map(range(3)) == [0, 1, 2]  # the line is clear: nobody waits for a ghost
    assert shared.in_use == 0


def test_a_branch_sleeping_before_a_retry_lets_another_run_in_its_slot() -> None:
    order: list[str] = []
    tries = {0: 0}
    retried = threading.Event()

    @parallel(max_concurrency=1, retry=Retry(attempts=2, initial=1.0, jitter="none"))
    def work(i: int) -> int:
        if i == 0:
            tries[0] += 1
            if tries[0] == 1:
                raise TimeoutError("once")
            retried.set()
        order.append(f"{i}:{tries[0]}")
        return i

    assert work.map(range(3)) == [0, 1, 2]
    # items 1 and 2 ran while item 0 slept before its retry (cap 1: one at a time)
    assert order[:2] == ["1:1", "2:1"] and order[2] == "0:2"
    assert retried.is_set()


def test_a_fan_out_starts_no_more_threads_than_calls_that_run_at_once() -> None:
    names: set[str] = set()
    lock = threading.Lock()

    @parallel  # no cap: a thread for each call that finds none free
    def quick(i: int) -> int:
        with lock:
            names.add(threading.current_thread().name)
        return i

    assert quick.map(range(200)) == list(range(200))
    assert len(names) < 200  # free threads read the next item: not one thread per item


def test_a_limiter_shared_by_a_sync_fan_out_and_a_loop_holds_its_cap() -> None:
    shared = Limiter(2, name="shared")
    lock = threading.Lock()
    now = peak = 0

    def enter() -> None:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)

    def leave() -> None:
        nonlocal now
        with lock:
            now -= 1

    @parallel(limiter=shared)
    def blocking(i: int) -> int:
        enter()
        threading.Event().wait(0.002)
        leave()
        return i

    @parallel(limiter=shared)
    async def on_loop(i: int) -> int:
        enter()
        await asyncio.sleep(0.002)
        leave()
        return i

    loop_results: list[int] = []
    thread = threading.Thread(
        target=lambda: loop_results.extend(asyncio.run(on_loop.map(range(40)))), daemon=True
    )
    thread.start()
    assert blocking.map(range(40)) == list(range(40))
    thread.join(HANG)
    assert loop_results == list(range(40))
    assert peak <= 2
    assert shared.in_use == 0


def test_leaving_as_completed_early_abandons_the_running_threads(
    exporter: InMemorySpanExporter,
) -> None:
    release = threading.Event()

    @parallel(max_concurrency=2)
    def work(i: int) -> int:
        if i:
            release.wait(HANG)
        return i

    try:
        with contextlib.closing(work.as_completed(range(10))) as results:
            for index, value in results:
                assert (index, value) == (0, 0)
                break
        assert work.limiters[0].in_use == 0  # closed while branch 1 still blocks
        ends = outcome_of(exporter, "work")
        assert ends[0] == (A.OUTCOME_OK, None)
        assert ends[1] == (A.OUTCOME_CANCELLED, A.CANCEL_FANOUT_CLOSED)
        assert len(ends) <= 3  # nothing past the cap's window was started
    finally:
        release.set()


def test_an_input_that_fails_midway_raises_its_own_error_and_abandons_the_rest(
    exporter: InMemorySpanExporter,
) -> None:
    release = threading.Event()

    @parallel(max_concurrency=2)
    def work(i: int) -> int:
        release.wait(HANG)
        return i

    def items() -> Iterator[int]:
        yield 0
        raise ValueError("the plan could not be parsed")

    try:
        with pytest.raises(ValueError, match="could not be parsed"):
            work.map(items())
        assert outcome_of(exporter, "work") == {0: (A.OUTCOME_CANCELLED, A.CANCEL_INPUT_FAILED)}
    finally:
        release.set()
