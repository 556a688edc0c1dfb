"""Retries, streams, caching, tool use and failure modes, through the real anthropic client.

Every test talks HTTP to the stand-in on 127.0.0.1; both settings of the SDK's own telemetry
are covered where the behaviour could differ.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from fanscope import Retry
from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.integrations.anthropic import semconv as G
from fanscope.sdk import attributes as A
from fanscope.sdk.retry import default_retryable, retry_after_of
from fanscope.testing.anthropic_server import AnthropicStandIn

MODEL = "claude-haiku-5-5"
KEY = "sk-ant-secret-do-not-record"
ASK = [{"role": "user", "content": "Summarize the ACME quarter for the board in two lines"}]
BOTH = pytest.mark.parametrize(
    "sdk_telemetry", [True, False], ids=["sdk-spans-on", "sdk-spans-off"]
)


@pytest.fixture
def instrumented() -> Iterator[AnthropicInstrumentor]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


def genai(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if (s.attributes or {}).get(G.OPERATION_NAME)]


def options(on: bool) -> Any:
    return {"traces": {"enabled": on}}


# -- fanscope's Retry and the client's exceptions ------------------------------------------------


def raised(server: AnthropicStandIn, **client: Any) -> BaseException:
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0, **client) as c:
        try:
            c.messages.create(model=MODEL, max_tokens=5, messages=ASK)
        except anthropic.APIError as error:
            return error
    raise AssertionError("the call succeeded")


def test_retry_treats_the_clients_transient_errors_as_retryable_and_reads_their_wait() -> None:
    with AnthropicStandIn(rate_limit_share=1.0, retry_after=0.02) as limited:
        rate_limited = raised(limited)
    with AnthropicStandIn(overload_share=1.0, retry_after=0.03) as busy:
        overloaded = raised(busy)
    with AnthropicStandIn(server_error_share=1.0) as broken:
        server_error = raised(broken)
    with AnthropicStandIn(latency=1.0) as slow:
        timeout = raised(slow, timeout=0.05)
    with AnthropicStandIn() as gone:
        url = gone.url
    with (
        anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0) as c,
        pytest.raises(anthropic.APIConnectionError) as refused,
    ):
        c.messages.create(model=MODEL, max_tokens=5, messages=ASK)
    with (
        AnthropicStandIn(stream_error_share=1.0) as cut,
        anthropic.Anthropic(base_url=cut.url, api_key=KEY) as c,
    ):
        with pytest.raises(anthropic.APIStatusError) as mid_stream:
            for _ in c.messages.create(model=MODEL, max_tokens=50, messages=ASK, stream=True):
                pass
        with pytest.raises(anthropic.BadRequestError) as bad:
            c.messages.create(model=MODEL, max_tokens=0, messages=ASK)

    assert isinstance(rate_limited, anthropic.RateLimitError)
    assert isinstance(overloaded, anthropic.OverloadedError)
    assert isinstance(server_error, anthropic.InternalServerError)
    assert isinstance(timeout, anthropic.APITimeoutError)
    transient = [rate_limited, overloaded, server_error, timeout, refused.value, mid_stream.value]
    assert [type(e).__name__ for e in transient if not default_retryable(e)] == []
    assert not default_retryable(bad.value)
    assert retry_after_of(rate_limited) == 0.02 and retry_after_of(overloaded) == 0.03
    assert retry_after_of(server_error) is None
    policy = Retry(attempts=3, initial=0.001, max_wait=0.001)
    decided = policy.next_delay(1, rate_limited)
    assert decided is not None and decided[0] >= 0.02 and decided[1] == 0.02
    assert policy.next_delay(1, bad.value) is None


# -- the client's own retries, counted on the one GenAI span --------------------------------------


@BOTH
def test_the_clients_own_retries_are_counted_on_the_one_genai_span(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    calls = 12
    with (
        AnthropicStandIn(rate_limit_share=0.4, retry_after=0.01, seed=5) as server,
        anthropic.Anthropic(
            base_url=server.url, api_key=KEY, max_retries=8, open_telemetry=options(sdk_telemetry)
        ) as client,
    ):
        for i in range(calls):
            ask = [{"role": "user", "content": f"question {i}"}]
            client.messages.create(model=MODEL, max_tokens=20, messages=ask)
        rejected = server.stats.statuses[429]
    spans = genai(exporter)
    assert len(spans) == calls == len(exporter.get_finished_spans())
    assert rejected > 0
    resent = 0
    for span in spans:
        attrs = span.attributes or {}
        events = [e for e in span.events if e.name == G.EVENT_CLIENT_RETRY]
        assert attrs.get(G.RESEND_COUNT, 0) == len(events)
        assert [(e.attributes or {})[A.RETRY_ATTEMPT] for e in events] == list(
            range(1, len(events) + 1)
        )
        for event in events:
            e = event.attributes or {}
            assert e[G.HTTP_STATUS] == 429 and e[A.RETRY_AFTER] == 0.01
            assert e[A.RETRY_DELAY] >= 0.01
        resent += len(events)
        assert span.status.is_ok
    assert resent == rejected


async def test_async_client_retries_are_counted_too(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter
) -> None:
    with AnthropicStandIn(overload_share=0.5, retry_after=0.005, seed=2) as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=KEY, max_retries=10, open_telemetry=options(False)
        )
        await asyncio.gather(
            *(
                client.messages.create(
                    model=MODEL, max_tokens=20, messages=[{"role": "user", "content": f"q{i}"}]
                )
                for i in range(8)
            )
        )
        await client.close()
        rejected = server.stats.statuses[529]
    spans = genai(exporter)
    assert len(spans) == 8
    assert sum(int((s.attributes or {}).get(G.RESEND_COUNT, 0)) for s in spans) == rejected > 0


# -- streams closed early, cut short; cache tokens ------------------------------------------------


@BOTH
def test_a_stream_closed_before_its_end_ends_its_span(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    with (
        AnthropicStandIn(stream_chunk_delay=0.001) as server,
        anthropic.Anthropic(
            base_url=server.url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        ) as client,
    ):
        stream = client.messages.create(model=MODEL, max_tokens=100, messages=ASK, stream=True)
        for event in stream:
            if event.type == "content_block_delta":
                break
        stream.close()
        with client.messages.stream(model=MODEL, max_tokens=100, messages=ASK):
            pass  # entered and left without reading
    spans = genai(exporter)
    assert len(spans) == 2 == len(exporter.get_finished_spans())
    assert all(s.name == f"chat {MODEL}" for s in spans)
    first = spans[0].attributes or {}
    assert first[G.TIME_TO_FIRST_CHUNK] > 0


@BOTH
def test_a_stream_cut_by_an_overload_fails_its_span_with_the_api_error_type(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    with (
        AnthropicStandIn(stream_error_share=1.0) as server,
        anthropic.Anthropic(
            base_url=server.url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        ) as client,
        pytest.raises(anthropic.APIStatusError),
    ):
        for _ in client.messages.create(model=MODEL, max_tokens=100, messages=ASK, stream=True):
            pass
    (span,) = genai(exporter)
    assert not span.status.is_ok
    assert (span.attributes or {})[G.ERROR_TYPE] == "overloaded_error"


@BOTH
def test_cache_tokens_are_recorded_and_counted_in_the_input_tokens(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    system: Any = [
        {"type": "text", "text": "House style. " * 60, "cache_control": {"type": "ephemeral"}}
    ]
    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(
            base_url=server.url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        ) as client,
    ):
        usages = [
            client.messages.create(model=MODEL, max_tokens=50, system=system, messages=ASK).usage
        ]
        with client.messages.stream(
            model=MODEL, max_tokens=50, system=system, messages=ASK
        ) as stream:
            usages.append(stream.get_final_message().usage)
    spans = sorted(genai(exporter), key=lambda s: s.start_time or 0)
    assert len(spans) == 2
    for span, usage in zip(spans, usages, strict=True):
        attrs = span.attributes or {}
        written = usage.cache_creation_input_tokens or 0
        read = usage.cache_read_input_tokens or 0
        assert attrs[G.USAGE_CACHE_CREATION] == written
        assert attrs[G.USAGE_CACHE_READ] == read
        assert attrs[G.USAGE_INPUT_TOKENS] == usage.input_tokens + written + read
    assert usages[0].cache_creation_input_tokens and usages[1].cache_read_input_tokens


# -- one span, whoever else is around ---------------------------------------------------------


def test_a_call_whose_sdk_span_would_go_nowhere_gets_fanscopes_span(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter
) -> None:
    nowhere: Any = {"tracer_provider": NoOpTracerProvider()}
    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(base_url=server.url, api_key=KEY, open_telemetry=nowhere) as client,
    ):
        client.messages.create(model=MODEL, max_tokens=50, messages=ASK)
        for _ in client.messages.create(model=MODEL, max_tokens=50, messages=ASK, stream=True):
            pass
    spans = genai(exporter)
    assert [s.name for s in spans] == [f"chat {MODEL}"] * 2
    for span in spans:
        attrs = span.attributes or {}
        assert attrs[G.RESPONSE_FINISH_REASONS] == ("end_turn",) and attrs[A.DATAFLOW_INPUTS]


# -- the beta Messages API ------------------------------------------------------------------


@BOTH
def test_beta_messages_calls_get_one_genai_span_each(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    async def streamed(url: str) -> None:
        client = anthropic.AsyncAnthropic(
            base_url=url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        )
        async with client.beta.messages.stream(model=MODEL, max_tokens=50, messages=ASK) as stream:
            await stream.get_final_text()
        await client.close()

    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(
            base_url=server.url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        ) as client,
    ):
        client.beta.messages.create(model=MODEL, max_tokens=50, messages=ASK)
        asyncio.run(streamed(server.url))
    spans = genai(exporter)
    assert len(spans) == 2 == len(exporter.get_finished_spans())
    for span in spans:
        attrs = span.attributes or {}
        assert span.name == f"chat {MODEL}"
        assert attrs[G.RESPONSE_FINISH_REASONS] == ("end_turn",)
        assert attrs[A.DATAFLOW_INPUTS] and attrs[A.DATAFLOW_OUTPUTS]


def test_uninstrument_restores_every_patched_method() -> None:
    from fanscope.integrations.anthropic.instrumentor import _owner, _patches

    def current() -> list[Any]:
        found = []
        for module, path, _ in _patches():
            owner, name = _owner(module, path)
            found.append(inspect.getattr_static(owner, name))
        return found

    before = current()
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    assert all(hasattr(now, "__wrapped__") for now in current())
    instrumentor.uninstrument()
    assert current() == before


@BOTH
def test_a_stream_dropped_unread_still_ends_its_span(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    import gc

    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(
            base_url=server.url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        ) as client,
    ):
        stream = client.messages.create(model=MODEL, max_tokens=50, messages=ASK, stream=True)
        del stream
        gc.collect()
        assert [s.name for s in genai(exporter)] == [f"chat {MODEL}"]


@BOTH
def test_a_raw_response_call_records_the_message_it_read(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(
            base_url=server.url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        ) as client,
    ):
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=50, messages=ASK)
        message = raw.parse()
    (span,) = genai(exporter)
    attrs = span.attributes or {}
    assert attrs[G.RESPONSE_ID] == message.id
    assert attrs[G.RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert attrs[G.USAGE_OUTPUT_TOKENS] == message.usage.output_tokens
    assert attrs[A.DATAFLOW_OUTPUTS]


def test_with_no_global_provider_a_fanscope_capture_still_sees_each_call(tmp_path: Any) -> None:
    import subprocess
    import sys
    import textwrap

    # a fresh process: no global TracerProvider, the SDK's telemetry left on (its default)
    code = textwrap.dedent(
        f"""
        import asyncio, anthropic
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from fanscope import parallel
        from fanscope.integrations.anthropic import AnthropicInstrumentor
        from fanscope.sdk.tracing import capture
        from fanscope.testing.anthropic_server import AnthropicStandIn

        AnthropicInstrumentor().instrument()
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))

        async def main():
            with AnthropicStandIn() as server:
                client = anthropic.AsyncAnthropic(base_url=server.url, api_key={KEY!r})

                @parallel
                async def ask(q):
                    m = await client.messages.create(
                        model={MODEL!r}, max_tokens=20, messages=[{{"role": "user", "content": q}}]
                    )
                    return m.content[0].text

                await ask.map(["first", "second"])
                await client.close()

        with capture(provider):
            asyncio.run(main())
        spans = exporter.get_finished_spans()
        ids = {{s.context.span_id for s in spans if s.name == "ask"}}
        calls = [s for s in spans if s.name == "chat {MODEL}"]
        assert len(calls) == 2 and {{c.parent.span_id for c in calls}} == ids, spans
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# -- tool use: the data flow of an agent loop ---------------------------------------------------

TOOLS: Any = [
    {
        "name": "search_filings",
        "description": "Search regulatory filings",
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    }
]


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
@BOTH
def test_a_tool_call_and_its_result_link_the_loop_through_fingerprints(
    instrumented: AnthropicInstrumentor,
    exporter: InMemorySpanExporter,
    sdk_telemetry: bool,
    streamed: bool,
) -> None:
    from fanscope import traced

    @traced
    async def search_filings(query: str) -> str:
        return f"Three filings mention {query}: a 10-K, an 8-K and a proxy statement."

    async def loop(client: anthropic.AsyncAnthropic) -> str:
        ask: Any = [{"role": "user", "content": "Which ACME filings mention the new plant?"}]
        if streamed:
            async with client.messages.stream(
                model=MODEL, max_tokens=200, messages=ask, tools=TOOLS
            ) as stream:
                first = await stream.get_final_message()
        else:
            first = await client.messages.create(
                model=MODEL, max_tokens=200, messages=ask, tools=TOOLS
            )
        assert first.stop_reason == "tool_use"
        (use,) = [b for b in first.content if b.type == "tool_use"]
        found = await search_filings(**use.input)  # type: ignore[arg-type]
        follow_up: Any = [
            *ask,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": found}],
            },
        ]
        final = await client.messages.create(
            model=MODEL, max_tokens=200, messages=follow_up, tools=TOOLS
        )
        assert final.stop_reason == "end_turn"
        return final.content[0].text  # type: ignore[union-attr]

    async def run(url: str) -> None:
        client = anthropic.AsyncAnthropic(
            base_url=url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        )
        await loop(client)
        await client.close()

    with AnthropicStandIn() as server:
        asyncio.run(run(server.url))
    calls = sorted(genai(exporter), key=lambda s: s.start_time or 0)
    (step,) = [s for s in exporter.get_finished_spans() if s.name == "search_filings"]
    assert len(calls) == 2
    first, final = (dict(s.attributes or {}) for s in calls)
    tool = dict(step.attributes or {})
    assert first[G.RESPONSE_FINISH_REASONS] == ("tool_use",)
    # the model's tool input reached the tool step; the tool's result reached the next call
    assert set(first[A.DATAFLOW_OUTPUTS]) & set(tool[A.DATAFLOW_INPUTS])
    assert set(tool[A.DATAFLOW_OUTPUTS]) & set(final[A.DATAFLOW_INPUTS])


@BOTH
def test_messages_given_as_a_generator_still_reach_the_api_and_the_span(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    def history() -> Iterator[Any]:
        yield {"role": "user", "content": "Summarize the ACME quarter for the board"}

    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(
            base_url=server.url, api_key=KEY, open_telemetry=options(sdk_telemetry)
        ) as client,
    ):
        answer = client.messages.create(model=MODEL, max_tokens=50, messages=history())
        with client.messages.stream(model=MODEL, max_tokens=50, messages=history()) as stream:
            streamed = stream.get_final_text()
    assert answer.content[0].text.startswith("On Summarize the ACME")  # type: ignore[union-attr]
    assert streamed.startswith("On Summarize the ACME")
    assert all((s.attributes or {})[A.DATAFLOW_INPUTS] for s in genai(exporter))


async def test_a_cancelled_call_ends_its_span_without_an_error_status(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter
) -> None:
    import threading

    reached = threading.Event()

    def slow(model: str, rng: Any) -> float:
        reached.set()  # the request is at the server: cancel it while it waits
        return 2.0

    with AnthropicStandIn(latency=slow) as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.url, api_key=KEY, open_telemetry=options(False)
        )
        task = asyncio.ensure_future(
            client.messages.create(model=MODEL, max_tokens=50, messages=ASK)
        )
        assert await asyncio.to_thread(reached.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()
    (span,) = genai(exporter)
    assert span.status.status_code.name == "UNSET"
    assert G.ERROR_TYPE not in (span.attributes or {})


@BOTH
def test_timeouts_and_refused_connections_are_named_alike_in_both_settings(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    with AnthropicStandIn(latency=1.0) as slow:
        with (
            anthropic.Anthropic(
                base_url=slow.url, api_key=KEY, max_retries=0, timeout=0.05,
                open_telemetry=options(sdk_telemetry),
            ) as client,
            pytest.raises(anthropic.APITimeoutError),
        ):  # fmt: skip
            client.messages.create(model=MODEL, max_tokens=5, messages=ASK)
        url = slow.url
    with (
        anthropic.Anthropic(
            base_url=url, api_key=KEY, max_retries=0, open_telemetry=options(sdk_telemetry)
        ) as client,
        pytest.raises(anthropic.APIConnectionError),
    ):
        client.messages.create(model=MODEL, max_tokens=5, messages=ASK)
    spans = sorted(genai(exporter), key=lambda s: s.start_time or 0)
    kinds = [(s.attributes or {})[G.ERROR_TYPE] for s in spans]
    assert kinds == ["client_timeout_error", "connection_error"]
    assert all(not s.status.is_ok for s in spans)


def test_without_the_anthropic_extra_configure_says_what_to_install(tmp_path: Any) -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['opentelemetry.instrumentation'] = None\n"  # not installed
        "import fanscope\n"
        f"fanscope.configure(service_name='app', trace_file={str(tmp_path / 't.jsonl')!r})\n"
        "import anthropic\n"  # the instrumentation is installed when the app imports it
        "from fanscope.integrations.anthropic import AnthropicInstrumentor\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    hint = "pip install 'fanscope[anthropic]'"
    said = [line for line in lines if line.startswith("fanscope: the Anthropic instrumentation")]
    assert len(said) == 1 and hint in said[0], done.stderr
    assert lines[-1].startswith("ImportError: fanscope:") and hint in lines[-1]


async def test_a_capture_next_to_a_global_provider_gets_its_own_genai_span(
    instrumented: AnthropicInstrumentor, exporter: InMemorySpanExporter
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from fanscope import parallel
    from fanscope.sdk.tracing import capture

    captured = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(captured))
    with AnthropicStandIn() as server, capture(provider):
        # the SDK's telemetry on (its default), its spans going to the global provider
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key=KEY)

        @parallel
        async def ask(q: str) -> str:
            m = await client.messages.create(
                model=MODEL, max_tokens=20, messages=[{"role": "user", "content": q}]
            )
            return m.content[0].text  # type: ignore[union-attr]

        await ask.map(["first question", "second question"])
        await client.close()
    provider.shutdown()
    spans = captured.get_finished_spans()
    branches = {s.context.span_id for s in spans if s.name == "ask" and s.context}
    calls = [s for s in spans if s.name == f"chat {MODEL}"]
    assert len(calls) == 2 and {c.parent.span_id for c in calls if c.parent} == branches
    assert all((c.attributes or {})[G.RESPONSE_FINISH_REASONS] for c in calls)
    # the SDK's own spans went, as they are, to the global provider: one per call there too
    assert [s.name for s in exporter.get_finished_spans()] == ["anthropic.messages.create"] * 2
