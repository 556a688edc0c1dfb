"""Call sites: spans say which line of their parent's function led to them (code.*).

The agent in ``callsite_agent.py`` calls the real ``anthropic`` client (against the local
stand-in) through helpers, a lambda, a decorator, methods, comprehensions, loops, a thread
pool and ``asyncio.to_thread``; each GenAI span must name the line of the *traced* function
that led to it, and tell apart executions of one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import traced
from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite
from fanscope.testing.anthropic_server import AnthropicStandIn
from tests.sdk import callsite_agent as agent

SOURCE = Path(agent.__file__)
PATH = "tests/sdk/callsite_agent.py"


def line(marker: str) -> int:
    """The line of ``callsite_agent.py`` marked ``# at: marker``."""
    for number, text in enumerate(SOURCE.read_text().splitlines(), start=1):
        if text.rstrip().endswith(f"# at: {marker}"):
            return number
    raise AssertionError(f"no line marked {marker!r}")


@pytest.fixture(scope="module")
def server() -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def clients(server: AnthropicStandIn) -> Iterator[None]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    callsite.install_thread_hook()
    agent.client = anthropic.Anthropic(base_url=server.url, api_key="test")
    agent.url = server.url
    try:
        yield
    finally:
        agent.client.close()
        instrumentor.uninstrument()


def genai(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    return sorted(spans, key=lambda s: s.start_time or 0)


def site(span: ReadableSpan) -> tuple[str, str, int, int | None]:
    attrs = span.attributes or {}
    return (
        str(attrs.get(A.CODE_FILE)),
        str(attrs.get(A.CODE_FUNCTION)),
        int(attrs.get(A.CODE_LINE, -1)),  # type: ignore[arg-type]
        attrs.get(A.CALLSITE_EXECUTION),  # type: ignore[return-value]
    )


def test_each_call_names_the_line_of_the_traced_function_that_led_to_it(
    clients: None, exporter: InMemorySpanExporter
) -> None:
    agent.process("quarterly numbers for the board")
    spans = genai(exporter)
    step = next(s for s in exporter.get_finished_spans() if s.name == "process")
    assert all(s.parent is not None and s.parent.span_id == step.context.span_id for s in spans)
    sites = [site(s) for s in spans]
    assert {(p, f) for p, f, _, _ in sites} == {(PATH, "tests.sdk.callsite_agent.process")}
    lines = [ln for _, _, ln, _ in sites]
    expected = ["direct", "helper", "lambda", "decorator", "twice", "twice"]
    expected += ["comprehension"] * 2 + ["loop"] * 2
    assert lines == [line(m) for m in expected]
    executions = [e for _, _, _, e in sites]
    # the client called on the line itself: one span per execution, no number
    assert executions[0] is None
    # helpers, lambdas and decorators between the line and the client: numbered executions
    assert all(isinstance(e, int) for e in executions[1:])
    # one call of twice() made two spans: the same execution; loop rounds: different ones
    assert executions[4] == executions[5]
    assert executions[6] != executions[7]
    assert executions[8] != executions[9]
    assert len(set(executions[1:5] + executions[6:])) == 8
    column = (spans[1].attributes or {}).get(A.CODE_COLUMN)
    text = SOURCE.read_text().splitlines()[line("helper") - 1]
    assert column == text.index("llm_call(") + 1


def test_methods_name_the_line_in_the_traced_method(
    clients: None, exporter: InMemorySpanExporter
) -> None:
    agent.Agent().run("what changed this quarter")
    lines = [site(s)[2] for s in genai(exporter)]
    assert lines == [line("method"), line("method again")]
    assert {site(s)[1] for s in genai(exporter)} == {"tests.sdk.callsite_agent.Agent.run"}


def test_thread_pool_work_names_the_line_that_submitted_it(
    clients: None, exporter: InMemorySpanExporter
) -> None:
    agent.pooled(["first task to do", "second task to do"])
    sites = [site(s) for s in genai(exporter)]
    assert [s[2] for s in sites] == [line("submit")] * 2
    assert sites[0][1] == "tests.sdk.callsite_agent.pooled"
    assert sites[0][3] != sites[1][3]  # two submissions, two executions
    assert all((s.attributes or {}).get(A.CALLSITE_NEAREST) is None for s in genai(exporter))


def test_to_thread_names_the_awaiting_line(clients: None, exporter: InMemorySpanExporter) -> None:
    asyncio.run(agent.threaded("a topic to think about"))
    (span,) = genai(exporter)
    assert site(span)[1:3] == ("tests.sdk.callsite_agent.threaded", line("to_thread"))


def test_branches_and_fanouts_name_their_lines_and_map_branches_carry_nothing(
    clients: None, exporter: InMemorySpanExporter
) -> None:
    async def run() -> None:
        agent.aclient = anthropic.AsyncAnthropic(base_url=agent.url, api_key="test")
        try:
            await agent.research("the market")
        finally:
            await agent.aclient.close()

    asyncio.run(run())
    spans = exporter.get_finished_spans()
    lone = [s for s in spans if s.name == "summarize" and (s.attributes or {}).get(A.CODE_LINE)]
    assert [site(s)[1:3] for s in lone] == [
        ("tests.sdk.callsite_agent.research", line("lone call"))
    ]
    fanout = next(s for s in spans if s.name == "map summarize")
    assert site(fanout)[1:3] == ("tests.sdk.callsite_agent.research", line("map"))
    branches = [s for s in spans if s.parent and s.parent.span_id == fanout.context.span_id]
    assert [b for b in branches if (b.attributes or {}).get(A.ROLE) == A.ROLE_BRANCH]
    assert all(A.CODE_LINE not in (b.attributes or {}) for b in branches)
    inside = genai(exporter)
    assert len(inside) == 4
    assert {site(s)[1:4] for s in inside} == {
        ("tests.sdk.callsite_agent.summarize", line("in branch"), None)
    }


def test_a_parent_fanscope_did_not_make_gets_the_nearest_line_marked_so(
    clients: None, exporter: InMemorySpanExporter
) -> None:
    agent.untraced_root(trace.get_tracer("user"), "a topic")
    (span,) = genai(exporter)
    attrs = span.attributes or {}
    assert attrs.get(A.CALLSITE_NEAREST) is True
    assert attrs.get(A.CODE_FUNCTION) == "tests.sdk.callsite_agent.llm_call"


def test_a_step_lets_go_of_the_frames_it_numbered(
    clients: None, exporter: InMemorySpanExporter
) -> None:
    agent.process("a topic")
    step = next(s for s in exporter.get_finished_spans() if s.name == "process")
    assert not hasattr(step, "_fanscope_runs")


def test_paths_are_relative_to_the_project_or_to_their_sys_path_entry() -> None:
    assert callsite.relative_path(str(SOURCE)) == PATH
    assert callsite.relative_path(asyncio.__file__) == "asyncio/__init__.py"


def test_sync_parallel_calls_name_the_line_of_the_sync_step(
    clients: None, exporter: InMemorySpanExporter
) -> None:
    agent.sync_research("a topic to summarize")
    spans = exporter.get_finished_spans()
    lone = [s for s in spans if s.name == "sync_summary" and (s.attributes or {}).get(A.CODE_LINE)]
    assert [site(s)[1:4] for s in lone] == [
        ("tests.sdk.callsite_agent.sync_research", line("sync lone call"), None)
    ]
    fanout = next(s for s in spans if s.name == "map sync_summary")
    assert site(fanout)[1:3] == ("tests.sdk.callsite_agent.sync_research", line("sync map"))
    inside = {site(s)[1:4] for s in genai(exporter)}
    assert inside == {("tests.sdk.callsite_agent.sync_summary", line("in sync branch"), 0)}


@traced
async def _leaf(x: int) -> int:
    return x


@traced
async def _starts_tasks() -> int:
    both = await asyncio.gather(_leaf(1), _leaf(2))  # made: gather
    task = asyncio.create_task(_leaf(3))  # made: create_task
    return sum(both) + await task + await _leaf(4)  # made: awaited


def _made(marker: str) -> int:
    text = Path(__file__).read_text().splitlines()
    return 1 + next(i for i, t in enumerate(text) if t.endswith(f"# made: {marker}"))


def test_a_call_in_an_asyncio_task_names_the_line_that_made_the_task(
    exporter: InMemorySpanExporter,
) -> None:
    callsite.install_thread_hook()
    assert asyncio.run(_starts_tasks()) == 10
    leaves = [s for s in exporter.get_finished_spans() if s.name == "_leaf"]
    found = sorted(
        (site(s)[2], (s.attributes or {}).get(A.CALLSITE_STARTED), site(s)[3]) for s in leaves
    )
    gather, create, awaited = _made("gather"), _made("create_task"), _made("awaited")
    # one execution per call that made tasks (the gather's two share it); the awaited call
    # is the line's own, not started
    assert [f[:2] for f in found] == [
        (gather, True),
        (gather, True),
        (create, True),
        (awaited, None),
    ]
    assert found[0][2] == found[1][2] != found[2][2]
    assert all(site(s)[1] == f"{__name__}._starts_tasks" for s in leaves)
