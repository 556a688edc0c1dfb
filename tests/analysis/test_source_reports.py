"""What reports say of the source witness's findings: the lines to change, said once; evidence
that fits; and steps named as "kept for want of fingerprints" only when no witness decided.

The agents here are functions of this file, run through the SDK; the analyzer reads this file
as their source (the tests run from the project's root, where ``make test`` runs them).
"""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import traced
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.report import evidence as report_evidence
from fanscope.analysis.report import opportunities, text
from fanscope.analysis.report.untrusted import MAX_CHARS
from fanscope.analysis.schema import PairEvidence, StepRef, TraceDoc

HERE = "tests/analysis/test_source_reports.py"


def line_of(marker: str) -> int:
    """The line of this file that ends with ``# marker``."""
    with open(__file__, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if line.rstrip().endswith(f"# {marker}"):
                return number
    raise AssertionError(marker)


def the_trace(exporter: InMemorySpanExporter) -> TraceDoc:
    (trace,) = analyze(from_readable_spans(exporter.get_finished_spans())).to_dict()["traces"]
    return trace


@traced
async def plan(topic: str) -> str:
    await asyncio.sleep(0.01)
    return f"prices of {topic}; makers of {topic}; costs of {topic}"


@traced
async def worker(task: str) -> str:
    await asyncio.sleep(0.02)
    return f"notes on {task}: demand is up and margins are steady this year"


@traced
async def combine(notes: list[str]) -> str:
    await asyncio.sleep(0.005)
    return " / ".join(notes)


@traced
async def orchestrate(topic: str) -> str:
    tasks = (await plan(topic)).split("; ")  # plan
    notes = []
    for task in tasks:
        notes.append(await worker(task))  # worker
    return await combine(notes)  # combine


async def test_a_group_that_waits_for_an_earlier_step_is_said_once_with_what_it_waits_for(
    exporter: InMemorySpanExporter,
) -> None:
    await orchestrate("heat pumps")
    trace = the_trace(exporter)
    (o,) = trace["opportunities"]
    where = {n: f"{HERE}:{line_of(n)}" for n in ("plan", "worker", "combine")}
    assert [[r["where"] for r in g] for g in o["run_together"]] == [[where["worker"]] * 3]
    sentence = opportunities.opportunity(o)
    w, p, c = (line_of(n) for n in ("worker", "plan", "combine"))
    assert sentence == (
        f"under orchestrate: run {HERE}:{w} x3 (after :{p}) together; keep :{c} after them"
    )
    assert sentence.count(f":{w}") == 1  # the workers are named once
    assert sentence in text.render(
        analyze(from_readable_spans(exporter.get_finished_spans())).to_dict()
    )


def ref(span_id: str, where: str) -> StepRef:
    return StepRef(span_id=span_id, name="chat m", start=0.0, duration=0.1, where=where)


def test_steps_kept_after_a_step_outside_the_groups_name_what_they_wait_for() -> None:
    plan_, combine_, side = ref("p", "a.py:5"), ref("c", "a.py:9"), ref("s", "a.py:12")
    workers = [ref(f"w{i}", "a.py:7") for i in range(3)]
    o = {
        "parent_span_id": "r",
        "parent": "agent",
        "run_together": [workers],
        "keep_after": [
            *({"step": w, "after": [plan_]} for w in workers),
            {"step": combine_, "after": workers},
            {"step": side, "after": [plan_]},
        ],
        "observed": 1.0,
        "whatif": 0.5,
        "saving": 0.5,
        "evidence": [],
    }
    assert opportunities.opportunity(o) == (  # type: ignore[arg-type]
        "under agent: run a.py:7 x3 (after :5) together; keep :9 after them and :12 after :5"
    )


def numbered(where: str, n: int) -> list[StepRef]:
    """``n`` runs of the line ``where`` (a loop), in order of start."""
    return [
        StepRef(span_id=f"{where}#{i}", name="chat m", start=i, duration=0.1, where=where)
        for i in range(n)
    ]


def opportunity_of(groups: list[list[StepRef]], keep: list[tuple[StepRef, list[StepRef]]]) -> str:
    o = {
        "parent_span_id": "r",
        "parent": "agent",
        "run_together": groups,
        "keep_after": [{"step": s, "after": after} for s, after in keep],
        "observed": 1.0,
        "whatif": 0.5,
        "saving": 0.5,
        "evidence": [],
    }
    return opportunities.opportunity(o)  # type: ignore[arg-type]


def test_a_line_run_together_and_kept_after_names_each_run_by_its_order() -> None:
    # a loop: its first call runs with :21, its second stays after them, and :26 after
    # the second: never ":24 after :24" nor ":24 ... after :21, :24"
    (plan,), (first, second), (last,) = (
        numbered("a.py:21", 1),
        numbered("a.py:24", 2),
        [ref("c", "a.py:26")],
    )
    sentence = opportunity_of([[plan, first]], [(second, [plan, first]), (last, [second])])
    assert sentence == (
        "under agent: run a.py:21, :24 (1st) together; keep :24 (2nd) after them "
        "and :26 after :24 (2nd)"
    )


def test_runs_of_one_line_on_both_sides_of_after_are_counted_by_order() -> None:
    runs = numbered("a.py:7", 5)
    # three runs together, the fourth kept after them, the fifth after the fourth
    assert opportunity_of([runs[:3]], [(runs[3], runs[:3]), (runs[4], [runs[3]])]) == (
        "under agent: run a.py:7 (1st-3rd) together; keep :7 (4th) after them "
        "and :7 (5th) after :7 (4th)"
    )
    # a group that waits for an earlier run of its own line
    assert opportunity_of([runs[1:3]], [(r, [runs[0]]) for r in runs[1:3]]) == (
        "under agent: run a.py:7 (2nd-3rd) (after :7 (1st)) together"
    )
    # two groups of one line's runs are told apart too
    assert opportunity_of([runs[:2], runs[2:4]], [(r, runs[:2]) for r in runs[2:4]]) == (
        "under agent: run a.py:7 (1st-2nd); :7 (3rd-4th) (after :7 (1st-2nd)) together"
    )
    # steps named by their span name (no line) are numbered the same way
    fetch = [
        StepRef(span_id=f"f{i}", name="fetch", start=i, duration=0.1, where="") for i in range(3)
    ]
    assert opportunity_of([fetch[:2]], [(fetch[2], fetch[:2])]) == (
        "under agent: run fetch (1st-2nd) together; keep fetch (3rd) after them"
    )
    # repeats that name the same steps wherever they appear keep their count
    w = numbered("a.py:7", 3)
    assert opportunity_of([w], [(ref("c", "a.py:9"), w)]) == (
        "under agent: run a.py:7 x3 together; keep :9 after them"
    )


def test_a_line_that_made_steps_of_several_names_numbers_inside_its_parentheses() -> None:
    a, b = (
        StepRef(span_id=s, name="lookup", start=i, duration=0.1, where="t.py:18")
        for i, s in enumerate("ab")
    )
    c = StepRef(span_id="c", name="lookup", start=3, duration=0.1, where="t.py:18")
    d = StepRef(span_id="d", name="synthesize", start=4, duration=0.1, where="t.py:18")
    assert opportunity_of([[a, b]], [(c, [a, b]), (d, [c])]) == (
        "under agent: run t.py:18 (lookup, 1st-2nd) together; keep :18 (lookup, 3rd) after "
        "them and :18 (synthesize) after :18 (lookup, 3rd)"
    )


# -- evidence that fits ----------------------------------------------------------------------


def evidence(source: str, kind: str = "independent", decided: str = "both") -> PairEvidence:
    path = "examples/agents/research/orchestrator_with_workers.py"
    return PairEvidence(
        earlier=ref("a", f"{path}:64"),
        later=ref("b", f"{path}:65"),
        classification=kind,
        decided_by=decided,
        source=source,
        fingerprints="no input fingerprint of the later call matches an output of the earlier",
    )


def test_evidence_names_the_file_once_so_the_sentence_is_not_cut() -> None:
    path = "examples/agents/research/orchestrator_with_workers.py"
    said = f"nothing `fetch_filings` at {path}:65 reads comes from `search_news` at :64"
    sentence = report_evidence.evidence(evidence(said))
    assert sentence == (
        f"{path}:64 -> :65: independent: nothing `fetch_filings` at :65 reads comes from "
        "`search_news` at :64; no fingerprint overlap"
    )
    assert len(sentence) <= MAX_CHARS


# -- blind pairs -----------------------------------------------------------------------------


@traced
async def fetch(source: str) -> str:
    await asyncio.sleep(0.002)
    return f"{source} reports strong demand and rising margins this quarter"


@traced
async def refresh() -> None:  # no arguments, nothing returned: no fingerprints
    await asyncio.sleep(0.002)


@traced
async def blinded() -> None:
    await fetch("news")  # fetch
    # the source sees that refresh reads nothing of fetch
    await refresh()  # refresh
    # another instrumentation's span: no call site, no fingerprints: no witness can look
    with trace.get_tracer("http").start_as_current_span("GET /prices"):
        await asyncio.sleep(0.002)


async def test_pairs_the_source_decides_are_not_named_as_kept_for_want_of_fingerprints(
    exporter: InMemorySpanExporter,
) -> None:
    await blinded()
    trace = the_trace(exporter)
    assert trace["unknown_pairs"] >= 1
    named = [(b["after"]["where"], b["step"]["name"]) for b in trace["blind_pairs"]]
    refresh_at = f"{HERE}:{line_of('refresh')}"
    # refresh after fetch: the source decided; the HTTP span after refresh: no witness could
    assert named == [(refresh_at, "GET /prices")], named
    # the fingerprints alone would have named refresh too
    from fanscope.analysis.dependencies import Witnesses

    spans = from_readable_spans(exporter.get_finished_spans())
    (alone,) = analyze(spans, witnesses=Witnesses(source=False)).to_dict()["traces"]
    assert (f"{HERE}:{line_of('fetch')}", refresh_at) in [
        (b["after"]["where"], b["step"]["where"]) for b in alone["blind_pairs"]
    ]
