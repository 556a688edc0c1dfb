"""The critical path on hand-built traces with known answers, including damaged ones."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Retry, parallel, traced, vote
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.critical_path import critical_path, self_time_on_path
from fanscope.analysis.tree import build_trace, build_traces
from tests.analysis.builders import MS, span


def path_of(*spans: object) -> list[tuple[str, float, float]]:
    members = list(spans)
    trace = build_trace(members[0].trace_id, members)  # type: ignore[attr-defined]
    names = {s.span_id: s.name for s in members}  # type: ignore[attr-defined]
    return [
        (names.get(seg.span_id, "(virtual)"), seg.start / MS, seg.end / MS)
        for seg in critical_path(trace)
    ]


def test_sequential_children_are_all_on_the_path_with_the_parents_gaps() -> None:
    root = span("root", 0, 100)
    a = span("a", 10, 40, root)
    b = span("b", 40, 90, root)  # starts exactly when a ends: Jaeger UI would skip a
    assert path_of(root, a, b) == [
        ("root", 0, 10),
        ("a", 10, 40),
        ("b", 40, 90),
        ("root", 90, 100),
    ]


def test_parallel_children_put_only_the_last_finisher_on_the_path() -> None:
    root = span("root", 0, 100)
    fast = span("fast", 0, 30, root)
    slow = span("slow", 0, 80, root)
    tail = span("tail", 85, 95, root)
    assert path_of(root, fast, slow, tail) == [
        ("slow", 0, 80),
        ("root", 80, 85),
        ("tail", 85, 95),
        ("root", 95, 100),
    ]


def test_overlapping_child_ending_after_the_point_is_not_taken() -> None:
    # Jaeger's definition: walking back from b's start (50), a ends at 60 > 50, so the
    # time before b is the parent's own, even though a was running then.
    root = span("root", 0, 100)
    a = span("a", 0, 60, root)
    b = span("b", 50, 100, root)
    assert path_of(root, a, b) == [("root", 0, 50), ("b", 50, 100)]


def test_nested_children_descend_and_come_back() -> None:
    root = span("root", 0, 100)
    mid = span("mid", 10, 90, root)
    leaf = span("leaf", 20, 70, mid)
    assert path_of(root, mid, leaf) == [
        ("root", 0, 10),
        ("mid", 10, 20),
        ("leaf", 20, 70),
        ("mid", 70, 90),
        ("root", 90, 100),
    ]


def test_children_that_outlive_their_parent_are_clipped_to_it() -> None:
    root = span("root", 0, 100)
    skewed = span("skewed", -20, 50, root)  # starts before its parent (clock skew)
    outliving = span("outliving", 60, 150, root)  # ends after it (fire and forget)
    outside = span("outside", 120, 130, root)  # entirely after it: ignored
    assert path_of(root, skewed, outliving, outside) == [
        ("skewed", 0, 50),
        ("root", 50, 60),
        ("outliving", 60, 100),
    ]
    trace = build_trace(root.trace_id, [root, skewed, outliving, outside])
    (warning,) = [w for w in trace.warnings if "clock skew" in w]
    assert warning.startswith("3 span(s) start before or end after their parent")


def test_a_child_inside_a_clipped_parent_is_not_counted_as_skewed_again() -> None:
    root = span("root", 0, 100)
    parent = span("parent", 50, 150, root)
    child = span("child", 110, 140, parent)  # inside its own parent: not skewed itself
    trace = build_trace(root.trace_id, [root, parent, child])
    assert next(w for w in trace.warnings if "clock skew" in w).startswith("1 span(s)")
    assert path_of(root, parent, child) == [("root", 0, 50), ("parent", 50, 100)]


def test_a_trace_without_skew_has_no_skew_warning() -> None:
    root = span("root", 0, 100)
    trace = build_trace(root.trace_id, [root, span("a", 0, 100, root), span("b", 10, 20, root)])
    assert trace.warnings == []


def test_a_span_that_is_its_own_parent_is_a_root_with_a_warning() -> None:
    root = span("root", 0, 100, sid="00000000000000a0")
    selfish = span("selfish", 60, 130, "00000000000000a1", sid="00000000000000a1")
    trace = build_trace(root.trace_id, [root, selfish])
    assert trace.roots == [root.span_id, selfish.span_id]
    assert "1 span(s) name themselves as their parent; read as roots" in trace.warnings
    assert not any("missing" in w or "cycle" in w for w in trace.warnings)
    assert path_of(root, selfish) == [("root", 0, 60), ("selfish", 60, 130)]


def test_an_orphan_and_the_root_running_before_it_each_own_their_time() -> None:
    root = span("root", 0, 50)
    orphan = span("orphan", 40, 120, "00000000deadbeef")
    child = span("child", 60, 110, orphan)
    trace = build_trace(root.trace_id, [root, orphan, child])
    assert len(trace.roots) == 2
    assert any("parent missing" in w for w in trace.warnings)
    # the orphan finished last, so the path runs through it back to its start; the root was
    # running before that, so the time before it is the root's, never "(no span)"
    assert path_of(root, orphan, child) == [
        ("root", 0, 40),
        ("orphan", 40, 60),
        ("child", 60, 110),
        ("orphan", 110, 120),
    ]


def test_no_span_is_only_the_time_no_root_covers() -> None:
    first = span("first", 0, 30)
    second = span("second", 50, 100)
    assert path_of(first, second) == [("first", 0, 30), ("(virtual)", 30, 50), ("second", 50, 100)]


def test_a_root_keeps_its_own_path_where_another_root_took_over() -> None:
    # Jaeger UI shows each root's path: the first root's runs through its child 20-45; the
    # second root owns 40-100, so the first root's path is shown up to 40, as Jaeger has it
    first = span("first", 0, 45)
    inner = span("inner", 20, 45, first)
    second = span("second", 40, 100)
    assert path_of(first, inner, second) == [
        ("first", 0, 20),
        ("inner", 20, 40),
        ("second", 40, 100),
    ]


def test_of_roots_running_at_a_point_the_earliest_started_owns_the_time_before_it() -> None:
    early = span("early", 0, 80)
    late = span("late", 30, 90)  # running at 60 too, but started later
    last = span("last", 60, 120)
    assert path_of(early, late, last) == [("early", 0, 60), ("last", 60, 120)]


def test_ties_on_end_go_to_the_child_that_started_earliest_as_in_jaeger_ui() -> None:
    # both children outlive the parent and are clipped to its end (clock skew): they tie
    parent = span("parent", 0, 100)
    early = span("early", 10, 150, parent)
    late = span("late", 30, 120, parent)
    assert path_of(parent, late, early) == [("parent", 0, 10), ("early", 10, 100)]


def test_ties_on_end_and_start_go_to_the_first_child_in_the_trace() -> None:
    parent = span("parent", 0, 100)
    first = span("first", 10, 100, parent)
    second = span("second", 10, 100, parent)
    assert path_of(parent, first, second) == [("parent", 0, 10), ("first", 10, 100)]
    assert path_of(parent, second, first) == [("parent", 0, 10), ("second", 10, 100)]


def test_a_consumer_under_a_producer_does_not_block_it() -> None:
    producer = span("publish", 0, 100)
    producer.kind = 4
    consumer = span("consume", 20, 100, producer)
    consumer.kind = 5
    client = span("call", 10, 60, producer)
    client.kind = 3
    assert path_of(producer, consumer, client) == [
        ("publish", 0, 10),
        ("call", 10, 60),
        ("publish", 60, 100),
    ]


def test_duplicates_cycles_and_negative_durations_are_repaired_with_warnings() -> None:
    root = span("root", 0, 100, sid="000000000000000a")
    first = span("first", 10, 20, root, sid="000000000000000b")
    dup = span("dup", 30, 40, root, sid="000000000000000b")
    x = span("x", 50, 60, "000000000000000d", sid="000000000000000c")
    y = span("y", 55, 58, "000000000000000c", sid="000000000000000d")
    # its own id too: the builder's counter would give 0xa-0xd after ten spans of earlier tests
    backwards = span("backwards", 70, 65, root, sid="000000000000000e")
    trace = build_trace(root.trace_id, [root, first, dup, x, y, backwards])
    text = " ".join(trace.warnings)
    assert "repeat an earlier span id" in text
    assert "cycle" in text
    assert "zero duration" in text
    assert trace.spans["000000000000000b"].name == "first"
    repaired = trace.spans[backwards.span_id]
    assert repaired.end == repaired.start == 70 * MS
    assert (backwards.end, x.parent_id) == (65 * MS, "000000000000000d")  # inputs untouched
    segments = critical_path(trace)  # terminates, and covers the whole trace
    assert segments[0].start == trace.start and segments[-1].end == trace.end


def test_zero_duration_children_and_several_at_the_same_instant_terminate() -> None:
    root = span("root", 0, 10)
    zeros = [span(f"z{i}", 5, 5, root) for i in range(50)]
    segments = path_of(root, *zeros)
    assert sum(end - start for _, start, end in segments) == 10


def test_ten_thousand_sequential_children_do_not_overflow() -> None:
    root = span("root", 0, 10_001)
    kids = [span("step", i, i + 1, root) for i in range(10_000)]
    trace = build_trace(root.trace_id, [root, *kids])
    totals = self_time_on_path(critical_path(trace))
    assert totals[root.span_id] == 1 * MS
    assert sum(totals.values()) == 10_001 * MS


def test_the_path_always_covers_the_trace_end_to_end() -> None:
    root = span("root", 0, 100)
    spans = [root, span("a", 0, 70, root), span("b", 20, 30, root), span("c", 65, 99, root)]
    trace = build_traces(spans)[0]
    segments = critical_path(trace)
    assert sum(s.duration for s in segments) == trace.duration
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 15),  # span id
            st.one_of(st.none(), st.integers(0, 15)),  # parent id (may be missing or cyclic)
            st.integers(-50, 200),  # start
            st.integers(-20, 120),  # duration (negative is damage)
        ),
        min_size=1,
        max_size=25,
    )
)
def test_any_damaged_tree_gives_a_path_covering_each_trace(
    rows: list[tuple[int, int | None, int, int]],
) -> None:
    from fanscope.analysis import analyze

    spans = [
        span(f"s{sid}", start, start + duration, None if parent is None else f"{parent:016x}",
             sid=f"{sid:016x}")
        for sid, parent, start, duration in rows
    ]  # fmt: skip
    for trace in build_traces(spans):
        segments = critical_path(trace)
        assert sum(s.duration for s in segments) == trace.duration
        assert all(a.end == b.start for a, b in itertools.pairwise(segments))
    analyze(spans)


def test_the_worked_example_of_docs_analysis_md() -> None:
    root = span("root", 0, 100)
    a = span("a", 10, 40, root)
    b = span("b", 40, 90, root)
    c = span("c", 15, 30, root)
    assert path_of(root, a, b, c) == [
        ("root", 0, 10),
        ("a", 10, 40),
        ("b", 40, 90),
        ("root", 90, 100),
    ]


def _jaeger_reference(
    rows: list[tuple[int | None, int, int, int]],
) -> list[tuple[int | None, int, int]]:
    """The critical path by Jaeger UI's definition, recursively, on a small tree.

    ``rows[i]`` is ``(parent index or None, start, end, kind)``, parents before children.

    Each root's tree is clipped as Jaeger UI clips it (a child starting at or after its
    parent's end, or ending at or before its parent's start, is dropped with its subtree;
    otherwise it is cut to the parent), and a CONSUMER child of a PRODUCER is dropped.
    ``path(s, t)`` is span ``s``'s path before point ``t``: the last child to finish by
    ``t`` (on a tie the earliest start, then the first row) not taken yet is ``c``; then it
    is ``s`` from ``c``'s end to ``t``, ``c``'s own path, and ``path(s, c's start)``; when
    there is none, ``s`` from its start to ``t``. Several roots: from the trace's end, the
    root running at the point that started first, else the one that ended last before it
    (ties as above), owns the time back to its start and shows its path there; the time
    between its end and the point is no span's (``None``).
    """
    eff: dict[int, tuple[int, int]] = {}
    children: dict[int, list[int]] = {}
    for i, (parent, start, end, kind) in enumerate(rows):
        if parent is None:
            eff[i] = (start, end)
            continue
        if parent not in eff or (rows[parent][3] == 4 and kind == 5):
            continue
        p_start, p_end = eff[parent]
        if start >= p_end if start >= p_start else end <= p_start:
            continue
        eff[i] = (max(start, p_start), min(end, p_end))
        children.setdefault(parent, []).append(i)
    taken: set[int] = set()

    def path(node: int, point: int) -> list[tuple[int | None, int, int]]:
        kids = [c for c in children.get(node, []) if c not in taken and eff[c][1] <= point]
        if not kids:
            return [(node, eff[node][0], point)] if eff[node][0] < point else []
        last = max(kids, key=lambda c: (eff[c][1], -eff[c][0], -c))
        taken.add(last)
        own = [(node, eff[last][1], point)] if eff[last][1] < point else []
        return path(node, eff[last][0]) + path(last, eff[last][1]) + own

    roots = [i for i, row in enumerate(rows) if row[0] is None]
    out: list[tuple[int | None, int, int]] = []
    point = max(eff[r][1] for r in roots)
    while True:
        started = [r for r in roots if eff[r][0] < point]
        if not started:
            return out
        root = max(started, key=lambda r: (min(eff[r][1], point), -eff[r][0], -r))
        start, end = eff[root]
        gap = [(None, end, point)] if end < point else []
        own = [(n, a, min(b, point)) for n, a, b in path(root, end) if a < point]
        out = own + gap + out
        point = start


_TIMES = st.sampled_from([0, 10, 20, 30, 40, 50, 60])  # few values: many ties


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 8), _TIMES, _TIMES, st.sampled_from([1, 1, 3, 4, 5])),
        min_size=1,
        max_size=14,
    ),
    st.integers(1, 3),
)
def test_the_iterative_path_equals_jaeger_uis_recursive_definition(
    rows: list[tuple[int, int, int, int]], roots: int
) -> None:
    tree = [
        (None if i < roots else parent % i, min(a, b), max(a, b), kind)
        for i, (parent, a, b, kind) in enumerate(rows)
    ]
    ids = [f"{i + 1:016x}" for i in range(len(tree))]
    spans = []
    for i, (parent, start, end, kind) in enumerate(tree):
        spans.append(span(f"s{i}", start, end, None if parent is None else ids[parent], sid=ids[i]))
        spans[-1].kind = kind
    trace = build_trace(spans[0].trace_id, spans)
    got = [(s.span_id, s.start // MS, s.end // MS) for s in critical_path(trace)]
    want = [
        ("" if node is None else ids[node], start, end)
        for node, start, end in _jaeger_reference(tree)
    ]
    assert got == want
    assert sum(end - start for _, start, end in got) == trace.duration // MS


async def test_the_sdks_own_fan_outs_votes_and_timeouts_carry_no_skew_warning(
    exporter: InMemorySpanExporter,
) -> None:
    @vote(n=5, quorum=2)
    async def agree(x: int) -> bool:
        await asyncio.sleep(0.001 if x else 0.2)  # the slow voters are cancelled
        return True

    @parallel(max_concurrency=2, timeout=0.02, retry=Retry(attempts=2, initial=0.001))
    async def slow(i: int) -> int:
        await asyncio.sleep(0.001 if i % 2 else 0.5)
        return i

    @traced
    async def agent() -> None:
        await agree(1)
        await slow.map(range(6), on_error="collect")

    await agent()
    (report,) = analyze(from_readable_spans(exporter.get_finished_spans())).traces
    assert report.spans > 10
    assert not [w for w in report.warnings if "skew" in w or "root" in w], report.warnings
