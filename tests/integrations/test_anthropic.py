"""The Anthropic instrumentation, through the real client talking HTTP to the stand-in."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Retry, parallel
from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.integrations.anthropic import semconv as G
from fanscope.sdk import attributes as A
from fanscope.testing.anthropic_server import AnthropicStandIn

MODEL = "claude-haiku-5-5"
KEY = "sk-ant-secret-do-not-record"
ASK = [{"role": "user", "content": "Summarize the ACME quarter for the board in two lines"}]


@pytest.fixture
def instrumented() -> Iterator[AnthropicInstrumentor]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


@pytest.fixture(scope="module")
def server() -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn() as stand_in:
        yield stand_in


def genai(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if (s.attributes or {}).get(G.OPERATION_NAME)]


def calls_sync(client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=100, messages=ASK)
    for _ in client.messages.create(model=MODEL, max_tokens=100, messages=ASK, stream=True):
        pass
    with client.messages.stream(model=MODEL, max_tokens=100, messages=ASK) as stream:
        stream.get_final_text()


async def calls_async(client: anthropic.AsyncAnthropic) -> None:
    await client.messages.create(model=MODEL, max_tokens=100, messages=ASK)
    async for _ in await client.messages.create(
        model=MODEL, max_tokens=100, messages=ASK, stream=True
    ):
        pass
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=ASK) as stream:
        await stream.get_final_text()


@pytest.mark.parametrize("sdk_telemetry", [True, False], ids=["sdk-spans-on", "sdk-spans-off"])
def test_exactly_one_genai_span_per_call_with_our_additions(
    instrumented: AnthropicInstrumentor,
    server: AnthropicStandIn,
    exporter: InMemorySpanExporter,
    sdk_telemetry: bool,
) -> None:
    options: Any = {"traces": {"enabled": sdk_telemetry}}
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, open_telemetry=options) as client:
        calls_sync(client)

    async def run_async() -> None:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key=KEY, open_telemetry=options)
        await calls_async(client)
        await client.close()

    asyncio.run(run_async())
    spans = genai(exporter)
    assert len(spans) == 6 == len(exporter.get_finished_spans())
    for span in spans:
        attrs = span.attributes or {}
        assert span.name == f"chat {MODEL}"
        assert attrs[G.PROVIDER_NAME] == "anthropic"
        assert attrs[G.REQUEST_MODEL] == MODEL and attrs[G.RESPONSE_MODEL] == MODEL
        assert attrs[G.REQUEST_MAX_TOKENS] == 100
        assert str(attrs[G.RESPONSE_ID]).startswith("msg_")
        assert attrs[G.RESPONSE_FINISH_REASONS] == ("end_turn",)
        assert int(attrs[G.USAGE_INPUT_TOKENS]) > 0 and int(attrs[G.USAGE_OUTPUT_TOKENS]) > 0
        assert attrs[A.DATAFLOW_INPUTS] and attrs[A.DATAFLOW_OUTPUTS]
    streamed = [s for s in spans if (s.attributes or {}).get(G.REQUEST_STREAM)]
    assert len(streamed) == 4
    for span in streamed:
        attrs = span.attributes or {}
        assert attrs.get(G.TIME_TO_FIRST_TOKEN, attrs.get("gen_ai.response.time_to_first_chunk"))
    # the same prompt answers the same text: every call's output prints are the same
    assert len({(s.attributes or {})[A.DATAFLOW_OUTPUTS] for s in spans}) == 1


def test_a_later_prompt_that_pastes_an_answer_is_seen_as_dependent(
    instrumented: AnthropicInstrumentor, server: AnthropicStandIn, exporter: InMemorySpanExporter
) -> None:
    with anthropic.Anthropic(base_url=server.url, api_key=KEY) as client:
        first = client.messages.create(model=MODEL, max_tokens=100, messages=ASK)
        answer = first.content[0].text  # type: ignore[union-attr]
        prompt = f"Here is a draft from our analyst team.\n\n{answer}\n\nTighten it for the board."
        client.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": prompt}]
        )
    earlier, later = sorted(genai(exporter), key=lambda s: s.start_time or 0)
    outputs = set((earlier.attributes or {})[A.DATAFLOW_OUTPUTS])
    assert outputs & set((later.attributes or {})[A.DATAFLOW_INPUTS])


@pytest.mark.parametrize("sdk_telemetry", [True, False], ids=["sdk-spans-on", "sdk-spans-off"])
def test_errors_set_the_error_type_and_http_status(
    instrumented: AnthropicInstrumentor,
    server: AnthropicStandIn,
    exporter: InMemorySpanExporter,
    sdk_telemetry: bool,
) -> None:
    options: Any = {"traces": {"enabled": sdk_telemetry}}
    with (
        anthropic.Anthropic(base_url=server.url, api_key=KEY, open_telemetry=options) as client,
        pytest.raises(anthropic.BadRequestError),
    ):
        client.messages.create(model=MODEL, max_tokens=0, messages=ASK)
    (span,) = genai(exporter)
    attrs = span.attributes or {}
    assert attrs[G.HTTP_STATUS] == 400
    assert attrs[G.ERROR_TYPE] == "invalid_request_error"  # the API's own error type
    assert span.status.is_ok is False


def test_content_is_off_by_default_on_when_asked_and_keys_never_recorded(
    server: AnthropicStandIn, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(**instrument: Any) -> dict[str, Any]:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(**instrument)
        try:
            with anthropic.Anthropic(base_url=server.url, api_key=KEY) as client:
                client.messages.create(model=MODEL, max_tokens=100, messages=ASK)
        finally:
            instrumentor.uninstrument()
        (span,) = genai(exporter)
        exporter.clear()
        everything = [*(span.attributes or {}).items()]
        assert KEY not in repr(everything) and KEY not in repr(span.events)
        return dict(span.attributes or {})

    assert G.INPUT_MESSAGES not in run() and G.OUTPUT_MESSAGES not in run()
    monkeypatch.setenv(G.CAPTURE_ENV, "true")
    with_env = run()
    assert "ACME quarter" in str(with_env[G.INPUT_MESSAGES])
    assert "On Summarize" in str(with_env[G.OUTPUT_MESSAGES])
    monkeypatch.delenv(G.CAPTURE_ENV)
    assert G.INPUT_MESSAGES in run(capture_content=True)
    assert G.INPUT_MESSAGES not in run(capture_content=False)


def test_uninstrument_restores_the_methods_and_both_are_idempotent() -> None:
    from anthropic.resources.messages.messages import AsyncMessages, Messages

    before = (Messages.create, AsyncMessages.create, Messages.stream)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    instrumentor.instrument()
    assert Messages.create is not before[0]
    assert hasattr(Messages.create, "__wrapped__")
    instrumentor.uninstrument()
    instrumentor.uninstrument()
    assert (Messages.create, AsyncMessages.create, Messages.stream) == before


async def test_the_genai_span_is_a_child_of_the_fanscope_branch(
    instrumented: AnthropicInstrumentor, server: AnthropicStandIn, exporter: InMemorySpanExporter
) -> None:
    client = anthropic.AsyncAnthropic(base_url=server.url, api_key=KEY)

    @parallel(max_concurrency=2)
    async def summarize(doc: str) -> str:
        message = await client.messages.create(
            model=MODEL, max_tokens=50, messages=[{"role": "user", "content": doc}]
        )
        return message.content[0].text  # type: ignore[union-attr]

    await summarize.map(["first document text", "second document text", "third one"])
    await client.close()
    branches = {
        s.context.span_id
        for s in exporter.get_finished_spans()
        if s.name == "summarize" and s.context
    }
    calls = genai(exporter)
    assert len(calls) == 3
    assert {c.parent.span_id for c in calls if c.parent} == branches


async def test_a_rate_limit_storm_is_ridden_out_within_the_cap_and_the_retry_after(
    exporter: InMemorySpanExporter,
) -> None:
    cap, attempts, retry_after = 16, 12, 0.005
    with AnthropicStandIn(
        rate_limit_share=0.3, retry_after=retry_after, seed=3, record=True
    ) as storm:
        # the client's own retries off: fanscope's Retry sees every 429 and paces the rest
        client = anthropic.AsyncAnthropic(base_url=storm.url, api_key=KEY, max_retries=0)

        @parallel(max_concurrency=cap, retry=Retry(attempts=attempts, initial=0.001, max_wait=0.01))
        async def ask(i: int) -> str:
            message = await client.messages.create(
                model=MODEL, max_tokens=20, messages=[{"role": "user", "content": f"item {i}"}]
            )
            return message.content[0].text  # type: ignore[union-attr]

        results = await ask.map(range(1000))
        await client.close()
        stats = storm.stats
    assert [r.split(":")[0] for r in results] == [f"On item {i}" for i in range(1000)]
    assert stats.peak_concurrency <= cap
    # seen from the server: every item ends answered, within the bound, and no retry came
    # back sooner than the retry-after its 429 asked for
    by_item: dict[str, list[Any]] = {}
    for answer in stats.answers:
        by_item.setdefault(answer.prompt, []).append(answer)
    assert len(by_item) == 1000
    for answers in by_item.values():
        answers.sort(key=lambda a: a.arrived)
        assert [a.status for a in answers] == [429] * (len(answers) - 1) + [200]
        assert len(answers) <= attempts
        for failed, retried in itertools.pairwise(answers):
            assert retried.arrived - failed.answered >= retry_after
    assert stats.statuses.get(429, 0) > 100  # the storm happened
    assert stats.requests == 1000 + stats.statuses[429] <= 1000 * attempts
    retries = [
        e
        for s in exporter.get_finished_spans()
        if s.name == "ask"
        for e in s.events
        if e.name == A.EVENT_RETRY
    ]
    assert len(retries) == stats.statuses[429]
    for event in retries:
        attrs = event.attributes or {}
        assert attrs[A.RETRY_AFTER] == retry_after
        assert attrs[A.RETRY_DELAY] >= retry_after
        assert attrs[A.ERROR_TYPE] == "anthropic.RateLimitError"


def test_the_instrumentor_is_registered_under_its_own_entry_point_name() -> None:
    from importlib.metadata import entry_points

    found = [
        e
        for e in entry_points(group="opentelemetry_instrumentor")
        if e.name == "fanscope_anthropic"
    ]
    assert len(found) == 1
    assert found[0].load() is AnthropicInstrumentor
    assert list(AnthropicInstrumentor().instrumentation_dependencies()) == ["anthropic >= 1.14"]


def test_configure_turns_the_instrumentation_on_in_an_application(tmp_path: Any) -> None:
    import json
    import subprocess
    import sys
    import textwrap

    out = tmp_path / "app.jsonl"
    with AnthropicStandIn() as stand_in:
        code = textwrap.dedent(
            f"""
            import anthropic, fanscope
            fanscope.configure(service_name="app", trace_file={str(out)!r}, capture_content=True)
            client = anthropic.Anthropic(base_url={stand_in.url!r}, api_key={KEY!r})
            client.messages.create(model={MODEL!r}, max_tokens=50, messages={ASK!r})
            """
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert KEY not in text
    spans = [
        s
        for line in text.splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    ]
    (span,) = spans
    assert span["name"] == f"chat {MODEL}"
    keys = {a["key"] for a in span["attributes"]}
    assert {G.INPUT_MESSAGES, G.RESPONSE_FINISH_REASONS, A.DATAFLOW_INPUTS} <= keys


def test_the_stand_in_fixture_of_the_pytest_plugin(anthropic_stand_in: AnthropicStandIn) -> None:
    with anthropic.Anthropic(base_url=anthropic_stand_in.url, api_key=KEY) as client:
        client.messages.create(model=MODEL, max_tokens=10, messages=ASK)
    assert anthropic_stand_in.stats.requests == 1
