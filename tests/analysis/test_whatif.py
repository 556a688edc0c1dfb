"""Parallelization opportunities and the what-if time, on known traces and real SDK runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import parallel, traced
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.dependencies import Witnesses
from fanscope.analysis.fanouts import fanout_stats
from fanscope.analysis.model import Span
from fanscope.analysis.tree import build_trace
from tests.analysis.builders import span

IN, OUT = "fanscope.dataflow.inputs", "fanscope.dataflow.outputs"
# The spans built here carry fingerprints but no call sites (no source to read): alone, the
# fingerprints can only make candidates. Tests of the schedule count them.
COUNTED = Witnesses(count_candidates=True)


AGENT = Path(__file__).with_name("sequential_agent.py")


def call_site(name: str) -> dict[str, object]:
    """The code.* attributes of the call marked ``# call: name`` in ``sequential_agent.py``."""
    for number, text in enumerate(AGENT.read_text().splitlines(), start=1):
        if text.endswith(f"# call: {name}"):
            column = text.index("await ") + 1
            return {
                "code.file.path": "tests/analysis/sequential_agent.py",
                "code.function.name": "tests.analysis.sequential_agent.research",
                "code.line.number": number,
                "code.column.number": column,
            }
    raise AssertionError(name)


def agent_trace(known: bool = True, sites: bool = False) -> list[Span]:
    """A step that made four independent calls one after another, then a fifth using them.

    ``sites``: the spans say where they were called from, in ``sequential_agent.py``, so the
    source witness can read what fed each call (from the repository's root).
    """
    role = {"fanscope.role": "step"} if known else {}
    root = span("research", 0, 760)
    calls = []
    t = 0.0
    for i, duration in enumerate([200, 250, 100, 150]):
        call = span(f"lookup{i}", t + 1, t + 1 + duration, root)
        if known:
            call.attributes.update({IN: [f"q{i}"], OUT: [f"a{i}"]})
        calls.append(call)
        t += 1 + duration
    synth = span("synthesize", t + 1, t + 51, root)
    if known:
        synth.attributes[IN] = ["a0", "a1", "a2", "a3"]
    if sites:
        for i, call in enumerate(calls):
            call.attributes.update(call_site(f"lookup{i}"))
        synth.attributes.update(call_site("synthesize"))
    everything = [root, *calls, synth]
    for s in everything:
        s.attributes.update(role)
    return everything


def test_four_independent_calls_are_named_and_the_fifth_stays_after() -> None:
    report = analyze(agent_trace(), witnesses=COUNTED).traces[0]
    (opportunity,) = report.opportunities
    (group,) = opportunity["run_together"]
    assert sorted(s["name"] for s in group) == ["lookup0", "lookup1", "lookup2", "lookup3"]
    (after,) = opportunity["keep_after"]
    assert after["step"]["name"] == "synthesize"
    assert sorted(s["name"] for s in after["after"]) == [f"lookup{i}" for i in range(4)]
    # what-if = the slowest lookup + synthesis, each with the parent's 1 ms gap before it,
    # and the parent's 5 ms after its last child
    assert report.whatif == pytest.approx(0.001 + 0.250 + 0.001 + 0.050 + 0.005)
    assert report.parallelizable_share == pytest.approx(1 - report.whatif / report.duration)
    (evidence,) = [e for e in opportunity["evidence"] if e["later"]["name"] == "lookup1"]
    assert evidence["classification"] == "candidate" and evidence["decided_by"] == "fingerprints"
    assert "no call site" in evidence["source"]


def test_with_the_source_both_witnesses_agree_and_the_saving_counts_by_default() -> None:
    report = analyze(agent_trace(sites=True)).traces[0]
    counted = analyze(agent_trace(), witnesses=COUNTED).traces[0]
    assert report.saving == pytest.approx(counted.saving) and report.candidates == []
    (opportunity,) = report.opportunities
    where = [s["where"] for s in opportunity["run_together"][0]]
    lines = [call_site(f"lookup{i}")["code.line.number"] for i in range(4)]
    assert where == [f"tests/analysis/sequential_agent.py:{n}" for n in lines]
    independent = [e for e in opportunity["evidence"] if e["classification"] == "independent"]
    assert independent and all(e["decided_by"] == "both" for e in independent)
    assert "nothing `lookup`" in independent[0]["source"]
    (kept,) = [e for e in opportunity["evidence"] if e["later"]["name"] == "synthesize"][:1]
    assert kept["classification"] == "dependent" and kept["decided_by"] == "both"
    assert "reads `a" in kept["source"]


def test_by_default_what_only_the_fingerprints_saw_is_a_candidate_not_a_saving() -> None:
    report = analyze(agent_trace()).traces[0]
    assert report.opportunities == [] and report.saving == 0
    assert report.whatif == pytest.approx(report.duration)
    (candidate,) = report.candidates
    counted = analyze(agent_trace(), witnesses=COUNTED).traces[0]
    assert report.candidate_saving == pytest.approx(counted.saving)
    assert candidate["saving"] == pytest.approx(counted.opportunities[0]["saving"])
    assert not report.candidates_counted and counted.candidates_counted
    assert report.candidate_pairs == 6  # the lookups' pairs; synthesize depends on all four


def test_steps_without_fingerprints_are_unknown_and_no_saving_is_claimed() -> None:
    report = analyze(agent_trace(known=False)).traces[0]
    assert report.opportunities == []
    assert report.whatif == pytest.approx(report.duration)
    assert report.unknown_pairs > 0


def test_a_capped_fanout_that_queued_is_not_an_opportunity() -> None:
    fanout = span("map f", 0, 40, fanscope__role="fanout", fanscope__fanout__max_concurrency=2)
    branches = [
        span("f", 0, 10, fanout, fanscope__role="branch", fanscope__branch__index=0),
        span("f", 0, 10, fanout, fanscope__role="branch", fanscope__branch__index=1),
        span("f", 10, 20, fanout, fanscope__role="branch", fanscope__branch__index=2,
             fanscope__queue__wait_s=0.01),
        span("f", 10, 40, fanout, fanscope__role="branch", fanscope__branch__index=3,
             fanscope__queue__wait_s=0.01),
    ]  # fmt: skip
    report = analyze([fanout, *branches]).traces[0]
    assert report.opportunities == []
    assert report.whatif == pytest.approx(0.040)
    (stats,) = fanout_stats(build_trace(fanout.trace_id, [fanout, *branches]))
    assert stats.slowest == pytest.approx(0.030)
    assert stats.straggler_ratio == pytest.approx(3.0)
    assert stats.queue_wait == pytest.approx(0.02) and stats.queue_wait_max == pytest.approx(0.01)
    assert stats.parallelism == pytest.approx(60 / 40)
    assert report.queue_wait_total == pytest.approx(0.02)


async def test_a_real_sequential_agent_is_analysed_from_its_sdk_spans(
    exporter: InMemorySpanExporter,
) -> None:
    latency = {"news": 0.04, "filings": 0.05, "prices": 0.02, "db": 0.03}

    @parallel(max_concurrency=8)
    async def lookup(source: str, question: str) -> str:
        await asyncio.sleep(latency[source])
        return f"{source} reports that {question} grew eleven percent this quarter"

    @traced
    async def synthesize(parts: list[str]) -> str:
        await asyncio.sleep(0.01)
        return " ".join(p.split()[0] for p in parts)

    @traced
    async def research(question: str) -> str:
        parts = [await lookup(source, question) for source in latency]
        return await synthesize(parts)

    await research("ACME")
    report = analyze(from_readable_spans(exporter.get_finished_spans())).traces[0]
    (opportunity,) = report.opportunities
    (group,) = opportunity["run_together"]
    assert [s["name"] for s in group] == ["lookup"] * 4
    assert [a["step"]["name"] for a in opportunity["keep_after"]] == ["synthesize"]
    lookups = sorted(
        (s for s in exporter.get_finished_spans() if s.name == "lookup"),
        key=lambda s: s.start_time,
    )
    # one-sided bounds from the run's own spans: every lookup but the slowest is saved
    slowest = max((s.end_time - s.start_time) / 1e9 for s in lookups)
    saved = sum((s.end_time - s.start_time) / 1e9 for s in lookups) - slowest
    assert slowest < report.whatif <= report.duration - saved + 1e-9
    assert report.duration > sum(latency.values())


def test_per_operation_p50_and_p95_over_many_traces() -> None:
    spans = []
    for t, lookup_ms in enumerate([10, 20, 30, 40, 100]):
        trace_id = f"{t + 1:032x}"
        root = span("agent", 0, lookup_ms + 5, trace=trace_id)
        spans += [root, span("lookup", 0, lookup_ms, root, trace=trace_id)]
    report = analyze(spans)
    assert len(report.traces) == 5
    lookup = report.operations["lookup"]
    assert lookup["p50"] == pytest.approx(0.030)
    assert lookup["p95"] == pytest.approx(0.088)  # inclusive method: between 40 and 100 ms
    assert report.operations["agent"]["p50"] == pytest.approx(0.005)


def _steps(*specs: tuple[str, float, float, dict[str, object]]) -> list[Span]:
    root = span("agent", 0, 1000, fanscope__role="step")
    out = [root]
    for name, start, end, attrs in specs:
        child = span(name, start, end, root, fanscope__role="step")
        child.attributes.update(attrs)
        out.append(child)
    return out


def test_a_later_step_depends_through_the_llm_call_inside_it() -> None:
    # the earlier step's answer is recorded on its own span; the later step's prompt, which
    # pasted that answer, on the LLM call span inside the later step
    spans = _steps(("draft", 0, 400, {OUT: ["d1"]}), ("review", 400, 900, {}))
    spans.append(span("chat model", 410, 890, spans[2], **{IN: ["d1", "x"]}))
    spans[0].end = 900_000_000
    report = analyze(spans).traces[0]
    assert report.opportunities == [] and report.unknown_pairs == 0
    assert report.whatif == pytest.approx(report.duration)


def test_an_earlier_answer_recorded_below_the_step_counts_as_its_output() -> None:
    spans = _steps(("draft", 0, 400, {}), ("review", 400, 900, {IN: ["d1"]}))
    spans.append(span("chat model", 10, 390, spans[1], **{OUT: ["d1"]}))
    spans[0].end = 900_000_000
    assert analyze(spans).traces[0].opportunities == []


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ({IN: ["q"]}, {IN: ["r"], OUT: ["s"]}),  # the earlier output was not fingerprinted
        ({IN: ["q"], OUT: ["a"]}, {OUT: ["s"]}),  # the later step took nothing fingerprinted
    ],
)
def test_a_pair_without_fingerprints_to_compare_is_unknown_and_kept_in_order(
    earlier: dict[str, object], later: dict[str, object]
) -> None:
    spans = _steps(("one", 0, 400, earlier), ("two", 400, 900, later))
    spans[0].end = 900_000_000
    report = analyze(spans).traces[0]
    assert report.opportunities == [] and report.unknown_pairs == 1
    assert report.whatif == pytest.approx(0.9)


def test_lone_calls_under_a_cap_of_two_are_planned_two_at_a_time() -> None:
    cap = {"fanscope.branch.max_concurrency": 2, "fanscope.function": "m.lookup"}
    spans = _steps(
        *[(f"lookup{i}", i * 100, i * 100 + 100, {IN: [f"q{i}"], OUT: [f"a{i}"], **cap})
          for i in range(4)]
    )  # fmt: skip
    spans[0].end = 400_000_000
    report = analyze(spans, witnesses=COUNTED).traces[0]
    (opportunity,) = report.opportunities
    assert [len(g) for g in opportunity["run_together"]] == [4]
    assert report.whatif == pytest.approx(0.200)  # two rounds of two, not one round of four


def test_only_the_independent_steps_are_grouped_and_the_dependent_chain_stays() -> None:
    spans = _steps(
        ("a", 0, 100, {IN: ["q"], OUT: ["a"]}),
        ("b", 100, 300, {IN: ["a"], OUT: ["b"]}),  # uses a
        ("c", 300, 350, {IN: ["q2"], OUT: ["c"]}),  # independent of both
        ("d", 350, 400, {IN: ["b", "c"], OUT: ["d"]}),  # uses b and c
    )
    spans[0].end = 400_000_000
    report = analyze(spans, witnesses=COUNTED).traces[0]
    (opportunity,) = report.opportunities
    assert [[s["name"] for s in g] for g in opportunity["run_together"]] == [["a", "c"]]
    after = {
        k["step"]["name"]: sorted(s["name"] for s in k["after"]) for k in opportunity["keep_after"]
    }
    assert after == {"b": ["a"], "d": ["b", "c"]}
    assert report.whatif == pytest.approx(0.350)  # a, then b, then d; c alongside a


def _reference_whatif(children: list[tuple[int, int, set[str], set[str]]]) -> int:
    """The what-if by its definition, pair by pair: children in start order under a parent
    starting at 0; a later child waits for each earlier one that ended before it started,
    unless the earlier has outputs, the later has inputs, and they share none. An earlier
    child's outputs are those not among its own inputs (an echo is no evidence of flow)."""
    finish: list[int] = []
    made = [outs - own for _, _, own, outs in children]
    for j, (start, end, ins, _) in enumerate(children):
        ended = [k for k in range(j) if children[k][1] <= start]
        waits_for = [k for k in ended if not (made[k] and ins) or made[k] & ins]
        last_end = max([0] + [children[k][1] for k in ended])
        ready = max([0] + [finish[k] for k in waits_for]) + (start - last_end)
        finish.append(ready + end - start)
    return max(finish)


_PRINTS = st.sets(st.sampled_from("abcd"), max_size=2)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 90), st.integers(0, 30), _PRINTS, _PRINTS), min_size=1, max_size=9
    )
)
def test_the_one_pass_what_if_equals_the_pairwise_definition(
    rows: list[tuple[int, int, set[str], set[str]]],
) -> None:
    children = sorted((start, start + length, ins, outs) for start, length, ins, outs in rows)
    root = span("root", 0, 130, fanscope__role="step")
    spans = [root]
    for start, end, ins, outs in children:
        child = span("step", start, end, root)
        if ins:
            child.attributes[IN] = sorted(ins)
        if outs:
            child.attributes[OUT] = sorted(outs)
        spans.append(child)
    expected_ms = _reference_whatif(children) + (130 - max(end for _, end, _, _ in children))
    assert analyze(spans, witnesses=COUNTED).traces[0].whatif == pytest.approx(expected_ms / 1000)
    # not counted, a candidate waits like a dependent pair: nothing moves
    assert analyze(spans).traces[0].whatif == pytest.approx(0.130)


def test_a_branchs_dispatch_delay_is_kept_and_only_its_wait_in_line_is_removed() -> None:
    """Under load, branches start some ms after their fan-out without having waited for a
    slot; the what-if keeps that time (no schedule removes it), so a fully parallel agent
    shows no saving and no opportunity. A recorded wait in line is what a cap adds."""
    root = span("research", 0, 200, fanscope__role="step")
    fan = span("gather", 0, 152, root, fanscope__role="fanout", fanscope__kind="section")
    branches = [
        span(name, 20, end, fan, fanscope__role="branch", fanscope__dataflow__outputs=[name])
        for name, end in (("news", 150), ("filings", 100), ("prices", 120))
    ]
    fanin = span("fan-in gather", 151, 152, fan, fanscope__role="fanin")
    synth = span("synthesize", 153, 200, root, fanscope__role="step",
                 fanscope__dataflow__inputs=["news", "filings", "prices"])  # fmt: skip
    report = analyze([root, fan, *branches, fanin, synth]).traces[0]
    assert report.opportunities == []
    assert report.whatif == pytest.approx(report.duration, abs=1e-3)

    capped = span("map f", 0, 152, root, fanscope__role="fanout", fanscope__kind="map",
                  fanscope__fanout__max_concurrency=1)  # fmt: skip
    waited = [
        span("f", 20, 60, capped, fanscope__role="branch"),
        span("f", 60, 100, capped, fanscope__role="branch", fanscope__queue__wait_s=0.040),
    ]
    kept = analyze([root, capped, *waited]).traces[0]
    assert kept.whatif == pytest.approx(kept.duration, abs=1e-3)  # the cap of 1 holds


def test_a_branch_that_started_late_without_waiting_in_line_is_no_saving() -> None:
    # a loaded event loop started the second branch 20 ms late; it was not waiting for a
    # slot (no queue wait recorded), so that time is the runtime's and stays
    fanout = span("gather", 0, 40, fanscope__role="fanout", fanscope__kind="section")
    first = span("news", 0, 20, fanout, fanscope__role="branch", fanscope__branch__index=0)
    late = span("filings", 20, 40, fanout, fanscope__role="branch", fanscope__branch__index=1)
    report = analyze([fanout, first, late]).traces[0]
    assert report.whatif == pytest.approx(0.040)
    late.attributes["fanscope.queue.wait_s"] = 0.020  # now it was waiting in line: no cap left
    assert analyze([fanout, first, late]).traces[0].whatif == pytest.approx(0.020)


def test_a_child_whose_own_steps_could_run_together_is_no_opportunity_of_its_parent() -> None:
    root = span("agent", 0, 150, fanscope__role="step")
    gather_step = span("collect", 0, 100, root, fanscope__role="step", **{OUT: ["c"]})
    calls = [
        span(f"fetch{i}", i * 50, i * 50 + 50, gather_step, fanscope__role="step",
             **{IN: [f"q{i}"], OUT: [f"a{i}"]})
        for i in range(2)
    ]  # fmt: skip
    after = span("write", 100, 150, root, fanscope__role="step", **{IN: ["c"]})
    report = analyze([root, gather_step, *calls, after], witnesses=COUNTED).traces[0]
    # one opportunity, under collect; the agent's two steps stay as they are
    assert [o["parent"] for o in report.opportunities] == ["collect"]
    assert report.opportunities[0]["saving"] == pytest.approx(0.050)
    assert report.whatif == pytest.approx(0.100)


def test_a_step_kept_after_calls_that_ran_beside_each_other_is_kept_after_each_of_them() -> None:
    # x1 and x2 ran at the same time (two tasks of one gather, say) and nothing can say what
    # they fed: d must stay after both, and the report names both, not only the one that
    # ended last
    spans = _steps(
        ("a", 0, 100, {IN: ["q"], OUT: ["a"]}),
        ("b", 100, 300, {IN: ["q2"], OUT: ["b"]}),  # independent of a
        ("x1", 310, 420, {}),
        ("x2", 320, 400, {}),
        ("d", 430, 500, {}),
    )
    spans[0].end = 500_000_000
    report = analyze(spans, witnesses=COUNTED).traces[0]
    (opportunity,) = report.opportunities
    after = {
        k["step"]["name"]: sorted(s["name"] for s in k["after"]) for k in opportunity["keep_after"]
    }
    assert after["d"] == ["x1", "x2"]
