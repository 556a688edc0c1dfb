"""What the reports say, checked through the JSON fields the words come from.

Each case runs real code through the SDK (caps, limiters, retries, votes, untraced helpers),
analyses its spans, checks the fields of ``fanscope.report/v1`` against what the run did, and
then that the terminal and Markdown reports print the sentence made from those fields
(``fanscope.analysis.report.words``). The HTML report shows the same sentences; its browser
test checks them on the page.
"""

from __future__ import annotations

import asyncio
import html as html_module
import json
import re
from pathlib import Path

import cmarkgfm
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Limiter, Retry, parallel, traced, vote
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.convert import to_otlp_lines
from fanscope.analysis.dependencies import Witnesses
from fanscope.analysis.model import Span
from fanscope.analysis.report import html, markdown, text, words
from fanscope.analysis.schema import ReportDoc, TraceDoc
from fanscope.cli import main
from tests.analysis.builders import span


def spans_of(exporter: InMemorySpanExporter) -> list[Span]:
    return from_readable_spans(exporter.get_finished_spans())


def the_trace(
    exporter: InMemorySpanExporter, witnesses: Witnesses | None = None
) -> tuple[ReportDoc, TraceDoc]:
    report = analyze(spans_of(exporter), witnesses=witnesses).to_dict()
    (trace,) = report["traces"]
    return report, trace


def shown_by_markdown(report: ReportDoc) -> str:
    """The text a reader sees of the Markdown report, rendered as GitHub renders it."""
    page = cmarkgfm.github_flavored_markdown_to_html(markdown.render(report))
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))


def printed_everywhere(report: ReportDoc, sentence: str) -> None:
    assert sentence in text.render(report), sentence
    assert sentence in shown_by_markdown(report), sentence


async def test_waiting_in_line_names_the_fanout_the_limiter_the_cap_and_the_parallelism(
    exporter: InMemorySpanExporter,
) -> None:
    provider = Limiter(max_concurrency=1, name="provider")

    @parallel(max_concurrency=2)
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.02)
        return i

    @parallel(limiter=provider)
    async def ask(q: str) -> str:
        await asyncio.sleep(0.02)
        return q

    @traced
    async def agent() -> None:
        await fetch.map(range(6))
        await asyncio.gather(ask("a"), ask("b"))  # lone calls, one at a time

    await agent()
    report, t = the_trace(exporter)
    by_holder = {w["holder"]: w for w in t["queue_waits"]}
    mapped = by_holder["map fetch"]
    assert (mapped["branches"], mapped["waited"], mapped["max_concurrency"]) == (6, 4, 2)
    assert mapped["limiter"] and mapped["holder_span_id"]
    assert mapped["parallelism"] is not None and 1.5 < mapped["parallelism"] <= 2.05
    assert mapped["wait_max"] >= 0.035  # the last two waited for two rounds
    lone = by_holder["ask"]
    assert (lone["holder_span_id"], lone["limiter"], lone["waited"]) == ("", "provider", 1)
    assert lone["parallelism"] is None
    assert t["queue_wait_total"] == pytest.approx(mapped["wait"] + lone["wait"])
    sentence = words.queue_wait(mapped)
    assert sentence.startswith("map fetch: 4 of 6 branches waited, ")
    assert f"behind limiter {mapped['limiter']}, cap 2;" in sentence
    assert f"{mapped['parallelism']:.1f} ran at a time on average of the 2 allowed" in sentence
    assert "ask (calls outside a fan-out): 1 of 2 branches waited" in words.queue_wait(lone)
    assert "behind limiter provider" in words.queue_wait(lone)
    printed_everywhere(report, sentence)
    printed_everywhere(report, words.queue_wait(lone))
    caps = words.behind_caps(t["queue_wait_total"], t["queue_wait_on_path"], t["queue_wait_share"])
    assert caps.startswith(f"behind caps: {words.seconds(t['queue_wait_total'])} summed over")
    printed_everywhere(report, caps)
    assert words.behind_caps(0.0, 0.0, 0.0) == "behind caps: none"


async def test_a_fanout_that_waited_for_its_slowest_branch_says_so_without_a_percentage(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel
    async def lookup(source: str) -> str:
        await asyncio.sleep({"news": 0.02, "filings": 0.15, "prices": 0.01}[source])
        return source

    # The fan-out's own time is under a millisecond, but a loaded machine can take the process
    # off the CPU while it starts its branches (50 ms at load 15 on two cores, in about one
    # run in 15): the fan-out then did not wait for its slowest branch alone, and the report
    # rightly does not say so. A run the scheduler left alone is the case this test is about.
    for _ in range(5):
        exporter.clear()
        await lookup.map(["news", "filings", "prices"])
        report, t = the_trace(exporter)
        (f,) = t["fanouts"]
        assert f["slowest_name"] == "lookup[1]"
        if f["slowest_share"] >= words.WAITED_FOR:
            break
        assert "waited for it" not in words.fanout(f)
    else:
        pytest.fail("the machine delayed the start of every one of 5 fan-outs by more than 5%")
    sentence = words.fanout(f)
    assert sentence.startswith(f"map lookup (3 branches, {words.seconds(f['duration'])}): ")
    assert f"slowest lookup[1] {words.seconds(f['slowest'])}: the fan-out waited for it" in sentence
    assert "% of the fan-out" not in text.render(report)
    printed_everywhere(report, sentence)


async def test_a_capped_fanouts_slowest_branch_is_not_said_to_set_its_time(
    exporter: InMemorySpanExporter,
) -> None:
    @parallel(max_concurrency=1)
    async def step(i: int) -> int:
        await asyncio.sleep(0.01)
        return i

    await step.map(range(4))
    _, t = the_trace(exporter)
    (f,) = t["fanouts"]
    assert f["slowest_share"] < words.WAITED_FOR  # four in a row: each a quarter of the time
    assert "waited for it" not in words.fanout(f)


async def test_a_votes_cancelled_voters_are_not_stragglers_and_early_stop_is_explained(
    exporter: InMemorySpanExporter,
) -> None:
    calls = iter(range(100))

    @vote(n=5, quorum=3)
    async def slow_tail(diff: str) -> bool:
        i = next(calls)
        await asyncio.sleep(0.01 if i < 3 else 5.0)  # three quick agreeing voters, two stuck
        return True

    ballot = await slow_tail.ballot("diff")
    assert ballot.cancelled == 2 and ballot.stopped_early
    report, t = the_trace(exporter)
    (f,) = t["fanouts"]
    assert f["kind"] == "vote" and f["cancelled"] == 2
    assert f["slowest"] < 1.0  # a stuck, cancelled voter is not the slowest branch
    stop = f["early_stop"]
    assert stop is not None
    assert (stop["stopped_early"], stop["answered"], stop["cancelled_running"]) == (True, 3, 2)
    assert stop["cancelled_waiting"] == 0
    assert 0.005 < stop["decided_at"] < 1.0 and 0.01 < stop["cancelled_ran"] < 2.0
    sentence = words.fanout(f)
    assert "3 of 5 answered or failed" in sentence
    assert (
        f"early stop: 2 voters cancelled once the count was decided at "
        f"{words.seconds(stop['decided_at'])}, so the vote returned then instead of waiting "
        f"for them: 2 mid-call, after {words.seconds(stop['cancelled_ran'])}" in sentence
    )
    printed_everywhere(report, sentence)


async def test_voters_cancelled_while_waiting_in_line_are_said_to_have_sent_nothing(
    exporter: InMemorySpanExporter,
) -> None:
    gate = Limiter(max_concurrency=1, name="one-at-a-time")

    @vote(n=5, quorum=2)
    @parallel(limiter=gate)
    async def check(x: int) -> int:
        await asyncio.sleep(0.01)
        return 1

    await check(1)
    _, t = the_trace(exporter)
    (f,) = t["fanouts"]
    stop = f["early_stop"]
    assert (
        stop is not None and f["cancelled"] == stop["cancelled_waiting"] + stop["cancelled_running"]
    )
    if stop["cancelled_waiting"]:
        assert f"{stop['cancelled_waiting']} before sending its call (no tokens spent)" in (
            words.fanout(f)
        )


class Busy(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__("busy")
        self.retry_after = retry_after


async def test_a_retried_branchs_time_is_split_into_attempts_and_waits_to_retry(
    exporter: InMemorySpanExporter,
) -> None:
    tries = {"news": 0}

    @parallel(retry=Retry(attempts=3, initial=0.001, max_wait=0.002, retry_on=(Busy,)))
    async def lookup(source: str) -> str:
        tries[source] = tries.get(source, 0) + 1
        await asyncio.sleep(0.01)
        if source == "news" and tries[source] < 3:
            raise Busy(retry_after=0.04)
        return source

    @traced
    async def agent() -> list[str]:
        return await lookup.map(["news", "db"])

    await agent()
    report, t = the_trace(exporter)
    (r,) = t["retries"]
    assert (r["name"], r["attempts"], r["outcome"], r["client_resends"]) == (
        "lookup[0]",
        3,
        "ok",
        0,
    )
    assert r["retry_after"] == pytest.approx(0.08)
    assert r["backoff"] >= 0.08  # at least what the error asked for, twice
    assert r["attempt_time"] == pytest.approx(r["duration"] - r["backoff"] - r["slot_wait"])
    assert 0.025 < r["attempt_time"] < r["duration"] - 0.07
    assert r["on_critical_path"]
    sentence = words.retried(r)
    assert sentence == (
        f"lookup[0] {words.seconds(r['duration'])} = 3 attempts "
        f"{words.seconds(r['attempt_time'])}, waiting to retry {words.seconds(r['backoff'])} "
        f"(retry-after asked for {words.seconds(r['retry_after'])}, honoured)"
    )
    printed_everywhere(report, sentence)
    assert "(of which" in text.render(report)  # the path row of the branch says it too


async def test_the_clients_own_resends_inside_a_call_are_counted(
    exporter: InMemorySpanExporter,
) -> None:
    anthropic = pytest.importorskip("anthropic")
    from fanscope.integrations.anthropic import AnthropicInstrumentor
    from fanscope.testing import AnthropicStandIn

    AnthropicInstrumentor().instrument()
    with AnthropicStandIn(rate_limit_share=0.5, retry_after=0.01, seed=3, record=True) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="test", max_retries=4)

        @parallel
        async def ask(q: str) -> str:
            reply = await client.messages.create(
                model="m", max_tokens=20, messages=[{"role": "user", "content": q}]
            )
            return str(reply.id)

        @traced
        async def agent() -> list[str]:
            return await ask.map([f"question {i}" for i in range(6)])

        await agent()
        await client.close()
        limited = server.stats.statuses.get(429, 0)
    assert limited > 0, "the seed should give some 429s"
    report, t = the_trace(exporter)
    assert sum(r["client_resends"] for r in t["retries"]) == limited
    for r in t["retries"]:
        assert r["attempts"] == 1 and r["client_wait"] > 0
        assert f"the client resent {words.plural(r['client_resends'], 'request')}" in (
            words.retried(r)
        )
    printed_everywhere(report, words.retried(t["retries"][0]))


async def test_a_span_whose_calls_are_not_traced_is_named_with_how_to_trace_them(
    exporter: InMemorySpanExporter,
) -> None:
    async def plain_helper() -> str:  # not decorated: invisible to the analyzer
        await asyncio.sleep(0.05)
        return "x"

    @traced
    async def agent() -> str:
        return await plain_helper() + await plain_helper()

    await agent()
    report, t = the_trace(exporter)
    (u,) = t["untraced"]
    assert (u["name"], u["role"]) == ("agent", "step") and u["share"] > 0.9
    sentence = words.untraced(u)
    assert sentence.startswith(f"agent spent {words.seconds(u['own'])} (")
    assert "what it calls is not traced" in sentence and "@traced" in sentence
    assert "nothing found" not in text.render(report)
    printed_everywhere(report, sentence)

    exporter.clear()
    helper = traced(plain_helper)

    @traced
    async def visible() -> str:
        return "".join([await helper() for _ in range(4)])  # each about a quarter of the time

    await visible()
    _, t = the_trace(exporter)
    assert t["untraced"] == []  # its calls are spans now


def test_a_long_call_to_another_service_is_not_called_untraced() -> None:
    root = span("agent", 0, 100, fanscope__role="step")
    call = span("chat claude", 1, 99, root)
    call.kind = 3  # CLIENT: the wait is the server's, nothing more to trace here
    assert analyze([root, call]).to_dict()["traces"][0]["untraced"] == []
    lone = span("agent", 0, 100, fanscope__role="step")
    (u,) = analyze([lone]).to_dict()["traces"][0]["untraced"]
    assert u["share"] == pytest.approx(1.0)
    fan = span("gather", 0, 100, fanscope__role="fanout", fanscope__kind="section")
    leaf = span("news", 1, 99, fan, fanscope__role="branch")  # a branch is often the call itself
    assert analyze([fan, leaf]).to_dict()["traces"][0]["untraced"] == []


def test_per_operation_figures_count_only_the_traces_where_the_operation_is() -> None:
    a = span("run", 0, 600)
    lookup = span("lookup", 10, 553, a)
    b = span("run", 0, 100, trace="5" * 32)
    report = analyze([a, lookup, b]).to_dict()
    ops = report["operations"]
    assert ops["lookup"]["traces"] == 1
    assert ops["lookup"]["p50"] == pytest.approx(0.543) == ops["lookup"]["p95"]  # not 0.0
    assert ops["run"]["traces"] == 2
    rendered = text.render(report)
    assert words.operations_heading(2) in rendered
    table = rendered.split(words.operations_heading(2), 1)[1]
    row = next(line for line in table.splitlines() if line.strip().startswith("lookup"))
    assert "543 ms" in row and "0.0 ms" not in row and row.endswith("in 1 of 2")
    assert "| lookup | 543 ms | 543 ms | in 1 of 2 |" in markdown.render(report)


def write_runs(path: Path, runs: int, tid_base: str = "a") -> list[str]:
    """``runs`` traces appended to one file, one per run, each started later."""
    lines, ids = [], []
    for i in range(runs):
        tid = (tid_base + format(i, "x")).rjust(32, "0")
        root = span("research", i * 1000, i * 1000 + 100 + i, trace=tid)
        lines.extend(
            to_otlp_lines([root, span("lookup", i * 1000 + 1, i * 1000 + 90, root, trace=tid)])
        )
        ids.append(tid)
    path.write_text("\n".join(lines) + "\n")
    return ids


def test_a_file_of_many_runs_prints_the_newest_and_says_what_it_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "traces.jsonl"
    ids = write_runs(runs, 3)
    assert main(["analyze", str(runs)]) == 0
    out = capsys.readouterr().out
    assert out.count("\ntrace ") == 1 and f"trace {ids[-1]}" in out
    assert words.skipped(1, 3) in out
    assert "--all" in words.skipped(1, 3) and "2 earlier traces not shown" in words.skipped(1, 3)
    assert "in 3 of 3" in out  # the per-operation figures still count every run

    assert main(["analyze", str(runs), "--all"]) == 0
    assert capsys.readouterr().out.count("\ntrace ") == 3
    assert main(["analyze", str(runs), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.count("**research**") == 3  # CI output keeps every trace

    assert main(["analyze", str(runs), "--last", "2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [t["trace_id"] for t in doc["traces"]] == ids[1:]
    assert doc["operations"]["lookup"]["traces"] == 2
    assert main(["analyze", str(runs), "--last", "2"]) == 0
    out = capsys.readouterr().out
    assert "the newest 2 of 3 traces (--last 2)" in out and out.count("\ntrace ") == 2
    assert main(["analyze", str(runs), "--trace-id", ids[0][-6:]]) == 0
    assert f"trace {ids[0]}" in capsys.readouterr().out

    assert main(["analyze", str(runs), "--last", "0"]) == 2
    assert "--last: wants a whole number >= 1" in capsys.readouterr().err


def test_a_folder_prints_the_newest_trace_of_each_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    first = write_runs(folder / "test_a.jsonl", 2, "b")
    second = write_runs(folder / "test_b.jsonl", 2, "c")
    assert main(["analyze", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"trace {first[-1]}" in out and f"trace {second[-1]}" in out
    assert out.count("\ntrace ") == 2 and words.skipped(2, 4) in out


def test_the_html_page_carries_the_same_sentences() -> None:
    root = span("agent", 0, 100, fanscope__role="step")
    spans = [root]
    report = analyze(spans).to_dict()
    page = html.render(report, spans)
    data = json.loads(
        page.split('id="fanscope-data">', 1)[1].split("</script>", 1)[0].replace("\\u003c", "<")
    )
    (u,) = report["traces"][0]["untraced"]
    assert data["words"][root.trace_id]["untraced"] == [words.untraced(u)]


async def test_calls_made_outside_any_step_are_several_traces_and_the_report_says_why(
    exporter: InMemorySpanExporter,
) -> None:
    """The README's old example: an entry point without @traced makes one trace per call."""

    @parallel(max_concurrency=8)
    async def lookup(source: str, question: str) -> str:
        await asyncio.sleep(0.005)
        return f"{source}: {question}"

    async def research(question: str) -> list[str]:  # not a step
        first = await lookup("news", question)
        return [first, *await lookup.starmap([("db", question), ("web", question)])]

    await research("ACME")
    report = analyze(spans_of(exporter)).to_dict()
    roots = [(t["root"], t["root_role"]) for t in report["traces"]]
    assert sorted(roots) == [("lookup", "branch"), ("map lookup", "fanout")]
    sentence = words.outside_steps([t["root"] for t in report["traces"]])
    assert sentence.startswith("2 traces start outside any @traced step (")
    assert "decorate its entry point with @traced" in sentence
    printed_everywhere(report, sentence)
    page = html.render(report, spans_of(exporter))
    assert json.dumps(sentence)[1:-1].replace("<", "\\u003c") in page

    exporter.clear()
    await traced(research)("ACME")
    report = analyze(spans_of(exporter)).to_dict()
    assert [t["root_role"] for t in report["traces"]] == ["step"]
    assert "outside any @traced step" not in text.render(report)


def test_repeated_names_are_counted_in_order_of_first_appearance() -> None:
    assert words.names(["chat", "chat", "plan", "chat"]) == "chat x3, plan"
    assert words.names(["a", "b"]) == "a, b"
    assert words.names([f"s{i}" for i in range(9)], limit=3) == "s0, s1, 7 more"


async def test_steps_kept_in_order_for_want_of_fingerprints_are_named_with_the_fix(
    exporter: InMemorySpanExporter,
) -> None:
    @traced
    async def fetch(source: str) -> str:
        await asyncio.sleep(0.002)
        return f"{source} reports strong demand and rising margins this quarter"

    @traced
    async def refresh() -> None:  # no arguments, nothing returned: nothing to compare
        await asyncio.sleep(0.002)

    @traced
    async def agent() -> None:
        await fetch("news")
        await refresh()

    await agent()
    # the source sees that refresh reads nothing of fetch (a candidate, listed with the
    # source's evidence); the fingerprints alone cannot look at the pair
    _, both = the_trace(exporter)
    assert both["candidate_pairs"] == 1 and both["unknown_pairs"] == 0
    report, t = the_trace(exporter, Witnesses(source=False))
    assert t["unknown_pairs"] == 1
    (b,) = t["blind_pairs"]
    assert (b["step"]["name"], b["after"]["name"], b["blind"]["name"]) == (
        "refresh",
        "fetch",
        "refresh",
    )
    assert b["missing"] == "inputs" and "pass what it uses as arguments" in b["why"]
    sentence = words.blind_pair(b)
    assert sentence.startswith("refresh kept after fetch: refresh recorded no inputs (")
    printed_everywhere(report, words.unknown_pairs(1))
    printed_everywhere(report, sentence)
    page = html.render(report, spans_of(exporter))
    assert json.dumps(sentence)[1:-1] in page


def test_a_span_of_another_instrumentation_or_fingerprints_off_are_said_so() -> None:
    root = span("agent", 0, 100, fanscope__role="step")
    first = span("GET /prices", 0, 40, root)  # another instrumentation's span: no fingerprints
    second = span("report", 41, 90, root, fanscope__role="step", fanscope__dataflow__inputs=["a"])
    (b,) = analyze([root, first, second]).to_dict()["traces"][0]["blind_pairs"]
    assert (b["blind"]["name"], b["missing"]) == ("GET /prices", "outputs")
    assert "another instrumentation: @traced on the function that makes it" in b["why"]
    bare = span("report", 41, 90, root, fanscope__role="step")
    (off,) = analyze([root, first, bare]).to_dict()["traces"][0]["blind_pairs"]
    assert "fingerprints=False" in off["why"]
