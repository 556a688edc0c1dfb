"""Two witnesses, one pass: the schedule's dependencies equal the pairwise definition.

``StepDependencies`` folds the siblings that ended into running maxima per source class and
an index of output fingerprints; this checks it against the definition pair by pair, on
random siblings, fingerprints and source verdicts, with candidates counted and not.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fanscope.analysis.dependencies import (
    Classification,
    Relation,
    StepDependencies,
    Witnesses,
    classify_pairs,
    combine,
    waits,
)
from fanscope.analysis.model import Span

IN, OUT = "fanscope.dataflow.inputs", "fanscope.dataflow.outputs"
VERDICTS = ("dependent", "independent", "abstain")


@dataclass
class FakeFlow:
    prints: dict[str, tuple[frozenset[str], frozenset[str]]]

    def of(self, span_id: str) -> tuple[frozenset[str], frozenset[str]]:
        return self.prints[span_id]


@dataclass
class FakeSources:
    classes: dict[str, int]
    verdicts: dict[tuple[int, int], str]

    def class_of(self, kid: str) -> int:
        return self.classes[kid]

    def between(self, earlier: int, later: int) -> str:
        return self.verdicts[(earlier, later)]


def fingerprint_relation(outs: frozenset[str], ins: frozenset[str]) -> Relation:
    if not ins or not outs:
        return Relation.UNKNOWN
    return Relation.DEPENDS if ins & outs else Relation.INDEPENDENT


prints = st.frozensets(st.sampled_from("abcd"), max_size=2)


@settings(max_examples=400, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 20), prints, prints, st.integers(0, 2)),
        min_size=1,
        max_size=9,
    ),
    verdicts=st.lists(st.sampled_from(VERDICTS), min_size=9, max_size=9),
    count=st.booleans(),
)
def test_the_one_pass_waits_equal_the_pairwise_definition(
    rows: list[tuple[int, int, frozenset[str], frozenset[str], int]],
    verdicts: list[str],
    count: bool,
) -> None:
    rows = sorted(rows)
    kids = [f"k{i}" for i in range(len(rows))]
    eff = {k: (r[0], r[0] + r[1]) for k, r in zip(kids, rows, strict=True)}
    flow = FakeFlow({k: (r[2], r[3]) for k, r in zip(kids, rows, strict=True)})
    matrix = {(a, b): verdicts[a * 3 + b] for a in range(3) for b in range(3)}
    sources = FakeSources({k: r[4] for k, r in zip(kids, rows, strict=True)}, matrix)
    deps = StepDependencies(kids, eff, flow, 0, sources, count)  # type: ignore[arg-type]
    placed: dict[str, tuple[int, int]] = {}
    for j, later in enumerate(kids):
        wait = deps.wait(later, placed)
        ended = [k for k in kids[:j] if eff[k][1] <= eff[later][0]]
        expected = [
            k
            for k in ended
            if waits(
                combine(
                    fingerprint_relation(flow.of(k)[1], flow.of(later)[0]),
                    matrix[(sources.class_of(k), sources.class_of(later))],
                ),
                count,
            )
        ]
        finish = {k: placed[k][0] for k in ended}
        ready = max([0] + [finish[k] for k in expected])
        assert wait.ready == ready, (later, expected, wait)
        # each pair is counted once: as unknown, as a candidate, or not at all
        kinds = [
            combine(
                fingerprint_relation(flow.of(k)[1], flow.of(later)[0]),
                matrix[(sources.class_of(k), sources.class_of(later))],
            )
            for k in ended
        ]
        assert wait.candidates == kinds.count(Classification.CANDIDATE)
        assert wait.unknown == kinds.count(Classification.UNKNOWN)
        placed[later] = (ready + eff[later][1] - eff[later][0] + j, j)


def _span(name: str, start: int, end: int, parent: Span | None = None, **attrs: object) -> Span:
    sid = f"{abs(hash((name, start))) % (16**16):016x}"
    return Span(
        "a" * 32, sid, parent.span_id if parent else None, name, start * 10**6, end * 10**6,
        dict(attrs),
    )  # fmt: skip


def test_classify_pairs_measures_each_witness_alone_and_both() -> None:
    root = _span("agent", 0, 100)
    one = _span("one", 0, 40, root, **{OUT: ["x"], IN: ["q"]})
    two = _span("two", 50, 90, root, **{IN: ["y"]})
    both = classify_pairs([root, one, two])
    (pair,) = both
    assert pair.earlier is one and pair.later is two and pair.parent is root
    # no call sites: the source cannot look; the fingerprints alone make a candidate
    assert pair.verdict.classification == Classification.CANDIDATE
    assert pair.verdict.decided_by == "fingerprints"
    (alone,) = classify_pairs([root, one, two], Witnesses(fingerprints=False))
    assert alone.verdict.classification == Classification.UNKNOWN
    (none,) = classify_pairs([root, one, two], Witnesses(source=False))
    assert "turned off" in none.verdict.source


@pytest.mark.parametrize(
    ("fp", "source", "expected"),
    [
        (Relation.DEPENDS, "independent", Classification.DEPENDENT),
        (Relation.INDEPENDENT, "dependent", Classification.DEPENDENT),
        (Relation.INDEPENDENT, "independent", Classification.INDEPENDENT),
        (Relation.INDEPENDENT, "abstain", Classification.CANDIDATE),
        (Relation.UNKNOWN, "independent", Classification.CANDIDATE),
        (Relation.UNKNOWN, "abstain", Classification.UNKNOWN),
    ],
)
def test_either_witness_makes_a_pair_dependent_and_both_are_needed_for_independent(
    fp: Relation, source: str, expected: Classification
) -> None:
    assert combine(fp, source) == expected
    assert waits(expected, count_candidates=False) == (expected != Classification.INDEPENDENT)
