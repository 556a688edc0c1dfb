"""analyze(): its inputs, its report, and damaged traces with known answers."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import traced
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.dependencies import Witnesses
from fanscope.analysis.model import Span
from fanscope.analysis.report import markdown, text
from fanscope.errors import UsageError
from fanscope.sdk import attributes as A
from tests.analysis.builders import assert_run_together, span

OTHER = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_several_roots_are_analysed_under_a_virtual_root_with_the_gap_named() -> None:
    first = span("first", 0, 30)
    second = span("second", 50, 100)  # nothing in the trace accounts for 30-50
    report = analyze([first, second]).traces[0]
    assert report.root == "(several roots)"
    assert report.duration == pytest.approx(0.100)
    assert [(s["name"], s["start"], s["end"]) for s in report.critical_path] == [
        ("first", 0.0, 0.030),
        ("(no span)", 0.030, 0.050),
        ("second", 0.050, 0.100),
    ]
    assert any("2 root spans" in w for w in report.warnings)


def test_a_cycle_is_cut_where_it_closes_and_the_rest_of_the_tree_is_kept() -> None:
    root = span("root", 0, 100, sid="00000000000000a0")
    a = span("a", 10, 120, "00000000000000b0", sid="00000000000000a1")  # a -> b -> a
    b = span("b", 20, 110, "00000000000000a1", sid="00000000000000b0")
    report = analyze([root, a, b]).traces[0]
    assert any("1 parent cycle(s) broken" in w for w in report.warnings)
    # the walk from a meets a again: a's link is cut, a is a root and b stays its child;
    # before a started, the root was running: its time, not "(no span)"
    assert [(s["name"], s["start"], s["end"]) for s in report.critical_path] == [
        ("root", 0.0, 0.010),
        ("a", 0.010, 0.020),
        ("b", 0.020, 0.110),
        ("a", 0.110, 0.120),
    ]


def test_a_trace_is_picked_by_its_id_or_the_end_of_it() -> None:
    spans = [span("one", 0, 10), span("two", 0, 20, trace=OTHER)]
    assert [t.root for t in analyze(spans).traces] == ["one", "two"]
    assert [t.root for t in analyze(spans, trace_id=OTHER.upper()).traces] == ["two"]
    assert [t.root for t in analyze(spans, trace_id=OTHER[-8:]).traces] == ["two"]
    assert analyze(spans, trace_id="ffff").traces == []


def test_the_report_is_plain_json_and_every_segment_has_its_span_and_times() -> None:
    root = span("root", 0, 100, fanscope__role="step")
    call = span("chat model", 10, 90, root)
    doc = json.loads(json.dumps(analyze([root, call]).to_dict()))
    assert doc["schema"] == "fanscope.report/v1"
    (trace,) = doc["traces"]
    assert [(s["span_id"], s["start"], s["end"]) for s in trace["critical_path"]] == [
        (root.span_id, 0.0, 0.010),
        (call.span_id, 0.010, 0.090),
        (root.span_id, 0.090, 0.100),
    ]


def test_calls_of_other_instrumentations_are_named_by_the_step_they_ran_in() -> None:
    root = span("agent", 0, 100, fanscope__role="step")
    news = span("search_news", 0, 50, root, fanscope__role="step")
    chat1 = span("chat claude", 1, 49, news)
    db = span("query_db", 50, 100, root, fanscope__role="step")
    chat2 = span("chat claude", 51, 99, db)
    report = analyze([root, news, chat1, db, chat2]).traces[0]
    rows = [(s["within"], s["name"]) for s in report.critical_path if s["span_id"] in {
        chat1.span_id, chat2.span_id}]  # fmt: skip
    assert rows == [("search_news", "chat claude"), ("query_db", "chat claude")]
    assert set(report.by_operation) >= {"search_news > chat claude", "query_db > chat claude"}
    rendered = text.render(analyze([root, news, chat1, db, chat2]).to_dict())
    assert "search_news > chat claude" in rendered and "query_db > chat claude" in rendered


def test_sdk_spans_are_accepted_as_they_are(exporter: InMemorySpanExporter) -> None:
    @traced
    def step(x: str) -> str:
        return x * 2

    step("a long enough input")
    finished = exporter.get_finished_spans()
    direct = analyze(finished).to_dict()
    converted = analyze(from_readable_spans(finished)).to_dict()
    assert direct == converted and direct["traces"][0]["root"] == "step"


def test_anything_else_is_refused_with_what_to_pass() -> None:
    with pytest.raises(UsageError, match=r"analyze\(\) takes spans, not str"):
        analyze(["traces.jsonl"])  # type: ignore[list-item]


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**20),
    st.floats(),
    st.text(max_size=5),
    st.lists(st.one_of(st.text(max_size=5), st.integers(), st.dictionaries(st.text(), st.none()))),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_KEYS = [
    A.ROLE, A.KIND, A.FUNCTION, A.FANOUT_SIZE, A.FANOUT_MAX_CONCURRENCY, A.BRANCH_INDEX,
    A.BRANCH_NAME, A.BRANCH_OUTCOME, A.BRANCH_MAX_CONCURRENCY, A.QUEUE_WAIT,
    A.DATAFLOW_INPUTS, A.DATAFLOW_OUTPUTS,
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(_KEYS), _VALUES), max_size=8))
# two waits of the largest float add up to infinity: the text report printed it by int(inf // 60)
@example([(2, A.QUEUE_WAIT, 1e308), (3, A.QUEUE_WAIT, 1e308)])
@example([(2, A.QUEUE_WAIT, math.inf), (3, A.QUEUE_WAIT, -math.inf)])
@example([(1, A.FANOUT_MAX_CONCURRENCY, 10**20), (2, A.BRANCH_INDEX, -5)])
def test_fanscope_attributes_of_the_wrong_type_never_break_the_analysis(
    damage: list[tuple[int, str, object]],
) -> None:
    root = span("agent", 0, 100, fanscope__role="step")
    fan = span("map f", 0, 60, root, fanscope__role="fanout", fanscope__fanout__max_concurrency=2)
    spans = [
        root,
        fan,
        span("f", 0, 30, fan, fanscope__role="branch", fanscope__branch__index=0),
        span("f", 30, 60, fan, fanscope__role="branch", fanscope__branch__index=1),
        span("s", 60, 80, root, fanscope__role="step", fanscope__dataflow__inputs=["a"]),
        span("t", 80, 100, root, fanscope__role="step", fanscope__dataflow__outputs=["b"]),
    ]
    for index, key, value in damage:
        spans[index].attributes[key] = value
    report = analyze(spans).to_dict()
    text.render(report)
    markdown.render(report)
    assert report["traces"][0]["duration"] == pytest.approx(0.100)


async def test_four_traced_steps_then_one_using_their_answers_from_the_real_sdk(
    exporter: InMemorySpanExporter,
) -> None:
    latency = {"news": 0.04, "filings": 0.05, "prices": 0.02, "db": 0.03}

    def source(kind: str) -> object:
        @traced(name=f"fetch_{kind}")
        async def fetch(question: str) -> str:
            await asyncio.sleep(latency[kind])
            return f"the {kind} say that {question} grew eleven percent this quarter"

        return fetch

    fetchers = {kind: source(kind) for kind in latency}

    @traced
    async def synthesize(news: str, filings: str, prices: str, db: str) -> str:
        await asyncio.sleep(0.01)
        return "brief"

    @traced
    async def research(question: str) -> str:
        answers = {kind: await fetch(question) for kind, fetch in fetchers.items()}  # type: ignore[operator]
        return await synthesize(**answers)

    await research("ACME")
    spans = exporter.get_finished_spans()
    # the source cannot tell which function `fetch` is (a value taken from a dict), so it
    # does not vouch for the fetches: they are candidates, counted here
    assert analyze(spans).traces[0].opportunities == []
    assert analyze(spans).traces[0].candidates
    report = analyze(spans, witnesses=Witnesses(count_candidates=True)).traces[0]
    (opportunity,) = report.opportunities
    (group,) = opportunity["run_together"]
    assert sorted(s["name"] for s in group) == sorted(f"fetch_{k}" for k in latency)
    (after,) = opportunity["keep_after"]
    assert after["step"]["name"] == "synthesize"
    assert sorted(s["name"] for s in after["after"]) == sorted(f"fetch_{k}" for k in latency)
    spans = exporter.get_finished_spans()
    assert_run_together(report, spans, [f"fetch_{k}" for k in latency], "synthesize")


def _capped_fanout() -> list[Span]:
    root = span("agent", 0, 40, fanscope__role="step")
    fan = span("map f", 0, 30, root, fanscope__role="fanout", fanscope__fanout__max_concurrency=1)
    branches = [
        span("f", i * 10, i * 10 + 10, fan, fanscope__role="branch", fanscope__branch__index=i,
             fanscope__queue__wait_s=i * 0.010)
        for i in range(3)
    ]  # fmt: skip
    return [root, fan, *branches]


def test_waiting_behind_a_cap_on_the_path_counts_each_stretch_once() -> None:
    # cap 1: f[1] waited 0-10 ms while f[0] ran, f[2] waited 0-20 ms while f[0] and f[1] ran;
    # the path runs f[0], f[1], f[2], and 0-20 ms of it was f[2] waiting in line
    report = analyze(_capped_fanout()).traces[0]
    assert [s["name"] for s in report.critical_path] == ["f[0]", "f[1]", "f[2]", "agent"]
    assert report.queue_wait_total == pytest.approx(0.030)
    assert report.queue_wait_on_path == pytest.approx(0.020)
    assert report.queue_wait_share == pytest.approx(0.020 / 0.040)


def test_a_wait_before_a_retry_is_a_queue_span_counted_whole() -> None:
    spans = _capped_fanout()
    last = spans[-1]
    last.end = 40_000_000
    spans[0].end = spans[1].end = 40_000_000
    last.attributes["fanscope.queue.wait_s"] = 0.025
    spans.append(span("queue wait", 25, 30, last, fanscope__role="queue"))
    report = analyze(spans).traces[0]
    # first wait 25 - 5 = 20 ms before f[2] starts, then 5 ms in the queue span
    assert report.queue_wait_on_path == pytest.approx(0.025)


def test_a_trace_of_zero_durations_says_so_instead_of_an_empty_path() -> None:
    root = span("root", 5, 5)
    report = analyze([root, span("child", 5, 5, root)]).to_dict()
    assert report["traces"][0]["critical_path"] == []
    assert "(none: every span of this trace has zero duration)" in text.render(report)


def test_a_path_of_many_equal_small_steps_still_shows_its_longest_rows() -> None:
    root = span("root", 0, 1000)
    steps = [span(f"step{i}", i, i + 1, root) for i in range(1000)]
    rows = text.path_rows(analyze([root, *steps]).to_dict()["traces"][0])
    assert [name for name, _ in rows] == [f"step{i}" for i in range(12)]


def test_two_thousand_independent_steps_are_one_group_and_one_short_sentence() -> None:
    root = span("agent", 0, 2001, fanscope__role="step")
    steps = [
        span("fetch", i, i + 1, root, fanscope__role="step",
             fanscope__dataflow__inputs=[f"q{i}"], fanscope__dataflow__outputs=[f"a{i}"])
        for i in range(2000)
    ]  # fmt: skip
    # no source for these spans: the fingerprints alone make them candidates
    strict = analyze([root, *steps]).traces[0]
    assert strict.opportunities == [] and strict.whatif == pytest.approx(strict.duration)
    (candidate,) = strict.candidates
    assert strict.candidate_saving == pytest.approx(2.001 - 0.002)
    assert text.opportunity_sentence(candidate) == "under agent: run fetch x2000 together"
    report = analyze([root, *steps], witnesses=Witnesses(count_candidates=True)).traces[0]
    (opportunity,) = report.opportunities
    assert [len(g) for g in opportunity["run_together"]] == [2000]
    assert report.whatif == pytest.approx(0.002)  # one step, and the root's last 1 ms
    assert text.opportunity_sentence(opportunity) == "under agent: run fetch x2000 together"


def test_a_long_list_of_names_is_counted_and_cut() -> None:
    assert text.names(["a", "b"]) == "a, b"
    many = [f"s{i}" for i in range(10)] + ["s0"] * 5
    assert text.names(many) == "s0 x6, s1, s2, s3, s4, 5 more"


def test_a_chain_fifty_thousand_spans_deep_is_analysed_without_recursion() -> None:
    spans = [span("agent", 0, 100_002, fanscope__role="step")]
    for i in range(50_000):
        spans.append(span("call", i + 1, 100_001 - i, spans[-1]))
    report = analyze(spans).traces[0]
    assert len(report.critical_path) == 2 * 50_000 + 1
    assert {s["within"] for s in report.critical_path[1:-1]} == {"agent"}


def test_a_very_deep_comb_of_steps_stops_comparing_fingerprints_with_a_warning() -> None:
    # every level has a fingerprinted leaf and the next level: comparing each level's
    # subtree with its sibling's would cost the square of the depth
    n = 1500
    spans = [span("root", 0, 3 * n + 3, fanscope__role="step")]
    parent = spans[0]
    for i in range(n):
        leaf = span(
            "leaf",
            3 * i + 1,
            3 * i + 2,
            parent,
            fanscope__role="step",
            fanscope__dataflow__inputs=[f"q{i}"],
            fanscope__dataflow__outputs=[f"a{i}"],
        )
        parent = span("node", 3 * i + 2, 3 * n + 2, parent, fanscope__role="step")
        spans += [leaf, parent]
    report = analyze(spans).traces[0]
    assert any("nested too deeply to compare" in w for w in report.warnings)
    assert 0 < report.whatif <= report.duration


def test_analysing_the_same_damaged_spans_twice_gives_the_same_report() -> None:
    root = span("root", 0, 100)
    orphan = span("orphan", 10, 50, "00000000deadbeef")
    backwards = span("backwards", 60, 55, root)
    spans = [root, orphan, backwards]
    first, second = analyze(spans).to_dict(), analyze(spans).to_dict()
    assert first == second
    assert any("parent missing" in w for w in first["traces"][0]["warnings"])


def test_sdk_spans_keep_their_events_status_and_links(exporter: InMemorySpanExporter) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import Link, Status, StatusCode

    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("first") as first:
        pass
    with tracer.start_as_current_span("second", links=[Link(first.get_span_context())]) as s:
        s.add_event("fanscope.retry", {"fanscope.retry.attempt": 1})
        s.set_status(Status(StatusCode.ERROR, "boom"))
    spans = {s.name: s for s in from_readable_spans(exporter.get_finished_spans())}
    context = first.get_span_context()
    assert spans["second"].links == [(f"{context.trace_id:032x}", f"{context.span_id:016x}")]
    assert spans["second"].events[0][1:] == ("fanscope.retry", {"fanscope.retry.attempt": 1})
    assert (spans["second"].status, spans["second"].status_message) == ("error", "boom")
