"""Evidence said once per finding: a finding that rests on several calls is one sentence that
names them, in the terminal, the Markdown and the HTML report alike (``report/evidence.py``).

The agents here are functions of this file, run through the SDK; the analyzer reads this file
as their source (the tests run from the project's root, where ``make test`` runs them).
"""

from __future__ import annotations

import asyncio
import html as html_module
import json
import re
from typing import Any

import cmarkgfm
from hypothesis import example, given
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import traced
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.model import Span
from fanscope.analysis.report import evidence, html, markdown, text
from fanscope.analysis.schema import PairEvidence, ReportDoc, StepRef

HERE = "tests/analysis/test_report_evidence.py"


def line_of(marker: str) -> int:
    """The line of this file that ends with ``# marker``."""
    with open(__file__, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if line.rstrip().endswith(f"# {marker}"):
                return number
    raise AssertionError(marker)


@traced
async def lookup(source: str) -> str:
    await asyncio.sleep(0.01)
    return f"{source} reports strong demand and rising margins this quarter"


@traced
async def combine(notes: list[str]) -> str:
    await asyncio.sleep(0.002)
    return " / ".join(notes)


@traced
async def research(topic: str) -> str:
    notes = [
        await lookup(f"news on {topic}"),  # news
        await lookup(f"filings of {topic}"),  # filings
        await lookup(f"prices of {topic}"),  # prices
    ]
    return await combine(notes)  # combine


@traced
async def loop(topic: str) -> str:
    notes = []
    for part in ("news", "filings", "prices", "staff"):
        notes.append(await lookup(f"{part} of {topic}"))  # each
    return await combine(notes)  # after the loop


def shown_by_markdown(report: ReportDoc) -> str:
    """The text a reader sees of the Markdown report, rendered as GitHub renders it."""
    page = cmarkgfm.github_flavored_markdown_to_html(markdown.render(report))
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))


def page_data(report: ReportDoc, spans: list[Span]) -> dict[str, Any]:
    """The data the HTML page builds itself from (its one JSON element)."""
    page = html.render(report, spans)
    found = re.search(r'<script type="application/json" id="fanscope-data">(.*?)</script>', page)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def said_in_each_report(exporter: InMemorySpanExporter) -> tuple[list[str], list[str]]:
    """The evidence sentences of the run's one opportunity, and the page's list of them,
    after checking that the terminal and the Markdown print each once."""
    spans = from_readable_spans(exporter.get_finished_spans())
    report = analyze(spans).to_dict()
    (trace,) = report["traces"]
    (o,) = trace["opportunities"]
    said = evidence.sentences(o["evidence"])
    assert len(said) == len(set(said)), said
    terminal, shown = text.render(report), shown_by_markdown(report)
    for sentence in said:
        assert terminal.count(sentence) == 1, (sentence, terminal)
        assert shown.count(sentence) == 1, (sentence, shown)
    (on_page,) = page_data(report, spans)["words"][trace["trace_id"]]["evidence"]
    return said, on_page


async def test_calls_kept_before_one_step_and_a_chain_are_each_said_once(
    exporter: InMemorySpanExporter,
) -> None:
    await research("heat pumps")
    said, on_page = said_in_each_report(exporter)
    news, filings, prices, combined = (line_of(m) for m in ("news", "filings", "prices", "combine"))
    assert said == [
        f"{HERE}:{news}, :{filings}, :{prices}, each after the one before: independent: "
        "nothing the later call reads comes from the earlier call; no fingerprint overlap",
        f"{HERE}:{news}, :{filings}, :{prices} -> :{combined}: dependent (both): `combine` "
        f"at :{combined} reads `notes`, from each of them",
    ]
    assert on_page == said  # the page shows the same sentences, each once


async def test_the_calls_of_one_line_in_a_loop_are_counted_not_repeated(
    exporter: InMemorySpanExporter,
) -> None:
    await loop("heat pumps")
    said, on_page = said_in_each_report(exporter)
    each, after = line_of("each"), line_of("after the loop")
    assert len(said) == 2, said
    assert said[0].startswith(f"{HERE}:{each} x4, each after the one before: independent: ")
    assert said[1].startswith(f"{HERE}:{each} x4 -> :{after}: dependent (both): ")
    assert on_page == said


# -- the grouping, on pairs made up ----------------------------------------------------------


def ref(i: int, line: int | None = None) -> StepRef:
    return StepRef(span_id=f"s{i}", name=f"step{i}", start=float(i), duration=0.1,
                   where=f"a.py:{10 + i if line is None else line}")  # fmt: skip


def pair(a: StepRef, b: StepRef, kind: str = "independent", how: str = "reads") -> PairEvidence:
    if kind == "independent":
        source = f"nothing `f{b['span_id']}` at {b['where']} {how} comes from `f` at :{a['where']}"
    else:
        source = f"`g` at {b['where']} {how} `x`, from `f{a['span_id']}` at :{a['where']}"
    source = source.replace(":a.py:", ":")
    return PairEvidence(earlier=a, later=b, classification=kind,  # type: ignore[typeddict-item]
                        decided_by="both", source=source,
                        fingerprints="no input fingerprint matches")  # fmt: skip


def test_pairs_said_alike_are_one_sentence_and_differently_said_ones_stay_apart() -> None:
    a, b, c, d = (ref(i) for i in range(4))
    fan_in = [pair(x, d, "dependent") for x in (a, b, c)]
    assert evidence.sentences(fan_in) == [
        "a.py:10, :11, :12 -> :13: dependent (both): `g` at :13 reads `x`, from each of them"
    ]
    fan_out = [pair(a, x) for x in (b, c, d)]
    assert evidence.sentences(fan_out) == [
        "a.py:10 -> :11, :12, :13: independent: nothing each of them reads comes from `f` at :10"
        "; no fingerprint overlap"
    ]
    # another verb (another finding) is its own sentence
    mixed = [pair(a, d, "dependent"), pair(b, d, "dependent", how="runs only as a test on")]
    assert len(evidence.sentences(mixed)) == 2
    # a single pair is said as before: the file once, then its lines
    assert evidence.sentences([pair(a, b)]) == [
        "a.py:10 -> :11: independent: nothing `fs1` at :11 reads comes from `f` at :10; "
        "no fingerprint overlap"
    ]


pairs_drawn = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.integers(0, 5),
        st.sampled_from(["independent", "dependent"]),
        st.sampled_from(["reads", "may read"]),
    ),
    min_size=1,
    max_size=12,
)


@given(pairs_drawn)
@example([(0, 3, "independent", "reads"), (3, 5, "independent", "reads")])  # one line
@example([(0, 0, "dependent", "reads")])  # a step paired with itself
@example([(0, 1, "dependent", "reads"), (3, 1, "dependent", "reads")])  # a loop's calls
def test_every_pair_is_covered_once_and_no_sentence_repeats(
    drawn: list[tuple[int, int, str, str]],
) -> None:
    # steps 0 and 3 come from one line, as do 1 and 4, and 2 and 5 (a loop's calls)
    items = [pair(ref(i, 10 + i % 3), ref(j, 10 + j % 3), kind, how) for i, j, kind, how in drawn]
    said = evidence.sentences(items)
    assert len(said) == len(set(said))  # no sentence twice
    assert len(said) <= len(items)
    for e in items:  # each pair's lines are in the head of a sentence saying its verdict
        kind = e["classification"]
        heads = [s.partition(": ")[0] for s in said if f": {kind}" in s]
        lines = (e["earlier"]["where"].partition(":")[2], e["later"]["where"].partition(":")[2])
        assert any(all(f":{n}" in h for n in lines) for h in heads), (e, said)
    assert all("\0" not in s for s in said)
