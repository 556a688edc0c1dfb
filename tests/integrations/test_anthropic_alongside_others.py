"""Next to another real Anthropic instrumentation: still one GenAI span per call.

``opentelemetry-instrumentation-anthropic`` (OpenLLMetry; a dev dependency for this test)
wraps the same ``Messages`` methods. Instrumented before fanscope, it sits inside our wrapper
and honours the "suppress instrumentation" key we set for the call. Instrumented after, it
sits outside, where nothing can silence it: fanscope warns once, naming it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope.integrations.anthropic import AnthropicInstrumentor, others
from fanscope.testing.anthropic_server import AnthropicStandIn

other = pytest.importorskip("opentelemetry.instrumentation.anthropic")

MODEL = "claude-haiku-5-5"
ASK: Any = [{"role": "user", "content": "Summarize the ACME quarter for the board"}]


def calls(client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=50, messages=ASK)
    for _ in client.messages.create(model=MODEL, max_tokens=50, messages=ASK, stream=True):
        pass
    with client.messages.stream(model=MODEL, max_tokens=50, messages=ASK) as stream:
        stream.get_final_text()


async def async_calls(client: anthropic.AsyncAnthropic) -> None:
    await client.messages.create(model=MODEL, max_tokens=50, messages=ASK)
    async with client.messages.stream(model=MODEL, max_tokens=50, messages=ASK) as stream:
        await stream.get_final_text()


@pytest.fixture
def theirs_then_ours() -> Iterator[None]:
    theirs, ours = other.AnthropicInstrumentor(), AnthropicInstrumentor()
    theirs.instrument()
    ours.instrument()
    try:
        yield
    finally:
        ours.uninstrument()
        theirs.uninstrument()


@pytest.mark.parametrize("sdk_telemetry", [True, False], ids=["sdk-spans-on", "sdk-spans-off"])
def test_an_instrumentation_inside_ours_adds_no_second_span(
    theirs_then_ours: None, exporter: InMemorySpanExporter, sdk_telemetry: bool
) -> None:
    options: Any = {"traces": {"enabled": sdk_telemetry}}

    async def run_async(url: str) -> None:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="k", open_telemetry=options)
        await async_calls(client)
        await client.close()

    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(base_url=server.url, api_key="k", open_telemetry=options) as client,
    ):
        calls(client)
        asyncio.run(run_async(server.url))
    assert [s.name for s in exporter.get_finished_spans()] == [f"chat {MODEL}"] * 5


def test_an_instrumentation_outside_ours_is_named_in_one_warning(
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(others, "_warned_outer", [])
    ours, theirs = AnthropicInstrumentor(), other.AnthropicInstrumentor()
    ours.instrument()
    theirs.instrument()  # after ours: outside it
    try:
        with (
            AnthropicStandIn() as server,
            anthropic.Anthropic(base_url=server.url, api_key="k") as client,
            caplog.at_level(logging.WARNING, logger="fanscope.integrations.anthropic"),
        ):
            calls(client)
    finally:
        theirs.uninstrument()
        ours.uninstrument()
    messages = [r.getMessage() for r in caplog.records]
    warnings = [m for m in messages if "another instrumentation" in m]
    assert len(warnings) == 1
    assert "(opentelemetry.instrumentation.anthropic." in warnings[0]
    assert "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=anthropic" in warnings[0]
