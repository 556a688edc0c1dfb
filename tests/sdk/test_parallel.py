"""@parallel: calls, map, starmap, as_completed, policies, spans."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import fanscope
from fanscope import Limiter, Retry, parallel, traced
from fanscope.errors import ConfigurationError, DeadlineExceeded, UsageError
from fanscope.sdk import attributes as A
from tests.conftest import spans_named


class Spy:
    """Counts calls in flight and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    @contextlib.asynccontextmanager
    async def inflight(self) -> Any:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            yield
        finally:
            self.now -= 1


async def test_map_returns_results_in_input_order_even_when_they_finish_reversed() -> None:
    gates = [asyncio.Event() for _ in range(5)]

    @parallel
    async def wait_for(i: int) -> int:
        await gates[i].wait()
        if i > 0:
            gates[i - 1].set()
        return i * 10

    task = asyncio.ensure_future(wait_for.map(range(5)))
    await asyncio.sleep(0)
    gates[4].set()
    assert await task == [0, 10, 20, 30, 40]


async def test_cap_is_never_exceeded_across_map_and_lone_calls() -> None:
    spy = Spy()

    @parallel(max_concurrency=3)
    async def work(i: int) -> int:
        async with spy.inflight():
            await asyncio.sleep(0.001)
        return i

    results = await asyncio.gather(work.map(range(20)), work.map(range(20)), work(1), work(2))
    assert results[0] == list(range(20))
    assert spy.peak == 3


async def test_shared_limiter_caps_two_functions_together() -> None:
    spy = Spy()
    provider = Limiter(max_concurrency=2, name="provider")

    @parallel(limiter=provider)
    async def a(i: int) -> int:
        async with spy.inflight():
            await asyncio.sleep(0.001)
        return i

    @parallel(limiter=provider, max_concurrency=5)
    async def b(i: int) -> int:
        async with spy.inflight():
            await asyncio.sleep(0.001)
        return -i

    await asyncio.gather(a.map(range(10)), b.map(range(10)))
    assert spy.peak == 2


async def test_lone_call_is_a_branch_span_under_the_callers_span(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel
    async def fetch(x: str) -> str:
        return x.upper()

    @traced
    async def step() -> str:
        return await fetch("hello world")

    assert await step() == "HELLO WORLD"
    (branch,) = spans_named(exporter, "fetch")
    (outer,) = spans_named(exporter, "step")
    assert branch.parent is not None and outer.context is not None
    assert branch.parent.span_id == outer.context.span_id
    assert branch.attributes is not None
    assert branch.attributes[A.ROLE] == A.ROLE_BRANCH
    assert branch.attributes[A.BRANCH_OUTCOME] == "ok"
    assert A.BRANCH_INDEX not in branch.attributes


async def test_map_makes_fanout_branch_and_fanin_spans_with_parents(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel(max_concurrency=2)
    async def double(i: int) -> int:
        await asyncio.sleep(0)
        return 2 * i

    assert await double.map([1, 2, 3]) == [2, 4, 6]
    (fanout,) = spans_named(exporter, "map double")
    (fanin,) = spans_named(exporter, "fan-in double")
    branches = spans_named(exporter, "double")
    assert fanout.context is not None and fanout.attributes is not None
    assert fanout.attributes[A.KIND] == A.KIND_MAP
    assert fanout.attributes[A.FANOUT_SIZE] == 3
    assert fanout.attributes[A.FANOUT_MAX_CONCURRENCY] == 2
    assert fanout.attributes[A.FANOUT_SUCCEEDED] == 3
    assert len(branches) == 3
    for span in [*branches, fanin]:
        assert span.parent is not None and span.parent.span_id == fanout.context.span_id
    assert sorted(b.attributes[A.BRANCH_INDEX] for b in branches if b.attributes) == [0, 1, 2]


async def test_waiting_for_a_slot_shows_as_a_gap_and_an_attribute(
    exporter: InMemorySpanExporter,
) -> None:
    release = asyncio.Event()

    @parallel(max_concurrency=1)
    async def hold(i: int) -> int:
        if i == 0:
            await release.wait()
        return i

    task = asyncio.ensure_future(hold.map([0, 1]))
    for _ in range(5):
        await asyncio.sleep(0)
    release.set()
    await task
    by_index = {s.attributes[A.BRANCH_INDEX]: s for s in spans_named(exporter, "hold")}
    (fanout,) = spans_named(exporter, "map hold")
    first, second = by_index[0], by_index[1]
    assert first.start_time is not None and first.end_time is not None
    assert second.start_time is not None and fanout.start_time is not None
    # the waiting branch starts when it gets the slot: after the first one ended
    assert second.start_time >= first.end_time
    wait = second.attributes[A.QUEUE_WAIT]
    assert wait > 0
    assert second.attributes[A.QUEUE_LIMITER] == "hold"
    assert (second.start_time - fanout.start_time) / 1e9 >= wait
    assert A.QUEUE_WAIT not in first.attributes  # absent means it never waited
    assert not spans_named(exporter, "queue wait")


async def test_waiting_again_before_a_retry_is_a_queue_span(
    exporter: InMemorySpanExporter,
) -> None:
    release = asyncio.Event()
    attempts = 0

    @parallel(max_concurrency=1, retry=Retry(attempts=2, initial=0.0, retry_on=KeyError))
    async def job(i: int) -> int:
        nonlocal attempts
        if i == 0:
            attempts += 1
            if attempts == 1:
                raise KeyError("again")
            return 0
        await release.wait()
        return i

    # branch 0 fails, branch 1 takes the slot, branch 0's retry waits for it in line
    task = asyncio.ensure_future(job.map([0, 1]))
    for _ in range(10):
        await asyncio.sleep(0)
    release.set()
    assert await task == [0, 1]
    (queue,) = spans_named(exporter, "queue wait")
    retried = next(s for s in spans_named(exporter, "job") if s.attributes[A.BRANCH_INDEX] == 0)
    assert queue.parent is not None and retried.context is not None
    assert queue.parent.span_id == retried.context.span_id
    assert queue.attributes == {A.ROLE: A.ROLE_QUEUE, A.QUEUE_REASON: "cap", A.QUEUE_LIMITER: "job"}
    assert retried.attributes[A.QUEUE_WAIT] > 0
    assert retried.attributes[A.BRANCH_ATTEMPTS] == 2


async def test_a_branch_cancelled_in_line_still_ends_its_span_as_cancelled(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel(max_concurrency=1)
    async def job(i: int) -> int:
        if i == 0:
            await asyncio.sleep(0)
            raise ValueError("first fails")
        await asyncio.Event().wait()  # branch 1 runs until cancelled; branch 2 never starts
        return i

    with pytest.RaisesGroup(ValueError):
        await job.map([0, 1, 2, 3, 4, 5])
    spans = {s.attributes[A.BRANCH_INDEX]: s for s in spans_named(exporter, "job")}
    # a failed fan-out reads no more of its input: items it never read have no span
    (fanout,) = spans_named(exporter, "map job")
    assert fanout.attributes[A.FANOUT_SIZE] == len(spans) < 6
    assert spans[1].attributes[A.BRANCH_OUTCOME] == "cancelled"
    assert spans[1].attributes[A.CANCEL_REASON] == "sibling failed"


async def test_a_branch_waiting_in_line_when_cancelled_ends_its_span_from_its_submission(
    exporter: InMemorySpanExporter,
) -> None:
    gate = Limiter(1, name="gate")
    release = asyncio.Event()

    @parallel(limiter=gate)
    async def hold() -> None:
        await release.wait()

    @parallel(limiter=gate)
    async def job(i: int) -> int:
        return i

    holder = asyncio.ensure_future(hold())
    await asyncio.sleep(0)  # the holder takes the one slot
    task = asyncio.ensure_future(job.map([0, 1]))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await holder
    (waiting,) = spans_named(exporter, "job")  # item 1 was never read
    (fanout,) = spans_named(exporter, "map job")
    assert waiting.attributes[A.BRANCH_INDEX] == 0
    assert waiting.attributes[A.BRANCH_ATTEMPTS] == 0
    assert waiting.attributes[A.BRANCH_OUTCOME] == "cancelled"
    assert waiting.attributes[A.CANCEL_REASON] == "caller cancelled"
    assert waiting.attributes[A.QUEUE_WAIT] > 0
    assert waiting.start_time == fanout.start_time  # it waited from the fan-out's start
    assert gate.in_use == 0


async def test_on_error_raise_cancels_siblings_and_names_the_failed_branch(
    exporter: InMemorySpanExporter,
) -> None:
    started = asyncio.Event()
    cancelled: list[int] = []

    @parallel
    async def job(i: int) -> int:
        if i == 1:
            await started.wait()
            raise ValueError("bad input 1")
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    with pytest.RaisesGroup(ValueError, match="job\\[1\\]: ValueError: bad input 1") as info:
        await job.map([0, 1, 2])
    assert isinstance(info.value, fanscope.FanoutError)
    assert info.value.branches == ("job[1]",)
    assert sorted(cancelled) == [0, 2]
    outcomes = {s.attributes[A.BRANCH_INDEX]: s for s in spans_named(exporter, "job")}
    assert outcomes[1].attributes[A.BRANCH_OUTCOME] == "error"
    assert outcomes[1].status.status_code is StatusCode.ERROR
    assert outcomes[1].attributes[A.ERROR_TYPE] == "ValueError"
    assert any(e.name == "exception" for e in outcomes[1].events)
    for i in (0, 2):
        assert outcomes[i].attributes[A.BRANCH_OUTCOME] == "cancelled"
        assert outcomes[i].attributes[A.CANCEL_REASON] == "sibling failed"
        assert outcomes[i].status.status_code is StatusCode.UNSET
    (fanout,) = spans_named(exporter, "map job")
    assert fanout.status.status_code is StatusCode.ERROR
    assert fanout.attributes[A.FANOUT_CANCELLED] == 2


async def test_on_error_collect_returns_every_outcome_by_index() -> None:
    @parallel
    async def job(i: int) -> int:
        if i % 2:
            raise KeyError(i)
        return i

    outcomes = await job.map(range(4), on_error="collect")
    assert [o.status for o in outcomes] == ["ok", "error", "ok", "error"]
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert outcomes[2].unwrap() == 2
    assert isinstance(outcomes[3].error, KeyError)
    with pytest.raises(KeyError):
        outcomes[1].unwrap()


async def test_on_error_skip_drops_failures() -> None:
    @parallel
    async def job(i: int) -> int:
        if i == 2:
            raise RuntimeError("no")
        return i

    assert await job.map(range(5), on_error="skip") == [0, 1, 3, 4]


async def test_min_successes_holds_with_some_failures_and_raises_when_unreachable() -> None:
    @parallel
    async def job(i: int) -> int:
        if i < 2:
            raise RuntimeError(f"fail {i}")
        return i

    assert await job.map(range(5), on_error="skip", min_successes=3) == [2, 3, 4]
    with pytest.RaisesGroup(RuntimeError, RuntimeError, match="needed 4 successes"):
        await job.map(range(5), on_error="skip", min_successes=4)


async def test_min_successes_with_raise_is_rejected_with_a_hint() -> None:
    @parallel
    async def job(i: int) -> int:
        return i

    with pytest.raises(ConfigurationError, match="use on_error='skip'"):
        await job.map([1], min_successes=1)


async def test_retry_retries_until_success_and_records_events(
    exporter: InMemorySpanExporter,
) -> None:
    calls = 0

    class Flaky(Exception):
        retry_after = 0.0

    @parallel(retry=Retry(attempts=4, initial=0.001, max_wait=0.002, retry_on=Flaky))
    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Flaky("try again")
        return "done"

    assert await flaky() == "done"
    (span,) = spans_named(exporter, "flaky")
    assert span.attributes[A.BRANCH_ATTEMPTS] == 3
    retries = [e for e in span.events if e.name == A.EVENT_RETRY]
    assert [e.attributes[A.RETRY_ATTEMPT] for e in retries] == [1, 2]
    assert all(e.attributes[A.ERROR_TYPE].endswith("Flaky") for e in retries)
    assert all(e.attributes[A.RETRY_AFTER] == 0.0 for e in retries)


async def test_retry_stops_at_attempts_and_does_not_retry_unretryable() -> None:
    calls = {"timeout": 0, "value": 0}

    @parallel(retry=Retry(attempts=3, initial=0.0))
    async def times_out() -> None:
        calls["timeout"] += 1
        raise TimeoutError

    @parallel(retry=Retry(attempts=3, initial=0.0))
    async def bad_value() -> None:
        calls["value"] += 1
        raise ValueError

    with pytest.raises(TimeoutError):
        await times_out()
    with pytest.raises(ValueError):
        await bad_value()
    assert calls == {"timeout": 3, "value": 1}


async def test_timeout_is_per_attempt_and_marks_the_outcome(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel(timeout=0.01)
    async def slow() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        await slow()
    (span,) = spans_named(exporter, "slow")
    assert span.attributes[A.BRANCH_OUTCOME] == "timeout"
    assert span.attributes[A.BRANCH_TIMEOUT] == 0.01


async def test_deadline_ends_running_branches_as_timeouts() -> None:
    @parallel
    async def job(i: int) -> int:
        if i:
            await asyncio.Event().wait()
        return i

    # branch 0 answers in its first step; the deadline leaves a loaded loop half a second for it
    outcomes = await job.map([0, 1], on_error="collect", deadline=0.5)
    assert outcomes[0].value == 0
    assert outcomes[1].status == "timeout"
    assert isinstance(outcomes[1].error, DeadlineExceeded)


async def test_cancelling_the_caller_cancels_every_branch() -> None:
    running: set[int] = set()
    started = asyncio.Event()

    @parallel
    async def job(i: int) -> None:
        running.add(i)
        if len(running) == 3:
            started.set()
        try:
            await asyncio.Event().wait()
        finally:
            running.discard(i)

    task = asyncio.ensure_future(job.map(range(3)))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert running == set()
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()


async def test_as_completed_yields_fastest_first_with_indexes() -> None:
    gates = [asyncio.Event() for _ in range(3)]

    @parallel
    async def job(i: int) -> str:
        await gates[i].wait()
        return f"r{i}"

    order = [2, 0, 1]
    seen = []
    gates[order[0]].set()
    async for index, value in job.as_completed(range(3)):
        seen.append((index, value))
        if len(seen) < 3:
            gates[order[len(seen)]].set()
    assert seen == [(2, "r2"), (0, "r0"), (1, "r1")]


async def test_breaking_out_of_as_completed_with_aclosing_cancels_the_rest() -> None:
    @parallel
    async def job(i: int) -> int:
        if i:
            await asyncio.Event().wait()
        return i

    async with contextlib.aclosing(job.as_completed(range(4))) as results:
        async for index, _ in results:
            assert index == 0
            break
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()


async def test_starmap_passes_several_arguments() -> None:
    @parallel
    async def add(a: int, b: int) -> int:
        return a + b

    assert await add.starmap([(1, 2), (3, 4)]) == [3, 7]
    with pytest.raises(UsageError, match="use map\\(\\)"):
        await add.starmap([1, 2])


async def test_reduce_runs_inside_the_fanin_span(exporter: InMemorySpanExporter) -> None:
    @parallel
    async def word(i: int) -> str:
        return "abc"[i]

    @traced
    def join(parts: list[str]) -> str:
        return "".join(parts)

    async def async_join(parts: list[str]) -> str:
        return "-".join(parts)

    assert await word.map(range(3), reduce=join) == "abc"
    assert await word.map(range(3), reduce=async_join) == "a-b-c"
    (step,) = spans_named(exporter, "join")
    fanin = spans_named(exporter, "fan-in word")[0]
    assert step.parent is not None and fanin.context is not None
    assert step.parent.span_id == fanin.context.span_id


async def test_nested_fanouts_nest_their_spans(exporter: InMemorySpanExporter) -> None:
    @parallel(max_concurrency=4)
    async def leaf(i: int) -> int:
        return i

    @parallel(max_concurrency=2)
    async def node(i: int) -> list[int]:
        return await leaf.map(range(i))

    assert await node.map([1, 2]) == [[0], [0, 1]]
    by_id = {s.context.span_id: s for s in exporter.get_finished_spans() if s.context}
    inner = spans_named(exporter, "map leaf")
    assert len(inner) == 2
    for fanout in inner:
        assert fanout.parent is not None
        assert by_id[fanout.parent.span_id].name == "node"
    roots = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert [r.name for r in roots] == ["map node"]


async def test_work_moved_to_a_thread_keeps_its_parent(exporter: InMemorySpanExporter) -> None:
    @traced
    def blocking(text: str) -> str:
        return text[::-1]

    @parallel
    async def branch(text: str) -> str:
        return await asyncio.to_thread(blocking, text)

    assert await branch.map(["abc", "def"]) == ["cba", "fed"]
    branch_ids = {s.context.span_id for s in spans_named(exporter, "branch") if s.context}
    steps = spans_named(exporter, "blocking")
    assert len(steps) == 2
    assert {s.parent.span_id for s in steps if s.parent} == branch_ids


async def test_branches_record_dataflow_fingerprints(exporter: InMemorySpanExporter) -> None:
    @parallel
    async def echo(text: str) -> str:
        return text

    await echo.map(["the same long answer text"])
    (span,) = spans_named(exporter, "echo")
    assert span.attributes[A.DATAFLOW_INPUTS] == span.attributes[A.DATAFLOW_OUTPUTS]


async def test_everything_works_without_a_tracer_provider() -> None:
    from opentelemetry.trace import NoOpTracerProvider

    from fanscope.sdk.tracing import use_tracer_provider

    @parallel(max_concurrency=2)
    async def job(i: int) -> int:
        return i

    with use_tracer_provider(NoOpTracerProvider()):
        assert await job.map(range(5)) == list(range(5))
        assert await fanscope.gather(job(1), x=job(2)) == [1, 2]


def test_decorating_a_generator_fails_at_once_with_the_fix() -> None:
    def numbers() -> Any:
        yield 1

    with pytest.raises(UsageError, match="is a generator; return a list instead"):
        parallel(numbers)
    with pytest.raises(UsageError, match="decorates a function, got 3"):
        parallel(3)  # type: ignore[call-overload]
    with pytest.raises(UsageError, match="async generator"):

        @parallel
        async def gen() -> Any:
            yield 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be a whole number >= 1"),
        ({"max_concurrency": 2.5}, "max_concurrency must be a whole number >= 1"),
        ({"timeout": -1}, "timeout must be a number of seconds > 0"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0"),
        ({"rate": 0}, "'requests' must be > 0"),
        ({"retry": "3"}, "retry must be a Retry"),
    ],
)
def test_bad_options_are_rejected_with_their_value_and_fix(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):

        @parallel(**kwargs)
        async def job() -> None:
            return None


async def test_map_over_a_non_iterable_or_a_string_says_what_to_pass() -> None:
    @parallel
    async def job(x: Any) -> Any:
        return x

    with pytest.raises(UsageError, match="needs an iterable of inputs, got int 5"):
        await job.map(5)
    with pytest.raises(UsageError, match="pass a list"):
        await job.map("abc")
    with pytest.raises(ConfigurationError, match="on_error must be"):
        await job.map([1], on_error="ignore")  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError, match="deadline must be"):
        await job.map([1], deadline=-2)


async def test_methods_can_be_decorated_and_share_the_cap() -> None:
    spy = Spy()

    class Client:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @parallel(max_concurrency=2)
        async def ask(self, q: str) -> str:
            async with spy.inflight():
                await asyncio.sleep(0.001)
            return f"{self.tag}:{q}"

    a, b = Client("a"), Client("b")
    results = await asyncio.gather(a.ask.map(["x", "y", "z"]), b.ask.map(["x"]), a.ask("w"))
    assert results == [["a:x", "a:y", "a:z"], ["b:x"], "a:w"]
    assert spy.peak == 2


async def test_retry_after_pauses_the_limiter_for_everyone() -> None:
    class Limited(Exception):
        def __init__(self) -> None:
            super().__init__("429")
            self.retry_after = 0.05

    first = True
    times: list[float] = []
    loop = asyncio.get_running_loop()

    @parallel(max_concurrency=4, retry=Retry(attempts=2, initial=0.0, retry_on=Limited))
    async def call(i: int) -> int:
        nonlocal first
        times.append(loop.time())
        if first:
            first = False
            raise Limited
        return i

    start = loop.time()
    await call(0)
    later = await call.map([1, 2])
    assert later == [1, 2]
    # the retry and every call after it started no sooner than the retry-after
    assert all(t - start >= 0.05 for t in times[1:])


async def test_a_taskgroup_inside_a_branch_keeps_its_children_under_the_branch(
    exporter: InMemorySpanExporter,
) -> None:
    @traced
    async def part(i: int) -> int:
        await asyncio.sleep(0)
        return i

    @parallel
    async def branch(n: int) -> int:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(part(i)) for i in range(n)]
        return sum(t.result() for t in tasks)

    assert await branch.map([2, 3]) == [1, 3]
    branch_ids = {s.context.span_id for s in spans_named(exporter, "branch") if s.context}
    parts = spans_named(exporter, "part")
    assert len(parts) == 5
    assert {p.parent.span_id for p in parts if p.parent} == branch_ids
    assert [s.name for s in exporter.get_finished_spans() if s.parent is None] == ["map branch"]


async def test_run_in_executor_loses_the_parent_unless_the_context_is_copied(
    exporter: InMemorySpanExporter,
) -> None:
    import contextvars
    import functools

    @traced
    def blocking() -> int:
        return 1

    @parallel
    async def branch(copy: bool) -> int:
        loop = asyncio.get_running_loop()
        if copy:
            ctx = contextvars.copy_context()
            return await loop.run_in_executor(None, functools.partial(ctx.run, blocking))
        return await loop.run_in_executor(None, blocking)

    await branch.map([True, False])
    steps = {s.context.span_id: s for s in spans_named(exporter, "blocking") if s.context}
    parents = [s.parent for s in steps.values()]
    # documented in docs/sdk.md: the copied context nests, the bare executor call does not
    assert sum(1 for p in parents if p is None) == 1
    assert sum(1 for p in parents if p is not None) == 1


async def test_parallel_accepts_an_async_callable_object_such_as_a_vote() -> None:
    from fanscope import vote

    @vote(n=3)
    async def judge(q: str) -> str:
        return q.upper()

    bounded = parallel(max_concurrency=2)(judge)
    assert await bounded.map(["a", "b", "c"]) == ["A", "B", "C"]
