"""The what-if respects every recorded limit: caps, shared caps, rate limits, retries and
retry-after pauses; and "what if the cap were N"."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Limiter, Retry, parallel, traced
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.dependencies import Witnesses
from fanscope.analysis.model import Span
from fanscope.errors import UsageError
from fanscope.sdk import attributes as A
from tests.analysis.builders import MS, span

IN, OUT = A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS
# spans built here carry fingerprints but no call sites: alone, the fingerprints make
# candidates, which these tests of the schedule count
COUNTED = Witnesses(count_candidates=True)


def _work(seconds: float) -> None:
    """Busy for ``seconds`` (the agent's own code between two calls)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _limited(name: str, requests: float, per: float, cap: int = 0) -> dict[str, object]:
    return {
        A.ROLE: A.ROLE_BRANCH,
        A.LIMITER_NAMES: [name],
        A.LIMITER_MAX_CONCURRENCY: [cap],
        A.LIMITER_RATE: [requests],
        A.LIMITER_PER: [per],
    }


# -- rate limits, on real SDK runs ------------------------------------------------------------


async def test_ten_calls_a_second_cannot_run_fifteen_independent_calls_together(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel(rate=10)  # bursts of 10, then one every 100 ms
    async def lookup(i: int) -> str:
        await asyncio.sleep(0.002)
        return f"answer number {i} about the quarter"

    @traced
    async def agent() -> None:
        for i in range(15):  # independent: each input is its own, no answer reused
            await lookup(i)

    await agent()
    spans = exporter.get_finished_spans()
    calls = [s for s in spans if s.name == "lookup"]
    assert calls[0].attributes is not None
    assert calls[0].attributes[A.LIMITER_RATE] == (10.0,)
    report = analyze(from_readable_spans(spans)).traces[0]
    floor = (15 - 10) / 10  # fifteen tokens, ten at once, then 100 ms each
    assert report.duration >= floor
    # the calls are independent, but ten a second cannot deliver more than this
    assert report.whatif >= floor
    assert report.whatif_rate_wait > 0
    for o in report.opportunities:
        assert o["whatif"] >= floor


async def test_a_rate_limited_fan_out_is_no_saving(exporter: InMemorySpanExporter) -> None:
    @parallel(rate=20)
    async def summarize(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    await summarize.map(range(30))
    report = analyze(from_readable_spans(exporter.get_finished_spans())).traces[0]
    floor = (30 - 20) / 20
    assert report.whatif >= floor
    assert report.parallelizable_share < 0.2


async def test_a_limiter_shared_by_two_functions_keeps_their_calls_one_at_a_time(
    exporter: InMemorySpanExporter,
) -> None:
    provider = Limiter(1, name="provider")

    @parallel(limiter=provider)
    async def draft(topic: str) -> str:
        await asyncio.sleep(0.1)
        return f"a draft about {topic} in several words"

    @parallel(limiter=provider)
    async def critique(topic: str) -> str:
        await asyncio.sleep(0.1)
        return f"a critique of {topic} in several words"

    @traced
    async def agent() -> None:
        await draft("cats")  # independent calls, but one slot between them
        # the agent's own work between them: it cannot hide under the slot (were it longer
        # than the call before it, as 5 ms of CPU can be on a loaded machine with calls of
        # 20 ms, starting that call before the work would be a true saving)
        _work(0.005)
        await critique("dogs")

    await agent()
    spans = exporter.get_finished_spans()
    report = analyze(from_readable_spans(spans)).traces[0]
    assert report.opportunities == []
    calls = [s for s in spans if s.name in ("draft", "critique")]
    assert report.whatif >= sum((s.end_time - s.start_time) / 1e9 for s in calls)


async def test_a_branch_keeps_its_retries_and_their_waits(exporter: InMemorySpanExporter) -> None:
    failures = iter([ConnectionError("down"), ConnectionError("down")])

    @parallel(retry=Retry(attempts=3, initial=0.05, multiplier=2, jitter="none"))
    async def flaky(x: str) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return f"the flaky service answered about {x}"

    @parallel
    async def steady(x: str) -> str:
        await asyncio.sleep(0.01)
        return f"the steady service answered about {x}"

    @traced
    async def agent() -> None:
        await steady("one")
        await flaky("two")  # independent of the first: may move, but keeps 50 + 100 ms waits

    await agent()
    report = analyze(from_readable_spans(exporter.get_finished_spans())).traces[0]
    assert report.opportunities  # the two calls could run together ...
    assert report.whatif >= 0.05 + 0.10  # ... but the retries' backoff stays


# -- rate limits and pauses, exactly ----------------------------------------------------------


def _four_limited_steps(requests: float, per: float) -> list[Span]:
    root = span("agent", 0, 200, fanscope__role="step")
    calls = [
        span("call", i * 50, i * 50 + 50, root, **{IN: [f"q{i}"], OUT: [f"a{i}"]}) for i in range(4)
    ]
    for c in calls:
        c.attributes.update(_limited("api", requests, per))
    return [root, *calls]


def test_tokens_come_as_the_limiters_gcra_gives_them() -> None:
    # bursts of 2, one every 50 ms: four calls moved to 0 ms go at 0, 0, 50 and 100 ms
    report = analyze(_four_limited_steps(2, 0.1), witnesses=COUNTED).traces[0]
    assert report.whatif == pytest.approx(0.150)
    assert report.whatif_rate_wait == pytest.approx(0.100)
    (opportunity,) = report.opportunities
    assert opportunity["saving"] == pytest.approx(0.050)


def test_a_limit_that_allows_nothing_faster_leaves_no_opportunity() -> None:
    # one every 50 ms, as observed
    report = analyze(_four_limited_steps(1, 0.05), witnesses=COUNTED).traces[0]
    assert report.opportunities == []
    assert report.whatif == pytest.approx(report.duration)


def test_a_retry_after_pause_holds_back_every_call_through_that_limiter() -> None:
    root = span("agent", 0, 450, fanscope__role="step")
    slow = span("call", 0, 400, root, **{IN: ["q1"], OUT: ["a1"]}, **_limited("api", 100, 1))
    slow.events.append(
        (10_000_000, A.EVENT_RETRY, {A.RETRY_ATTEMPT: 1, A.RETRY_DELAY: 0.3, A.RETRY_AFTER: 0.3})
    )
    slow.attributes[A.BRANCH_ATTEMPTS] = 2
    step = span("review", 400, 450, root, fanscope__role="step", **{IN: ["q2"], OUT: ["a2"]})
    inner = span("call", 420, 450, step, **_limited("api", 100, 1))
    spans = [root, slow, step, inner]
    report = analyze(spans, witnesses=COUNTED).traces[0]
    # moved to the start, the review's call would fall inside the 300 ms pause
    assert report.opportunities == []
    assert report.whatif == pytest.approx(report.duration)
    unpaused = [s if s is not slow else _without_events(s) for s in spans]
    without_pause = analyze(unpaused, witnesses=COUNTED).traces[0]
    assert without_pause.whatif == pytest.approx(0.400)


def _without_events(s: Span) -> Span:
    return Span(**{**{f: getattr(s, f) for f in s.__dataclass_fields__}, "events": []})


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(10, 60), st.booleans()), min_size=1, max_size=25),
    st.integers(1, 5),
    st.sampled_from([0.05, 0.1, 0.2]),
)
def test_no_what_if_beats_the_rate_limit(
    steps: list[tuple[int, bool]], burst: int, per: float
) -> None:
    interval_ms = per / burst * 1000
    root = span("agent", 0, 0, fanscope__role="step")
    spans = [root]
    clock = 0.0
    for i, (length, uses_previous) in enumerate(steps):
        length_ms = max(length, interval_ms)  # as observed, the calls respected the limit
        inputs = [f"a{i - 1}"] if uses_previous and i else [f"q{i}"]
        call = span("call", clock, clock + length_ms, root, **{IN: inputs, OUT: [f"a{i}"]})
        call.attributes.update(_limited("api", burst, per))
        spans.append(call)
        clock += length_ms
    root.end = int(clock * 1_000_000)
    report = analyze(spans, witnesses=COUNTED).traces[0]
    floor = max(0, len(steps) - burst) * interval_ms / 1000
    assert report.whatif >= floor - 1e-9
    assert report.whatif <= report.duration + 1e-9
    for o in report.opportunities:  # a step's window holds every call: the same floor
        assert o["whatif"] >= floor - 1e-9, (o["whatif"], floor)
        assert o["saving"] <= report.duration - report.whatif + 1e-9


def test_a_first_call_that_waited_in_line_keeps_the_rate_limits_pauses_in_its_steps_window() -> (
    None
):
    """The what-if starts the first call without its wait in line, before its observed start;
    the rate limit's pauses placed there belong to the step's window. Read from the observed
    start, they were left out and the step claimed 15 calls at 10 a second in 0.1 s."""
    root = span("agent", 0, 0, fanscope__role="step")
    spans, clock = [root], 100.0
    for i in range(15):
        call = span("call", clock, clock + 40, root, **{IN: [f"q{i}"], OUT: [f"a{i}"]})
        call.attributes.update(_limited("api", 10, 1.0))
        if i == 0:
            call.attributes[A.QUEUE_WAIT] = 0.1
        spans.append(call)
        clock += 40 if i < 9 else 100  # the last five waited for their tokens
    root.end = int(clock * 1_000_000)
    report = analyze(spans, witnesses=COUNTED).traces[0]
    assert report.opportunities, "fifteen independent calls one after another"
    floor = (15 - 10) / 10 + 0.040  # the fifteenth token, then its call
    for o in report.opportunities:
        assert o["whatif"] >= floor - 1e-9, (o["whatif"], floor)
        assert o["saving"] <= report.duration - report.whatif + 1e-9


# -- what if the cap were N -------------------------------------------------------------------


def _capped_fanout(cap: int = 2, function: str = "m.summarize", start: float = 0) -> list[Span]:
    fanout = span(f"map {function}", start, start + 40, fanscope__role="fanout",
                  fanscope__fanout__max_concurrency=cap, fanscope__function=function)  # fmt: skip
    branches = [
        span("summarize", start + (i // 2) * 10, start + (i // 2) * 10 + 10, fanout,
             fanscope__role="branch", fanscope__branch__index=i,
             fanscope__queue__wait_s=(i // 2) * 0.010)
        for i in range(8)
    ]  # fmt: skip
    return [fanout, *branches]


@pytest.mark.parametrize(("cap", "whatif"), [(4, 0.020), (8, 0.010), (100, 0.010), (1, 0.080)])
def test_what_if_the_cap_were_n_repacks_a_fan_out(cap: int, whatif: float) -> None:
    (report,) = analyze(_capped_fanout(), what_if_caps={"*": cap}).traces
    assert report.whatif_cap is not None
    assert report.whatif_cap["whatif"] == pytest.approx(whatif)
    assert report.whatif_cap["saving"] == pytest.approx(0.040 - whatif)
    assert report.whatif_cap["matched"] == ["*"]
    assert report.whatif == pytest.approx(0.040)  # the plain what-if keeps the recorded cap


def test_a_named_cap_changes_that_function_only_and_steps_keep_their_order() -> None:
    root = span("agent", 0, 100, fanscope__role="step")
    first = _capped_fanout(function="m.summarize")
    second = _capped_fanout(function="m.rank", start=50)
    first[0].parent_id = second[0].parent_id = root.span_id
    (report,) = analyze([root, *first, *second], what_if_caps={"summarize": 8}).traces
    assert report.whatif_cap is not None
    assert report.whatif_cap["matched"] == ["summarize"]
    # summarize 40 -> 10 ms, rank stays 40 ms and still starts after it: 100 - 30 ms
    assert report.whatif_cap["whatif"] == pytest.approx(0.070)


def test_a_higher_cap_still_waits_for_the_rate_limit() -> None:
    spans = _capped_fanout()
    for b in spans[1:]:
        b.attributes.update(
            {k: v for k, v in _limited("summarize", 2, 0.01).items() if k != A.ROLE}
        )
    (report,) = analyze(spans, what_if_caps={"*": 8}).traces
    assert report.whatif_cap is not None
    # 8 tokens, 2 at once then one every 5 ms: the last goes at 30 ms, done at 40 ms
    assert report.whatif_cap["whatif"] == pytest.approx(0.040)


def test_a_cap_that_matches_nothing_says_so() -> None:
    (report,) = analyze(_capped_fanout(), what_if_caps={"nothing": 4}).traces
    assert report.whatif_cap is not None
    assert report.whatif_cap["matched"] == []
    assert report.whatif_cap["whatif"] == pytest.approx(0.040)
    from fanscope.analysis.report import text

    assert "no cap matched nothing" in text.render(
        analyze(_capped_fanout(), what_if_caps={"nothing": 4}).to_dict()
    )


@pytest.mark.parametrize("bad", [0, -3, True, 2.5])
def test_a_cap_that_is_not_a_whole_number_of_at_least_one_is_refused(bad: object) -> None:
    with pytest.raises(UsageError, match="whole number >= 1"):
        analyze(_capped_fanout(), what_if_caps={"*": bad})  # type: ignore[dict-item]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fanscope", *args], capture_output=True, text=True, check=False
    )


def test_the_cli_answers_what_if_the_cap_were_n_in_json_and_text(tmp_path: Path) -> None:
    from fanscope.analysis.convert import to_otlp_lines

    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(to_otlp_lines(_capped_fanout())) + "\n")
    done = _cli("analyze", str(path), "--what-if-cap", "summarize=4", "--format", "json")
    assert done.returncode == 0, done.stderr
    (trace,) = json.loads(done.stdout)["traces"]
    assert trace["whatif_cap"]["caps"] == {"summarize": 4}
    assert trace["whatif_cap"]["whatif"] == pytest.approx(0.020)
    done = _cli("analyze", str(path), "--what-if-cap", "4")
    assert "what-if with cap 4: 20 ms instead of 40 ms" in done.stdout
    done = _cli("analyze", str(path), "--what-if-cap", "zero")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--what-if-cap 16" in done.stderr


def _many_limited_steps(n: int) -> list[Span]:
    root = span("agent", 0, n * 10, fanscope__role="step")
    out = [root]
    for i in range(n):
        call = span("call", i * 10, i * 10 + 10, root, **{IN: [f"q{i}"], OUT: [f"a{i}"]})
        call.attributes.update(_limited("api", 5, 0.05))
        out.append(call)
    return out


def test_rate_limits_cost_about_linear_time_in_the_number_of_calls() -> None:
    import time

    seconds = []
    for n in (2_000, 20_000):
        spans = _many_limited_steps(n)
        started = time.process_time()
        report = analyze(spans, witnesses=COUNTED).traces[0]
        seconds.append(time.process_time() - started)
        # a burst of five, then one call every 10 ms: the last starts (n - 5) x 10 ms in
        assert report.whatif == pytest.approx((n - 5) * 0.010 + 0.010)
    # relative to the small case measured in the same run: ten times the calls, well under
    # a hundred times the time (a square would be a hundred)
    assert seconds[1] < 30 * max(seconds[0], 0.01)


def test_a_wait_for_a_limiter_shared_with_other_processes_is_said_to_limit_the_what_if() -> None:
    root = span("agent", 0, 300, **{A.ROLE: "step"})
    shared = {A.ROLE: A.ROLE_BRANCH, A.LIMITER_NAMES: ["anthropic"], A.QUEUE_SHARED: True}
    spans = [
        root,
        span("ask", 0, 150, root, **shared, **{A.QUEUE_WAIT: 0.1}),
        span("ask", 150, 300, root, **shared, **{A.QUEUE_WAIT: 0.1}),
    ]
    warned = [w for w in analyze(spans).traces[0].warnings if "shared with other" in w]
    assert len(warned) == 1 and warned[0].startswith("2 call(s) waited 0.2 s")
    for s in spans[1:]:
        s.attributes[A.QUEUE_SHARED] = False  # a local limiter: this trace holds every slot
    assert not [w for w in analyze(spans).traces[0].warnings if "shared with other" in w]


def _auto_fanout_beside_a_longer_step(moved: bool) -> list[Span]:
    """A step ran a fan-out of 8 branches under an adaptive cap that started at 1 and was 4
    from 10 ms on (200 ms in all), then an independent step of 1 s. Run together, the two
    take 1 s: 200 ms saved, no more. ``moved``: the fan-out records its cap's change."""
    root = span("research", 0, 1202, fanscope__role="step")
    changes = {A.FANOUT_CAP_CHANGES: [4], A.FANOUT_CAP_CHANGED_AT: [0.010]} if moved else {}
    fan = span("map ask", 0, 200, root, fanscope__role="fanout", fanscope__kind="map",
               fanscope__function="agent.ask", fanscope__fanout__max_concurrency=1)  # fmt: skip
    fan.attributes.update({IN: ["q"], OUT: ["answers"], **changes})
    starts = [0, 10, 10, 10, 95, 105, 105, 105]  # as the cap let them
    branches = [
        span("ask", s, s + 95, fan, fanscope__role="branch", fanscope__queue__wait_s=s / 1000)
        for s in starts
    ]
    other = span("filings", 202, 1202, root, fanscope__role="step")
    other.attributes.update({IN: ["company"], OUT: ["filings"]})
    return [root, fan, *branches, other]


def test_a_fan_out_under_an_auto_cap_is_scheduled_under_the_cap_as_it_moved() -> None:
    report = analyze(_auto_fanout_beside_a_longer_step(moved=True), witnesses=COUNTED).traces[0]
    (found,) = report.opportunities
    assert found["saving"] == pytest.approx(0.200, abs=0.005)  # the fan-out's time, no more
    assert report.whatif == pytest.approx(1.002, abs=0.005)
    # read at its starting cap alone (a trace from before the cap's changes were recorded),
    # the fan-out's branches make 8 x 95 ms in the schedule; what it took (200 ms) bounds its
    # what-if, so running the other step beside it is not credited with 760 ms
    start_only = analyze(_auto_fanout_beside_a_longer_step(moved=False), witnesses=COUNTED)
    (kept,) = start_only.traces[0].opportunities
    assert kept["saving"] == pytest.approx(0.200, abs=0.005)


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(1, 6),
    changes=st.lists(st.tuples(st.integers(1, 6), st.integers(0, 400)), max_size=6),
    durations=st.lists(st.integers(5, 120), min_size=1, max_size=12),
)
def test_the_moving_cap_never_has_more_branches_running_than_the_cap_allowed_then(
    first: int, changes: list[tuple[int, int]], durations: list[int]
) -> None:
    from fanscope.analysis.whatif import _MovingCap

    steps = sorted((at * MS, cap) for cap, at in changes)
    cap_of = _MovingCap(0, first, steps)
    placed: list[tuple[int, int]] = []
    for d in durations:
        begin = cap_of.take(0, d * MS)
        running = sum(1 for s, e in placed if s <= begin < e)
        allowed = first
        for at, cap in steps:
            if at <= begin:
                allowed = cap
        assert running < allowed
        placed.append((begin, begin + d * MS))
    assert [s for s, _ in placed] == sorted(s for s, _ in placed)
