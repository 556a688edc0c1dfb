"""Sync functions: @parallel, gather and @vote on plain defs, run on threads the fan-out owns."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import Retry, parallel, traced, vote
from fanscope.errors import FanoutError, UsageError
from fanscope.sdk import attributes as A
from tests.conftest import spans_named

HANG = 60.0  # only a hang waits this long


class Peak:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.threads: set[str] = set()

    def __enter__(self) -> Peak:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.threads.add(threading.current_thread().name)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_map_runs_on_as_many_threads_as_the_cap_and_keeps_input_order() -> None:
    peak = Peak()
    both_in = threading.Barrier(3)

    @parallel(max_concurrency=3)
    def work(i: int) -> int:
        with peak:
            if i < 3:
                both_in.wait(HANG)  # the first three really run at once
            time.sleep(0.001)
        return i * 2

    assert work.map(range(30)) == [i * 2 for i in range(30)]
    assert peak.peak == 3
    assert len(peak.threads) <= 3
    assert all(name.startswith("fanscope work") for name in peak.threads)


def test_a_lone_call_runs_on_the_calling_thread_as_one_branch_span(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel(max_concurrency=2)
    def ask(q: str) -> str:
        return f"{q}:{threading.current_thread().name}"

    assert ask("x") == f"x:{threading.current_thread().name}"
    (span,) = spans_named(exporter, "ask")
    assert span.attributes is not None
    assert span.attributes[A.ROLE] == A.ROLE_BRANCH
    assert span.attributes[A.BRANCH_MAX_CONCURRENCY] == 2


def test_branch_spans_are_current_inside_the_function_on_its_thread(
    exporter: InMemorySpanExporter,
) -> None:
    @traced
    def inner(i: int) -> int:
        return i + 1

    @parallel(max_concurrency=2)
    def outer(i: int) -> int:
        return inner(i)

    assert outer.map([1, 2]) == [2, 3]
    branches = {s.context.span_id: s for s in spans_named(exporter, "outer")}
    steps = spans_named(exporter, "inner")
    assert len(steps) == 2
    assert all(s.parent is not None and s.parent.span_id in branches for s in steps)


def test_retries_and_failure_policy_are_those_of_the_async_path(
    exporter: InMemorySpanExporter,
) -> None:
    tries: dict[int, int] = {}
    lock = threading.Lock()

    @parallel(max_concurrency=2, retry=Retry(attempts=3, initial=0.001))
    def flaky(i: int) -> int:
        with lock:
            tries[i] = tries.get(i, 0) + 1
            if tries[i] < 2:
                raise TimeoutError("try again")
        if i == 3:
            raise ValueError("bad item")
        return i

    outcomes = flaky.map(range(5), on_error="collect")
    assert [o.status for o in outcomes] == ["ok", "ok", "ok", "error", "ok"]
    assert outcomes[0].attempts == 2
    with pytest.raises(FanoutError, match=r"flaky\[3\]: ValueError: bad item"):
        flaky.map(range(5))
    assert flaky.map(range(5), on_error="skip") == [0, 1, 2, 4]


def test_a_timed_out_attempt_is_abandoned_and_the_fan_out_does_not_wait_for_it(
    exporter: InMemorySpanExporter,
) -> None:
    release = threading.Event()
    finished = threading.Event()

    @parallel(max_concurrency=2, timeout=0.05)
    def slow(i: int) -> int:
        if i == 0:
            release.wait(HANG)  # far longer than the timeout
            finished.set()
        return i

    try:
        outcomes = slow.map(range(4), on_error="collect")
        assert [o.status for o in outcomes] == ["timeout", "ok", "ok", "ok"]
        assert not finished.is_set()  # returned while the abandoned call still runs
    finally:
        release.set()
    assert finished.wait(HANG)
    (timed_out,) = [
        s
        for s in spans_named(exporter, "slow")
        if (s.attributes or {}).get(A.BRANCH_OUTCOME) == "timeout"
    ]
    assert timed_out.attributes is not None
    assert timed_out.attributes[A.ERROR_TYPE] == "TimeoutError"


def test_the_first_failure_cancels_branches_still_waiting_in_line() -> None:
    started: list[int] = []

    @parallel(max_concurrency=1)
    def one_at_a_time(i: int) -> int:
        started.append(i)
        if i == 1:
            raise ValueError("stop here")
        return i

    with pytest.raises(FanoutError):
        one_at_a_time.map(range(10))
    # the slot the failed branch gave back may already be handed on (as on the async path)
    assert started[:2] == [0, 1]
    assert len(started) <= 3


def test_a_deadline_ends_a_sync_fan_out_while_a_branch_still_blocks() -> None:
    release = threading.Event()

    @parallel
    def stuck(i: int) -> int:
        if i:
            release.wait(HANG)
        return i

    try:
        outcomes = stuck.map([0, 1], on_error="collect", deadline=0.05)
    finally:
        release.set()
    assert [o.status for o in outcomes] == ["ok", "timeout"]


def test_starmap_and_as_completed() -> None:
    @parallel(max_concurrency=2)
    def add(a: int, b: int) -> int:
        return a + b

    assert add.starmap([(1, 2), (3, 4)]) == [3, 7]

    @parallel(max_concurrency=4)
    def square(i: int) -> int:
        return i * i

    assert sorted(square.as_completed(range(5))) == [(i, i * i) for i in range(5)]


def test_gather_over_sync_functions_from_sync_code(exporter: InMemorySpanExporter) -> None:
    @parallel(max_concurrency=1, retry=2)
    def search(q: str) -> str:
        return f"news:{q}"

    def prices(q: str) -> int:
        return len(q)

    answers = fanscope.gather(news=functools.partial(search, "acme"), prices=lambda: prices("acme"))
    assert answers.news == "news:acme"
    assert answers.prices == 4
    (fanout,) = spans_named(exporter, "gather")
    branches = [s for s in exporter.get_finished_spans() if s.parent == fanout.context]
    names = sorted(s.name for s in branches if (s.attributes or {}).get(A.ROLE) == A.ROLE_BRANCH)
    assert names == ["news", "prices"]  # the @parallel call is the branch itself: no nesting


def test_gather_refuses_an_async_function_in_sync_code_with_the_fix() -> None:
    async def fetch() -> int:
        return 1

    with pytest.raises(UsageError, match="is an async function"):
        fanscope.gather(a=fetch, b=lambda: 2)


def test_a_sync_vote_stops_once_decided() -> None:
    answers = iter(["yes", "yes", "no", "yes", "yes"])
    lock = threading.Lock()

    @vote(n=5, quorum=2)
    def judge(diff: str) -> str:
        with lock:
            return next(answers)

    ballot = judge.ballot("diff")
    assert ballot.winner == "yes"
    assert ballot.decided

    @vote(n=3)
    def exhausted(diff: str) -> str:
        return next(iter([]))  # StopIteration must fail the voter, not hang the vote

    with pytest.raises(fanscope.NotEnoughSuccesses, match="StopIteration"):
        exhausted("diff")


async def test_the_async_face_runs_on_threads_without_blocking_the_loop() -> None:
    gate = threading.Event()
    ticks = 0

    @parallel(max_concurrency=2)
    def blocking(i: int) -> int:
        gate.wait(HANG)
        return i

    async def ticker() -> None:
        nonlocal ticks
        while not gate.is_set():
            ticks += 1
            if ticks == 5:
                gate.set()
            await asyncio.sleep(0)

    results, _ = await asyncio.gather(blocking.aio.map(range(4)), ticker())
    assert results == [0, 1, 2, 3]
    assert await blocking.aio(7) == 7
    assert await fanscope.gather(a=blocking.aio(1), b=blocking.aio(2)) == [1, 2]


async def test_sync_calls_work_where_a_loop_already_runs_as_in_a_notebook() -> None:
    @parallel(max_concurrency=2)
    def work(i: int) -> int:
        return i + 1

    @vote(n=3)
    def judge(q: str) -> str:
        return "yes"

    # this test's own loop is running here, as a notebook's is in a cell
    assert work(1) == 2
    assert work.map([1, 2]) == [2, 3]
    assert fanscope.gather(a=lambda: 1) == [1]
    assert judge("q") == "yes"
    assert list(work.as_completed([5])) == [(0, 6)]


def test_methods_share_the_cap_across_instances() -> None:
    peak = Peak()

    class Agent:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @parallel(max_concurrency=2)
        def ask(self, q: str) -> str:
            with peak:
                time.sleep(0.002)
            return f"{self.tag}:{q}"

    a, b = Agent("a"), Agent("b")
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda x=x: results.append(x.ask.map(["1", "2", "3"])))
        for x in (a, b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    assert sorted(results) == [["a:1", "a:2", "a:3"], ["b:1", "b:2", "b:3"]]
    assert peak.peak <= 2
    assert a.ask("z") == "a:z"


def shape_of(exporter: InMemorySpanExporter) -> list[tuple[Any, ...]]:
    """The span tree as names, parents' names and the attributes that do not vary."""
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    keep = (A.ROLE, A.KIND, A.BRANCH_OUTCOME, A.BRANCH_INDEX, A.FANOUT_SIZE, A.FANOUT_FAILED)
    keep += (A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS, A.ERROR_TYPE)  # same process, same keys
    rows = []
    for s in spans:
        parent = (
            by_id.get(s.parent.span_id).name if s.parent and s.parent.span_id in by_id else None
        )
        attrs = s.attributes or {}
        rows.append((s.name, parent, tuple((k, attrs.get(k)) for k in keep), s.status.status_code))
    return sorted(rows, key=repr)


def test_the_same_fan_out_sync_and_async_gives_the_same_spans_and_outcomes(
    exporter: InMemorySpanExporter,
) -> None:
    def body(i: int) -> str:
        if i == 2:
            raise ValueError("two")
        return f"answer number {i} with enough text to be fingerprinted"

    @parallel(max_concurrency=2, name="step")
    def sync_step(i: int) -> str:
        return body(i)

    @parallel(max_concurrency=2, name="step")
    async def async_step(i: int) -> str:
        return body(i)

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("agent"):
        sync_out = sync_step.map(range(4), on_error="collect")
    sync_shape = shape_of(exporter)
    exporter.clear()

    async def main() -> Any:
        with tracer.start_as_current_span("agent"):
            return await async_step.map(range(4), on_error="collect")

    async_out = asyncio.run(main())
    assert shape_of(exporter) == sync_shape
    assert [(o.status, o.value) for o in sync_out] == [(o.status, o.value) for o in async_out]
    assert len(sync_shape) == 1 + 1 + 4 + 1  # agent, fan-out, four branches, fan-in


def test_static_and_class_methods_bind_as_they_would_undecorated() -> None:
    from tests.typing.sync_and_methods_check import Agent  # the class the type checks read

    agent = Agent("a")
    assert agent.ask("q") == "aq"
    assert agent.ask.map(["q", "r"]) == ["aq", "ar"]
    assert Agent.shout("a") == agent.shout("a") == "A"
    assert agent.shout.map(["a", "b"]) == Agent.shout.map(["a", "b"]) == ["A", "B"]
    assert Agent.named("x") == agent.named("x") == "Agentx"
    assert agent.named.map(["x"]) == ["Agentx"]
    assert agent.agree("d") is True
    assert agent.step("abc") == Agent.static_step("abc") == Agent.class_step("abc") == 3
    assert asyncio.run(agent.ask_async.map(["q"])) == ["aq"]
    assert Agent.ask(agent, "q") == "aq"
    assert Agent.class_agree("d") is agent.class_agree("d") is True
    assert agent.class_agree.ballot("d").winner is True
    assert Agent.agree(agent, "d") is True
    assert Agent.static_agree("d") is agent.static_agree("d") is True
    assert Agent.agree_static("") is agent.agree_static("") is False
    assert agent.static_agree.ballot("d").winner is True

    async def async_faces() -> list[object]:
        return [
            await agent.step_async("abcd"),
            await Agent.shout_async("a"),
            await agent.shout_async.map(["a", "b"]),
            await Agent.named_async("x"),
            await agent.named_async.map(["x"]),
            await agent.agree_async("d"),
            await Agent.static_agree_async("d"),
            await agent.static_agree_async(""),
        ]

    faces = [4, "A", ["A", "B"], "Agentx", ["Agentx"], True, True, False]
    assert asyncio.run(async_faces()) == faces


def test_waiting_for_a_thread_under_the_cap_is_recorded_as_queue_wait(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel(max_concurrency=1)
    def one_at_a_time(i: int) -> int:
        time.sleep(0.01)
        return i

    assert one_at_a_time.map(range(3)) == [0, 1, 2]
    waits = sorted(
        (s.attributes or {}).get(A.QUEUE_WAIT, 0.0) for s in spans_named(exporter, "one_at_a_time")
    )
    assert waits[0] == 0.0  # the first went at once
    assert waits[1] > 0.005 and waits[2] > waits[1]  # the others waited for the one thread


def test_a_tracer_provider_set_for_the_callers_context_reaches_every_thread() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from fanscope.sdk.tracing import use_tracer_provider

    mine = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(mine))

    @parallel(max_concurrency=3, timeout=HANG)
    def work(i: int) -> int:
        return i

    with use_tracer_provider(provider):
        assert work.map(range(6)) == list(range(6))
        assert list(work.as_completed([1])) == [(0, 1)]
        assert fanscope.gather(lambda: 1, b=lambda: 2) == [1, 2]
        assert work(5) == 5
    names = [s.name for s in mine.get_finished_spans()]
    assert names.count("work") == 6 + 1 + 1
    assert {"map work", "fan-in work", "gather", "fan-in gather"} <= set(names)
