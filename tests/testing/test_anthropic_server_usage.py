"""The stand-in reports usage as the real API does, and counts what it billed, so that costs
are testable offline."""

from __future__ import annotations

import random
import time
from typing import Any

import anthropic
import pytest
from anthropic.types import RawMessageDeltaEvent, RawMessageStartEvent

from fanscope.testing import AnthropicStandIn, lognormal

MODEL = "claude-haiku-5-5"


def cached_system(ttl: str | None) -> list[Any]:
    mark: dict[str, str] = {"type": "ephemeral"}
    if ttl:
        mark["ttl"] = ttl
    return [{"type": "text", "text": "You are a careful analyst. " * 30, "cache_control": mark}]


def test_every_answer_reports_its_service_tier_and_cache_writes_by_lifetime() -> None:
    with AnthropicStandIn(service_tier="priority") as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
        ask = [{"role": "user", "content": "What changed this quarter?"}]
        hour = client.messages.create(
            model=MODEL, max_tokens=50, system=cached_system("1h"), messages=ask
        )
        assert hour.usage.service_tier == "priority"
        written = hour.usage.cache_creation_input_tokens
        assert written and hour.usage.cache_creation is not None
        assert hour.usage.cache_creation.ephemeral_1h_input_tokens == written
        assert hour.usage.cache_creation.ephemeral_5m_input_tokens == 0
        again = client.messages.create(
            model=MODEL, max_tokens=50, system=cached_system("1h"), messages=ask
        )
        assert again.usage.cache_read_input_tokens == written
        five = client.messages.create(
            model="claude-opus-5", max_tokens=50, system=cached_system(None), messages=ask
        )
        assert five.usage.cache_creation is not None
        five_written = five.usage.cache_creation_input_tokens
        assert five.usage.cache_creation.ephemeral_5m_input_tokens == five_written
        standard = client.messages.create(
            model=MODEL, max_tokens=50, messages=ask, service_tier="standard_only"
        )
        assert standard.usage.service_tier == "standard"


def test_a_stream_repeats_its_usage_final_and_cumulative_in_message_delta() -> None:
    with AnthropicStandIn() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
        events = list(
            client.messages.create(
                model=MODEL,
                max_tokens=100,
                stream=True,
                system=cached_system(None),
                messages=[{"role": "user", "content": "Summarise the filing"}],
            )
        )
    start = next(e for e in events if isinstance(e, RawMessageStartEvent)).message.usage
    delta = next(e for e in events if isinstance(e, RawMessageDeltaEvent)).usage
    assert start.output_tokens == 1
    assert delta.input_tokens == start.input_tokens
    assert delta.cache_creation_input_tokens == start.cache_creation_input_tokens
    assert delta.output_tokens > 1
    assert start.service_tier == "standard"


def test_a_stream_stopped_early_bills_what_it_sent_and_a_whole_one_everything() -> None:
    with AnthropicStandIn(stream_chunk_delay=0.01) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
        ask = [{"role": "user", "content": "Write at length about storage " * 3}]
        whole = client.messages.create(model=MODEL, max_tokens=200, messages=ask)
        billed_whole = server.stats.output_tokens
        assert billed_whole == whole.usage.output_tokens
        assert server.stats.input_tokens == whole.usage.input_tokens
        with client.messages.stream(model=MODEL, max_tokens=200, messages=ask) as stream:
            for event in stream:
                if event.type == "content_block_delta":
                    break  # the application stops reading: the connection is dropped
        # the server notices on its next write; wait for it to bill
        for _ in range(200):
            if server.stats.in_flight == 0:
                break
            time.sleep(0.01)
        cut = server.stats.output_tokens - billed_whole
        assert 1 <= cut < whole.usage.output_tokens


def test_a_stream_cut_by_an_error_event_reports_only_its_start_usage() -> None:
    with AnthropicStandIn(stream_error_share=1.0) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
        seen: list[Any] = []
        with pytest.raises(anthropic.APIStatusError):
            for event in client.messages.create(
                model=MODEL,
                max_tokens=100,
                stream=True,
                messages=[{"role": "user", "content": "Go"}],
            ):
                seen.append(event)
        assert [e.type for e in seen if "message" in e.type] == ["message_start"]
        assert server.stats.output_tokens < 10


def test_lognormal_slow_share_makes_that_share_of_answers_slow() -> None:
    draw = lognormal(0.1, 0.3, slow_share=0.02, slow_factor=30)
    rng = random.Random(7)
    latencies = [draw(MODEL, rng) for _ in range(20_000)]
    slow = sum(1 for x in latencies if x > 1.0)  # log-normal alone almost never reaches 10x
    assert 0.015 < slow / len(latencies) < 0.025
    with pytest.raises(ValueError, match="slow_share"):
        lognormal(0.1, slow_share=2)
