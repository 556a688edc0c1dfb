"""The stand-in for the Messages API, through the real anthropic client over HTTP."""

from __future__ import annotations

import json
import urllib.request

import anthropic
import pytest

from fanscope.testing.anthropic_server import AnthropicStandIn, lognormal

MODEL = "claude-haiku-5-5"
ASK = [{"role": "user", "content": "Summarize ACME's quarter"}]


def test_answers_are_deterministic_and_count_tokens() -> None:
    with AnthropicStandIn() as server, anthropic.Anthropic(base_url=server.url, api_key="k") as c:
        first = c.messages.create(model=MODEL, max_tokens=200, messages=ASK)
        again = c.messages.create(model=MODEL, max_tokens=200, messages=ASK)
        other = c.messages.create(
            model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "Other"}]
        )
        assert first.content[0].text == again.content[0].text != other.content[0].text  # type: ignore[union-attr]
        assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
        assert first.stop_reason == "end_turn" and first.id.startswith("msg_")
        assert server.stats.requests == 3 and server.stats.statuses == {200: 3}


def test_streaming_sends_the_real_event_sequence() -> None:
    with AnthropicStandIn() as server, anthropic.Anthropic(base_url=server.url, api_key="k") as c:
        events = [
            e.type
            for e in c.messages.create(model=MODEL, max_tokens=200, messages=ASK, stream=True)
        ]
        assert events[:3] == ["message_start", "content_block_start", "content_block_delta"]
        assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
        with c.messages.stream(model=MODEL, max_tokens=200, messages=ASK) as stream:
            text = stream.get_final_text()
        assert text == c.messages.create(model=MODEL, max_tokens=200, messages=ASK).content[0].text  # type: ignore[union-attr]
        assert server.stats.streams == 2


def test_bad_requests_get_the_api_error_shape() -> None:
    with AnthropicStandIn() as server, anthropic.Anthropic(base_url=server.url, api_key="k") as c:
        with pytest.raises(anthropic.BadRequestError) as info:
            c.messages.create(model=MODEL, max_tokens=0, messages=ASK)
        assert info.value.body == {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "max_tokens: Input should be greater than or equal to 1",
            },
        }
        with pytest.raises(anthropic.BadRequestError, match="first message must use the"):
            c.messages.create(
                model=MODEL, max_tokens=5, messages=[{"role": "assistant", "content": "hi"}]
            )


def test_rate_limits_and_overload_carry_retry_after_headers() -> None:
    with (
        AnthropicStandIn(rate_limit_share=1.0, retry_after=2.5) as limited,
        anthropic.Anthropic(base_url=limited.url, api_key="k", max_retries=0) as c,
    ):
        with pytest.raises(anthropic.RateLimitError) as info:
            c.messages.create(model=MODEL, max_tokens=5, messages=ASK)
        assert info.value.response.headers["retry-after-ms"] == "2500"
        assert info.value.response.headers["retry-after"] == "3"
    with (
        AnthropicStandIn(overload_share=1.0) as overloaded,
        anthropic.Anthropic(base_url=overloaded.url, api_key="k", max_retries=0) as c,
        pytest.raises(anthropic.OverloadedError),
    ):
        c.messages.create(model=MODEL, max_tokens=5, messages=ASK)


def test_the_api_key_is_required_and_stats_are_served() -> None:
    with AnthropicStandIn() as server:
        request = urllib.request.Request(
            f"{server.url}/v1/messages", data=b"{}", method="POST",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 401
        info.value.close()
        with urllib.request.urlopen(f"{server.url}/_stats", timeout=5) as answer:
            stats = json.load(answer)
        # a request refused for its missing key never reaches the counters
        assert stats["requests"] == 0 and stats["statuses"] == {}


def test_seeded_latency_is_long_tailed_and_reproducible() -> None:
    import random

    draw = lognormal(0.1, sigma=0.8)
    a = [draw("m", random.Random(1)) for _ in range(1)]
    b = [draw("m", random.Random(1)) for _ in range(1)]
    assert a == b
    rng = random.Random(7)
    values = sorted(draw("m", rng) for _ in range(2000))
    median, p99 = values[1000], values[1980]
    assert 0.08 < median < 0.12 and p99 > 4 * median


def test_shares_out_of_range_are_rejected() -> None:
    with pytest.raises(ValueError, match="rate_limit_share must be between 0 and 1"):
        AnthropicStandIn(rate_limit_share=1.5)


async def test_a_client_that_hangs_up_is_normal_for_the_server(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import asyncio

    with AnthropicStandIn(latency=0.2) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
        call = asyncio.ensure_future(
            client.messages.create(model=MODEL, max_tokens=5, messages=ASK)
        )
        while server.stats.in_flight == 0:  # noqa: ASYNC110 - the server runs in a thread
            await asyncio.sleep(0.005)
        call.cancel()  # as a decided vote cancels a voter
        with pytest.raises(asyncio.CancelledError):
            await call
        answer = await client.messages.create(model=MODEL, max_tokens=5, messages=ASK)
        assert answer.content
        await client.close()
        while server.stats.in_flight:  # noqa: ASYNC110 - the server runs in a thread
            await asyncio.sleep(0.005)
    assert "Traceback" not in capfd.readouterr().err
