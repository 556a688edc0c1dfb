"""The stand-in's server errors, mid-stream errors and prompt caching, through the real client."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest

from fanscope.testing.anthropic_server import AnthropicStandIn

MODEL = "claude-haiku-5-5"
ASK = [{"role": "user", "content": "Summarize ACME's quarter"}]
POLICY = "Our style guide for board briefs. " * 40


def test_server_errors_are_500_api_errors_the_client_retries() -> None:
    with (
        AnthropicStandIn(server_error_share=1.0) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=1) as client,
        pytest.raises(anthropic.InternalServerError) as info,
    ):
        client.messages.create(model=MODEL, max_tokens=5, messages=ASK)
    assert info.value.status_code == 500 and info.value.type == "api_error"
    assert server.stats.requests == 2 == server.stats.statuses[500]


def test_a_stream_cut_by_an_overload_raises_status_200_with_the_error_type() -> None:
    with (
        AnthropicStandIn(stream_error_share=1.0) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k") as client,
    ):
        seen: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as info:
            for event in client.messages.create(
                model=MODEL, max_tokens=100, messages=ASK, stream=True
            ):
                seen.append(event.type)
        assert info.value.status_code == 200 and info.value.type == "overloaded_error"
        assert seen[0] == "message_start" and "message_stop" not in seen
        # an answer that does not stream is not cut
        assert client.messages.create(model=MODEL, max_tokens=100, messages=ASK).content


def test_a_cached_prefix_is_written_once_then_read() -> None:
    system: Any = [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}]
    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(base_url=server.url, api_key="k") as client,
    ):
        first = client.messages.create(model=MODEL, max_tokens=50, system=system, messages=ASK)
        again = client.messages.create(model=MODEL, max_tokens=50, system=system, messages=ASK)
        plain = client.messages.create(model=MODEL, max_tokens=50, system=POLICY, messages=ASK)
    written = first.usage.cache_creation_input_tokens
    assert written and written > first.usage.input_tokens > 0
    assert first.usage.cache_read_input_tokens == 0
    assert again.usage.cache_read_input_tokens == written
    assert again.usage.cache_creation_input_tokens == 0
    assert again.usage.input_tokens == first.usage.input_tokens
    assert plain.usage.cache_read_input_tokens == plain.usage.cache_creation_input_tokens == 0
    assert plain.usage.input_tokens > written


def test_a_burst_of_new_connections_is_not_refused() -> None:
    async def burst() -> None:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
        await asyncio.gather(
            *(client.messages.create(model=MODEL, max_tokens=5, messages=ASK) for _ in range(64))
        )
        await client.close()

    with AnthropicStandIn(latency=0.05) as server:
        asyncio.run(burst())
    assert server.stats.statuses == {200: 64}
    assert server.stats.peak_concurrency > 16


def test_error_shares_above_one_in_all_are_rejected() -> None:
    with pytest.raises(ValueError, match="must be at most 1"):
        AnthropicStandIn(rate_limit_share=0.6, server_error_share=0.6)
