"""The critical path on hand-built traces with known answers, including damaged ones."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_a_missing_parent_keeps_its_subtree_under_a_virtual_root() -> None:
    root = span("root", 0, 50)
    orphan = span("orphan", 40, 120, "00000000deadbeef")
    child = span("child", 60, 110, orphan)
    trace = build_trace(root.trace_id, [root, orphan, child])
    assert len(trace.roots) == 2
    assert any("parent missing" in w for w in trace.warnings)
    # the orphan finished last, so the path runs through it; before it started, the root was
    # still running but ends after that point, so the time is the virtual root's (no span)
    assert path_of(root, orphan, child) == [
        ("(virtual)", 0, 40),
        ("orphan", 40, 60),
        ("child", 60, 110),
        ("orphan", 110, 120),
    ]


def test_duplicates_cycles_and_negative_durations_are_repaired_with_warnings() -> None:
    root = span("root", 0, 100, sid="000000000000000a")
    first = span("first", 10, 20, root, sid="000000000000000b")
    dup = span("dup", 30, 40, root, sid="000000000000000b")
    x = span("x", 50, 60, "000000000000000d", sid="000000000000000c")
    y = span("y", 55, 58, "000000000000000c", sid="000000000000000d")
    backwards = span("backwards", 70, 65, root)
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


def _reference_path(
    rows: list[tuple[int | None, int, int]],
) -> list[tuple[int | None, int, int]]:
    """The critical path by its definition, recursively, on a small tree.

    ``rows[i]`` is ``(parent index or None, start, end)`` with parents before children.
    Children are clipped to their parent (and dropped when entirely outside); from the end
    of the root, the last child to finish at or before the current point (the later start,
    then the later row, on ties) is descended into, each child at most once.
    """
    eff: dict[int | None, tuple[int, int]] = {}
    children: dict[int | None, list[int]] = {}
    roots = [i for i, (parent, _, _) in enumerate(rows) if parent is None]
    for i, (parent, start, end) in enumerate(rows):
        if parent is None:
            eff[i] = (start, end)
        elif parent in eff:
            lo, hi = max(start, eff[parent][0]), min(end, eff[parent][1])
            if hi > lo or (hi == lo and end == start):
                eff[i] = (lo, hi)
        if i in eff:
            children.setdefault(parent if parent is not None else -1, []).append(i)
    top: int | None = roots[0] if len(roots) == 1 else None
    if top is None:
        eff[None] = (min(eff[r][0] for r in roots), max(eff[r][1] for r in roots))
        children[None] = roots
    used: set[int] = set()
    out: list[tuple[int | None, int, int]] = []

    def visit(node: int | None, bound: int) -> None:
        while True:
            kids = [c for c in children.get(node, []) if c not in used and eff[c][1] <= bound]
            if not kids:
                if eff[node][0] < bound:
                    out.append((node, eff[node][0], bound))
                return
            last = max(kids, key=lambda c: (eff[c][1], eff[c][0], c))
            used.add(last)
            if eff[last][1] < bound:
                out.append((node, eff[last][1], bound))
            visit(last, eff[last][1])
            bound = min(bound, eff[last][0])

    visit(top, eff[top][1])
    return out[::-1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(-10, 60), st.integers(0, 40)),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 2),
)
def test_the_iterative_path_equals_the_recursive_definition(
    rows: list[tuple[int, int, int]], roots: int
) -> None:
    tree = [
        (None if i < roots else parent % i, start, start + length)
        for i, (parent, start, length) in enumerate(rows)
    ]
    ids = [f"{i + 1:016x}" for i in range(len(tree))]
    spans = [
        span(f"s{i}", start, end, None if parent is None else ids[parent], sid=ids[i])
        for i, (parent, start, end) in enumerate(tree)
    ]
    trace = build_trace(spans[0].trace_id, spans)
    got = [(s.span_id, s.start // MS, s.end // MS) for s in critical_path(trace)]
    want = [
        ("" if node is None else ids[node], start, end)
        for node, start, end in _reference_path(tree)
    ]
    assert got == want
