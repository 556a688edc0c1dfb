"""The adaptive concurrency controller, driven in simulated time by a provider model with a
latency knee, a hard concurrency limit (429s past it) and timeouts: the failures users of other
adaptive limiters report (growth under steady timeouts and under modest overload) must not
happen, and the limit must come back up when the provider's does."""

from __future__ import annotations

import asyncio
import heapq
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Adaptive, Limiter, parallel, vote
from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk import cap_changes
from fanscope.sdk.permits import Observation


@dataclass
class World:
    """A provider: latency ``base * max(1, in_flight / knee)`` (times noise); 429 past ``hard``,
    answered at once with a ``retry-after`` of one second that the client sleeps in its slot."""

    knee: int = 20
    hard: int | None = None
    base: float = 1.0
    sigma: float = 0.0
    timeout: float | None = None  # every call times out after this many seconds


def run(
    controller: Adaptive, world: World, seconds: float, changes: dict[float, World] | None = None
) -> tuple[list[int], int, int]:
    """Keep the limit full for ``seconds``; returns the limit at each minute, and the 429s and
    answers after the first minute (a start above the provider's limit pays once, up front)."""
    rng = random.Random(7)
    now, flying, rejected, answered = 0.0, [], 0, 0
    minutes: dict[int, int] = {}
    pending = sorted((changes or {}).items())
    while now < seconds:
        while pending and now >= pending[0][0]:
            world = pending.pop(0)[1]
        while len(flying) < controller.value:
            n = len(flying) + 1
            if world.hard is not None and n > world.hard:
                heapq.heappush(flying, (now + 0.05, now, 429))
                heapq.heappush(flying, (now + 1.05, now, -1))  # the client's sleep, then gone
                continue
            latency = world.base * max(1.0, n / world.knee)
            if world.sigma:
                latency *= rng.lognormvariate(0, world.sigma)
            if world.timeout is not None:
                heapq.heappush(flying, (now + world.timeout, now, 0))
            else:
                heapq.heappush(flying, (now + latency, now, 200))
        now, sent, status = heapq.heappop(flying)
        held = len(flying) + 1
        if status == -1:
            continue
        if status == 429:
            rejected += now > 60
            controller.overload(now, sent, held)
        elif status == 0:
            controller.overload(now, sent, held, timeout=True)
        else:
            answered += now > 60
            controller.success(now, now - sent, held)
        minutes.setdefault(int(now // 60), controller.value)
    return list(minutes.values()), rejected, answered


def test_it_settles_near_the_knee_and_stays_there_under_modest_overload() -> None:
    # past the knee every extra call only lengthens answers: a limit that kept growing (the
    # drifting baseline of a long-term average) would reach the maximum of 256
    limits, rejected, _ = run(Adaptive(initial=4), World(knee=20), 1800)
    assert rejected == 0
    assert max(limits[1:]) <= 20 * 1.5 + 2  # latency at most tolerance x the no-load latency
    assert min(limits[2:]) >= 20  # and not starved below the knee
    assert limits[-1] <= limits[2] + 2  # no drift over half an hour


def test_latency_noise_alone_does_not_collapse_the_limit() -> None:
    limits, _, _ = run(Adaptive(initial=4), World(knee=20, sigma=0.5), 900)
    assert min(limits[2:]) >= 12


def test_steady_timeouts_shrink_the_limit_to_its_minimum_not_its_maximum() -> None:
    limits, _, _ = run(Adaptive(initial=16, min=2), World(timeout=5.0), 600)
    assert limits[-1] == 2
    assert max(limits) <= 16


@pytest.mark.parametrize("start", [4, 200])
def test_429s_past_a_hard_limit_hold_it_below_the_limit_from_any_start(start: int) -> None:
    limits, rejected, answered = run(Adaptive(initial=start), World(knee=100, hard=30), 900)
    assert max(limits[2:]) <= 32
    assert min(limits[2:]) >= 10  # a sawtooth under the limit, not a collapse
    assert rejected / (rejected + answered) < 0.01


def test_it_comes_back_up_when_the_providers_limit_rises() -> None:
    low, high = World(knee=100, hard=30), World(knee=200, hard=120)
    limits, _, _ = run(Adaptive(initial=4), low, 1200, changes={300.0: high})
    assert max(limits[:5]) <= 32
    assert max(limits[-5:]) >= 90


def test_it_comes_down_when_the_providers_latency_rises_and_recovers_its_baseline() -> None:
    limits, _, _ = run(Adaptive(initial=4), World(knee=20), 900, changes={300.0: World(knee=10)})
    assert max(limits[-4:]) <= 10 * 1.5 + 2
    assert min(limits[-4:]) >= 8


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(0, 64),
    st.lists(
        st.tuples(
            st.sampled_from(["ok", "429", "timeout"]), st.floats(0.01, 30), st.integers(0, 300)
        ),
        max_size=300,
    ),
)
def test_the_limit_never_leaves_its_bounds(
    low: int, extra: int, events: list[tuple[str, float, int]]
) -> None:
    controller = Adaptive(initial=low, min=low, max=low + extra)
    now = 0.0
    for kind, latency, held in events:
        now += latency
        if kind == "ok":
            decision = controller.success(now, latency, held)
        else:
            decision = controller.overload(now, now - latency, held, timeout=kind == "timeout")
        assert low <= controller.value <= low + extra
        if decision is not None:
            assert decision.old != decision.new
            assert low <= decision.new <= low + extra


def test_bad_bounds_are_one_line_errors() -> None:
    with pytest.raises(ConfigurationError, match="between min and max"):
        Adaptive(initial=1, min=2, max=8)
    with pytest.raises(ConfigurationError, match="backoff"):
        Adaptive(backoff=1.5)


# -- on a Limiter -----------------------------------------------------------------------------


async def test_an_auto_limiter_records_its_decisions_and_hands_new_slots_to_waiters(
    exporter: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("test")
    limiter = Limiter(max_concurrency="auto", adaptive=Adaptive(initial=2, min=1, max=3))
    assert limiter.max_concurrency == 2
    assert "max_concurrency='auto'" in repr(limiter)
    await limiter.acquire_slot()
    await limiter.acquire_slot()
    third = asyncio.ensure_future(limiter.acquire_slot())
    await asyncio.sleep(0.01)
    assert not third.done()
    with tracer.start_as_current_span("call"):
        for _ in range(4):  # answers while the cap is in use: slow start grows it
            limiter.observe(Observation(status=200, latency=0.1))
    await asyncio.wait_for(third, 5)  # the new slot went to the waiter
    assert limiter.max_concurrency == 3 and limiter.in_use == 3
    with tracer.start_as_current_span("call"):
        limiter.observe(Observation(status=429, latency=0.1, retry_after=0.0))
    assert limiter.max_concurrency == 2
    events = [e for s in exporter.get_finished_spans() for e in s.events]
    changes = [(e.attributes[A.LIMIT_OLD], e.attributes[A.LIMIT_NEW]) for e in events]  # type: ignore[index]
    assert changes == [(2, 3), (3, 2)]
    assert {e.attributes[A.LIMIT_REASON] for e in events} == {"grow", "overload"}  # type: ignore[index]
    for _ in range(3):  # the cap shrank below what is held: a release is not handed over
        limiter.release()
    assert limiter.in_use == 0


def test_a_limit_cut_below_two_slots_grows_again_from_one_call_in_flight() -> None:
    # with one slot, one call in flight is the limit in use: a fractional limit (1.5 after a
    # slow-start step, 1.4 after a cut from 2) must not read it as the caller holding back
    controller = Adaptive(initial=2, min=1, max=8)
    assert controller.overload(1.0, 0.5, 2) is not None and controller.value == 1
    for i in range(20):
        controller.success(2.0 + i, 0.1, in_flight=controller.value)
    assert controller.value >= 2


async def test_a_fan_out_under_an_auto_cap_records_where_it_started_and_each_change(
    exporter: InMemorySpanExporter,
) -> None:
    limiter = Limiter(max_concurrency="auto", adaptive=Adaptive(initial=1, min=1, max=6))

    @parallel(limiter=limiter)
    async def ask(i: int) -> int:
        await asyncio.sleep(0)
        limiter.observe(Observation(status=429 if i == 9 else 200, latency=0.001))
        return i

    await limiter.acquire_slot()  # grow it before the fan-out, after the decoration
    for _ in range(2):  # slow start: half a slot per answer
        limiter.observe(Observation(status=200, latency=0.001))
    limiter.release()
    start = limiter.max_concurrency
    assert start is not None and start > 1
    made = len(limiter.decisions)
    assert await ask.map(range(12)) == list(range(12))
    (fan,) = [s for s in exporter.get_finished_spans() if s.name == "map ask"]
    attrs = fan.attributes or {}
    assert attrs[A.FANOUT_MAX_CONCURRENCY] == start  # not the 1 it was decorated with
    during = [d.new for _, d in limiter.decisions[made:]]
    assert len(during) >= 2 and min(during) < max(during)  # it grew and was cut
    assert list(attrs[A.FANOUT_CAP_CHANGES]) == during  # type: ignore[arg-type]
    at = list(attrs[A.FANOUT_CAP_CHANGED_AT])  # type: ignore[arg-type]
    assert at == sorted(at) and len(at) == len(during)
    assert fan.end_time is not None and fan.start_time is not None
    assert at[0] >= 0 and at[-1] <= (fan.end_time - fan.start_time) / 1e9
    assert limiter._watchers == []  # the fan-out no longer listens once it has ended


async def test_a_vote_under_an_auto_cap_records_where_it_started_and_each_change(
    exporter: InMemorySpanExporter,
) -> None:
    """As a map's: the vote's fan-out span carries its voters' cap when the vote starts (not
    when it was decorated) and each change while it runs."""
    limiter = Limiter(max_concurrency="auto", adaptive=Adaptive(initial=1, min=1, max=6))
    calls = 0

    @vote(n=12, early_stop=False)
    @parallel(limiter=limiter)
    async def ask(question: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        limiter.observe(Observation(status=429 if calls == 10 else 200, latency=0.001))
        return "yes"

    await limiter.acquire_slot()  # grow it before the vote, after the decoration
    for _ in range(2):
        limiter.observe(Observation(status=200, latency=0.001))
    limiter.release()
    start = limiter.max_concurrency
    assert start is not None and start > 1
    made = len(limiter.decisions)
    assert await ask("ship it?") == "yes"
    (fan,) = [s for s in exporter.get_finished_spans() if s.name == "vote ask"]
    attrs = fan.attributes or {}
    assert attrs[A.FANOUT_MAX_CONCURRENCY] == start  # not the 1 it was decorated with
    during = [d.new for _, d in limiter.decisions[made:]]
    assert len(during) >= 2 and min(during) < max(during)  # it grew and was cut
    assert list(attrs[A.FANOUT_CAP_CHANGES]) == during  # type: ignore[arg-type]
    assert len(attrs[A.FANOUT_CAP_CHANGED_AT]) == len(during)  # type: ignore[arg-type]
    assert limiter._watchers == []


async def test_past_its_most_changes_a_fan_out_keeps_the_latest_cap_in_its_last_entry(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cap_changes, "MAX_CAP_CHANGES", 1)
    limiter = Limiter(max_concurrency="auto", adaptive=Adaptive(initial=1, min=1, max=6))

    @parallel(limiter=limiter)
    async def ask(i: int) -> int:
        await asyncio.sleep(0)
        limiter.observe(Observation(status=429 if i == 11 else 200, latency=0.001))
        return i

    await ask.map(range(12))
    (fan,) = [s for s in exporter.get_finished_spans() if s.name == "map ask"]
    first, last = limiter.decisions[0][1].new, limiter.decisions[-1][1].new
    assert last != first  # more changes than the span may keep, the last one a cut
    assert list((fan.attributes or {})[A.FANOUT_CAP_CHANGES]) == [limiter.decisions[-1][1].new]  # type: ignore[arg-type]
