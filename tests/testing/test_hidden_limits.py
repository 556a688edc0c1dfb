"""The stand-in's hidden limits per API key, through the real anthropic client over HTTP."""

from __future__ import annotations

import threading
from datetime import datetime

import anthropic
import pytest

from fanscope.testing.anthropic_server import AnthropicStandIn
from fanscope.testing.provider import HiddenLimits, Provider

MODEL = "claude-haiku-5-5"
ASK = [{"role": "user", "content": "Summarize ACME's quarter"}]
PREFIX = "anthropic-ratelimit-"


def _client(server: AnthropicStandIn, key: str = "key-a") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0)


def test_every_answer_carries_the_rate_limit_headers_the_api_sends() -> None:
    limits = HiddenLimits(
        requests_per_minute=50, input_tokens_per_minute=10_000, output_tokens_per_minute=2_000
    )
    with AnthropicStandIn(limits=limits) as server, _client(server) as client:
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=ASK)
        message = raw.parse()
        h = raw.headers
        assert h[PREFIX + "requests-limit"] == "50" and h[PREFIX + "requests-remaining"] == "49"
        assert h[PREFIX + "input-tokens-limit"] == "10000"
        used_in = message.usage.input_tokens
        assert int(h[PREFIX + "input-tokens-remaining"]) in (10_000 - used_in, 10_000 - used_in + 1)
        # output tokens: taken at max_tokens, the unused part given back at the end
        left = int(h[PREFIX + "output-tokens-remaining"])
        assert (
            2_000 - message.usage.output_tokens - 1 <= left <= 2_000 - message.usage.output_tokens
        )
        # tokens-*: the most restrictive of the two token buckets now (output: 2,000 per minute)
        assert h[PREFIX + "tokens-limit"] == "2000"
        for name in ("requests", "input-tokens", "output-tokens", "tokens"):
            reset = datetime.fromisoformat(h[PREFIX + name + "-reset"].replace("Z", "+00:00"))
            assert reset.tzinfo is not None  # RFC 3339, UTC
        assert "retry-after" not in h


def test_a_request_over_the_limit_gets_429_with_retry_after_and_no_work_done() -> None:
    limits = HiddenLimits(requests_per_minute=3)
    with AnthropicStandIn(limits=limits, latency=0.0) as server, _client(server) as client:
        for _ in range(3):
            client.messages.create(model=MODEL, max_tokens=50, messages=ASK)
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.create(model=MODEL, max_tokens=50, messages=ASK)
        response = caught.value.response
        assert response.headers[PREFIX + "requests-remaining"] == "0"
        # 3 per minute refill one request every 20 s: the API says so in whole seconds
        assert 1 <= int(response.headers["retry-after"]) <= 20
        assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
        assert server.provider is not None
        assert server.provider.key_state("key-a").admitted == 3
        assert server.stats.statuses == {200: 3, 429: 1}


def test_limits_are_per_api_key_and_the_key_is_not_stored() -> None:
    limits = HiddenLimits(requests_per_minute=1)
    with AnthropicStandIn(limits=limits) as server:
        with _client(server, "key-a") as a, _client(server, "key-b") as b:
            a.messages.create(model=MODEL, max_tokens=50, messages=ASK)
            b.messages.create(model=MODEL, max_tokens=50, messages=ASK)  # its own bucket
            with pytest.raises(anthropic.RateLimitError):
                a.messages.create(model=MODEL, max_tokens=50, messages=ASK)
        assert server.provider is not None
        assert all("key-" not in k for k in server.provider._keys)


def test_output_tokens_are_taken_at_max_tokens_up_front() -> None:
    # 1,000 output tokens per minute: one request asking for 800 fits, a second one does not
    # until the first gives back what it did not use
    limits = HiddenLimits(output_tokens_per_minute=1_000)
    with AnthropicStandIn(limits=limits, latency=0.3) as server, _client(server) as client:
        errors: list[BaseException] = []

        def slow() -> None:
            try:
                client.messages.create(model=MODEL, max_tokens=800, messages=ASK)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        first = threading.Thread(target=slow)
        first.start()
        while server.stats.in_flight == 0:
            threading.Event().wait(0.005)
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(model=MODEL, max_tokens=800, messages=ASK)
        first.join()
        assert not errors
        client.messages.create(model=MODEL, max_tokens=800, messages=ASK)  # fits again


def test_concurrency_past_the_limit_is_refused_and_latency_grows_past_the_knee() -> None:
    now = [0.0]
    provider = Provider(HiddenLimits(max_concurrency=4, knee=2), clock=lambda: now[0])
    factors = [provider.admit("k", 10, 10) for _ in range(5)]
    assert [a.ok for a in factors] == [True, True, True, True, False]
    assert [a.latency_factor for a in factors[:4]] == [1.0, 1.0, 1.5, 2.0]
    assert factors[4].reason == "concurrency" and factors[4].retry_after > 0
    provider.finish("k", max_tokens=10, output_tokens=5, input_tokens=10)
    assert provider.admit("k", 10, 10).ok
    assert provider.key_state("k").peak == 4


def test_buckets_refill_continuously_not_at_the_top_of_the_minute() -> None:
    now = [100.0]
    provider = Provider(HiddenLimits(requests_per_minute=60), clock=lambda: now[0])
    assert all(provider.admit("k", 1, 1).ok for _ in range(60))
    refused = provider.admit("k", 1, 1)
    assert not refused.ok and refused.reason == "requests"
    assert refused.retry_after == pytest.approx(1.0)
    now[0] += 1.0  # one request per second comes back
    assert provider.admit("k", 1, 1).ok
    assert not provider.admit("k", 1, 1).ok


def test_a_request_larger_than_a_whole_minute_never_fits() -> None:
    provider = Provider(HiddenLimits(input_tokens_per_minute=100), clock=lambda: 0.0)
    refused = provider.admit("k", 101, 1)
    assert not refused.ok and refused.reason == "input-tokens"
    assert refused.headers["retry-after"]  # the API still says when to come back


def test_the_provider_counts_what_clients_sent_at_once_and_which_limit_refused() -> None:
    now = [0.0]
    provider = Provider(
        HiddenLimits(max_concurrency=2, requests_per_minute=60), clock=lambda: now[0]
    )
    assert [provider.admit("k", 10, 10).ok for _ in range(3)] == [True, True, False]
    state = provider.key_state("k")
    # admitted: never past the limit; asked: the third arrived while two were in flight
    assert (state.peak, state.peak_asked) == (2, 3)
    assert state.refused_by == {"concurrency": 1}
    for _ in range(2):
        provider.finish("k", max_tokens=10, output_tokens=5, input_tokens=10)
    provider.drain("k")  # the key's minute already spent: only the refill is left
    refused = provider.admit("k", 10, 10)
    assert not refused.ok and refused.reason == "requests"
    assert refused.retry_after == pytest.approx(1.0)
    assert refused.headers[PREFIX + "requests-remaining"] == "0"
    now[0] += 1.0
    assert provider.admit("k", 10, 10).ok
    assert state.refused_by == {"concurrency": 1, "requests": 1}
    assert state.peak_asked == 3
