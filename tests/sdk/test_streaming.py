"""Fan-outs read their input only as branches can start: memory bounded by the cap.

``map``, ``starmap`` and ``as_completed`` take any iterable or async iterable, keep at most
twice the cap of branch tasks alive (spied on with ``asyncio.all_tasks()``), keep results in
input order, run every item once, never exceed the cap, and leave no task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import threading
import time
import tracemalloc
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from fanscope import Outcome, parallel
from fanscope.sdk import attributes as A
from fanscope.sdk.fanout import INPUT_FAILED
from fanscope.sdk.tracing import use_tracer_provider
from tests.conftest import spans_named

#: tasks of a fan-out besides its branches: the caller's and the one reading the input
OWN_TASKS = 2


@dataclass
class Spy:
    """What a fan-out did: calls per item, peak concurrency, peak live tasks, read-ahead."""

    cap: int
    calls: dict[int, int] = field(default_factory=dict)
    running: int = 0
    peak_running: int = 0
    peak_tasks: int = 0
    read: int = 0
    ended: int = 0
    peak_ahead: int = 0  # items read but not yet ended

    def look(self) -> None:
        self.peak_tasks = max(self.peak_tasks, len(asyncio.all_tasks()))
        self.peak_ahead = max(self.peak_ahead, self.read - self.ended)

    def items(self, n: int) -> Iterator[int]:
        for i in range(n):
            self.read += 1
            self.look()
            yield i

    async def aitems(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            if i % 3 == 0:
                await asyncio.sleep(0)  # an async source that really waits now and then
            self.read += 1
            self.look()
            yield i


def branch_of(spy: Spy, fails: frozenset[int], yields: int) -> Any:
    @parallel(max_concurrency=spy.cap)
    async def work(i: int) -> int:
        spy.calls[i] = spy.calls.get(i, 0) + 1
        spy.running += 1
        spy.peak_running = max(spy.peak_running, spy.running)
        spy.look()
        try:
            for _ in range(yields + i % 3):
                await asyncio.sleep(0)
            if i in fails:
                raise ValueError(i)
            return i * 10
        finally:
            spy.running -= 1
            spy.ended += 1

    return work


@settings(max_examples=60)
@given(
    n=st.integers(0, 240),
    cap=st.integers(1, 6),
    source=st.sampled_from(["list", "generator", "async generator"]),
    fails=st.frozensets(st.integers(0, 239), max_size=8),
    yields=st.integers(0, 2),
)
def test_map_reads_as_slots_free_and_keeps_order_cap_and_bounded_tasks(
    n: int, cap: int, source: str, fails: frozenset[int], yields: int
) -> None:
    spy = Spy(cap)
    work = branch_of(spy, fails, yields)

    async def main() -> list[Outcome[int]]:
        items: Any = {
            "list": list(range(n)),
            "generator": spy.items(n),
            "async generator": spy.aitems(n),
        }[source]
        outcomes: list[Outcome[int]] = await work.map(items, on_error="collect")
        assert asyncio.all_tasks() == {asyncio.current_task()}  # no task left behind
        return outcomes

    outcomes = asyncio.run(main())
    assert [o.index for o in outcomes] == list(range(n))  # input order, every item
    assert spy.calls == dict.fromkeys(range(n), 1)  # every item run exactly once
    for o in outcomes:
        assert o.ok == (o.index not in fails)
        assert o.value == (o.index * 10 if o.ok else None)
    assert spy.peak_running <= cap
    # O(cap): branch tasks alive at once, a list's items too (each read as a task can start)
    assert spy.peak_tasks <= 2 * cap + OWN_TASKS
    if source != "list":  # and items read ahead of the ones that ended
        assert spy.peak_ahead <= 2 * cap + 1


@settings(max_examples=30)
@given(n=st.integers(1, 120), cap=st.integers(1, 5), stop_after=st.integers(0, 30))
def test_as_completed_streams_in_bounded_memory_and_stops_cleanly_when_left(
    n: int, cap: int, stop_after: int
) -> None:
    spy = Spy(cap)
    work = branch_of(spy, frozenset(), 0)

    async def main() -> list[int]:
        seen = []
        async with contextlib.aclosing(work.as_completed(spy.aitems(n))) as stream:
            async for index, value in stream:
                assert value == index * 10
                seen.append(index)
                spy.look()
                if len(seen) > stop_after:
                    break
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return seen

    seen = asyncio.run(main())
    assert len(seen) == min(n, stop_after + 1)
    assert len(set(seen)) == len(seen)
    assert spy.peak_running <= cap
    assert spy.peak_tasks <= 2 * cap + OWN_TASKS
    assert spy.peak_ahead <= 2 * cap + 1
    assert all(count == 1 for count in spy.calls.values())


class Big:
    """A result worth letting go of."""


async def test_as_completed_keeps_no_result_the_caller_let_go_of() -> None:
    @parallel(max_concurrency=4)
    async def make(i: int) -> Big:
        await asyncio.sleep(0)
        return Big()

    refs: list[weakref.ref[Big]] = []
    async for _, value in make.as_completed(range(400)):
        refs.append(weakref.ref(value))
        del value
        if len(refs) == 300:
            gc.collect()
            alive = sum(ref() is not None for ref in refs)
            # at most the batch being handed out (a window's worth), not the 300 seen
            assert alive <= 2 * 4


def result_bytes(values: list[int]) -> int:
    """What a list of results holds: its pointers and every int the interpreter does not cache."""
    return sys.getsizeof(values) + sum(sys.getsizeof(v) for v in values if not -5 <= v <= 256)


async def _memory_at(source: str) -> list[tuple[bool, int, int, int]]:
    """(stream, peak at 500 items, peak at 5,000, allowed) for ``map`` and ``as_completed``."""

    @parallel(max_concurrency=8)
    async def work(i: int) -> int:
        await asyncio.sleep(0)
        return i

    def items(n: int) -> Any:
        async def pages() -> AsyncIterator[int]:
            for i in range(n):
                yield i

        return {"list": list(range(n)), "generator": iter(range(n)), "async generator": pages()}[
            source
        ]

    async def peak(n: int, stream: bool) -> tuple[int, int]:
        inputs = items(n)
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            kept: list[int] = []
            if stream:
                async for _, value in work.as_completed(inputs):
                    assert value >= 0
            else:
                kept = await work.map(inputs)
                assert kept == list(range(n))
            return tracemalloc.get_traced_memory()[1] - base, result_bytes(kept) if kept else 0
        finally:
            tracemalloc.stop()

    found = []
    # the fan-out's memory, not the spans' (a test run's provider keeps every span in memory)
    with use_tracer_provider(NoOpTracerProvider()):
        await peak(50, True)  # first-call set-up
        for stream in (True, False):
            small, small_results = await peak(500, stream)
            large, large_results = await peak(5_000, stream)
            # the results' own growth, twice over for the list's growing; plus 16 KB of noise
            allowed = small + 2 * (large_results - small_results) + 16 * 1024
            found.append((stream, small, large, allowed))
    return found


@pytest.mark.parametrize("source", ["list", "generator", "async generator"])
def test_memory_of_a_fan_out_grows_with_its_results_only(source: str) -> None:
    """Peak memory (tracemalloc: counted, not timed) at 10x the items: what the caller keeps
    grows, the fan-out's own state does not (all tasks up front cost about 2 KB an item).

    Measured in a process of its own: tracemalloc counts every thread's allocations, and
    threads an earlier test left behind in this one (a Redis limiter's lease thread renewing
    for a few seconds more, an exporter's worker) would be counted as the fan-out's."""
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-m", "tests.sdk.test_streaming", source],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    for stream, small, large, allowed in json.loads(run.stdout.strip().splitlines()[-1]):
        assert large <= allowed, (stream, small, large, allowed)


async def test_a_slow_consumer_holds_the_fan_out_back() -> None:
    spy = Spy(3)
    work = branch_of(spy, frozenset(), 0)
    async for _ in work.as_completed(spy.items(200)):
        for _ in range(5):  # the loop body takes a while: branches finish meanwhile
            await asyncio.sleep(0)
        spy.look()
    # finished branches whose results are not yet taken count against the window
    assert spy.peak_ahead <= 2 * 3 + 1


async def test_an_async_queue_feeds_a_map_and_its_items_wait_from_when_they_are_read(
    exporter: InMemorySpanExporter,
) -> None:
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    gate = asyncio.Event()

    @parallel(max_concurrency=1)
    async def handle(i: int) -> int:
        if i == 0:
            await gate.wait()
        return i

    async def read() -> AsyncIterator[int]:
        while (item := await queue.get()) is not None:
            yield item

    task = asyncio.ensure_future(handle.map(read()))
    queue.put_nowait(0)
    queue.put_nowait(1)  # read while 0 holds the one slot: it waits in line
    for _ in range(10):
        await asyncio.sleep(0)
    gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    queue.put_nowait(2)  # read later, when the slot is free: it never waits
    queue.put_nowait(None)
    assert await task == [0, 1, 2]
    spans = {s.attributes[A.BRANCH_INDEX]: s for s in spans_named(exporter, "handle")}
    (fanout,) = spans_named(exporter, "map handle")
    assert A.QUEUE_WAIT not in spans[0].attributes
    assert spans[1].attributes[A.QUEUE_WAIT] > 0
    assert A.QUEUE_WAIT not in spans[2].attributes  # it waited from its read, not the start
    assert spans[2].start_time is not None and fanout.start_time is not None
    assert spans[2].start_time > fanout.start_time
    assert fanout.attributes[A.FANOUT_SIZE] == 3


async def test_items_of_a_plain_iterable_wait_from_the_fan_outs_start(
    exporter: InMemorySpanExporter,
) -> None:
    gate = asyncio.Event()

    @parallel(max_concurrency=1)
    async def handle(i: int) -> int:
        if i == 0:
            await gate.wait()
        return i

    task = asyncio.ensure_future(handle.map(iter([0, 1, 2])))
    for _ in range(10):
        await asyncio.sleep(0)
    gate.set()
    assert await task == [0, 1, 2]
    spans = {s.attributes[A.BRANCH_INDEX]: s for s in spans_named(exporter, "handle")}
    (fanout,) = spans_named(exporter, "map handle")
    assert fanout.start_time is not None
    for i in (1, 2):  # read late, yet submitted with the rest at the start
        start = spans[i].start_time
        assert start is not None
        wait = spans[i].attributes[A.QUEUE_WAIT]
        assert isinstance(wait, float)
        assert abs((start - fanout.start_time) / 1e9 - wait) < 1e-6
        assert spans[i].attributes[A.QUEUE_LIMITER] == "handle"


async def test_an_input_that_fails_fails_the_fan_out_and_cancels_its_branches(
    exporter: InMemorySpanExporter,
) -> None:
    started = asyncio.Event()

    @parallel(max_concurrency=2)
    async def hang(i: int) -> int:
        started.set()
        await asyncio.Event().wait()
        return i

    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise KeyError("page 3 is gone")

    async def pages() -> AsyncIterator[int]:
        yield 0
        await started.wait()
        raise KeyError("page 3 is gone")

    for source in (items(), pages()):
        exporter.clear()
        started.clear()
        with pytest.raises(KeyError, match="page 3"):
            await hang.map(source)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        for span in spans_named(exporter, "hang"):
            assert span.attributes[A.BRANCH_OUTCOME] == "cancelled"
            assert span.attributes[A.CANCEL_REASON] == INPUT_FAILED


async def test_a_deadline_still_gives_every_item_of_a_list_its_outcome() -> None:
    @parallel(max_concurrency=2)
    async def hang(i: int) -> int:
        if i:
            await asyncio.Event().wait()
        return i

    outcomes = await hang.map(list(range(50)), on_error="collect", deadline=0.05)
    assert [o.index for o in outcomes] == list(range(50))
    assert outcomes[0].ok
    assert {o.status for o in outcomes[1:]} == {"timeout"}


async def test_a_deadline_stops_reading_an_endless_input() -> None:
    @parallel(max_concurrency=2)
    async def slow(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    done = await slow.map(endless(), on_error="skip", deadline=0.1)
    assert done == list(range(len(done)))  # the ones that finished, in order, none twice


async def test_starmap_reads_argument_tuples_lazily_and_names_a_bad_one() -> None:
    @parallel(max_concurrency=2)
    async def add(a: int, b: int) -> int:
        return a + b

    assert await add.starmap((i, i) for i in range(10)) == [2 * i for i in range(10)]

    async def pairs() -> AsyncIterator[tuple[int, int]]:
        for i in range(5):
            yield i, 1

    assert await add.starmap(pairs()) == [1, 2, 3, 4, 5]
    with pytest.raises(Exception, match="argument tuples"):
        await add.starmap([(1, 2), 3])  # type: ignore[list-item]


def test_the_sync_face_reads_a_generator_as_threads_free() -> None:
    lock = threading.Lock()
    state = {"read": 0, "ended": 0, "ahead": 0, "running": 0, "peak": 0}
    threads: set[int] = set()

    def items(n: int) -> Iterable[int]:
        for i in range(n):
            with lock:
                state["read"] += 1
                state["ahead"] = max(state["ahead"], state["read"] - state["ended"])
            yield i

    @parallel(max_concurrency=3)
    def work(i: int) -> int:
        with lock:
            threads.add(threading.get_ident())
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        time.sleep(0.0005)
        with lock:
            state["running"] -= 1
            state["ended"] += 1
        return i

    assert work.map(items(300)) == list(range(300))
    assert state["peak"] <= 3
    assert len(threads) <= 3
    assert state["ahead"] <= 2 * 3 + 1
    got = sorted(i for i, _ in work.as_completed(items(50)))
    assert got == list(range(50))


if __name__ == "__main__":  # the memory test's measurement, in a fresh process
    print(json.dumps(asyncio.run(_memory_at(sys.argv[1]))))
