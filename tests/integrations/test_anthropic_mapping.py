"""The call -> GenAI attributes and cost mapping on its own: plain dicts shaped as the API's JSON,
no ``anthropic`` package, no span."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fanscope.integrations.anthropic import semconv as G
from fanscope.integrations.anthropic.mapping import Call, refused
from fanscope.sdk import attributes as A
from fanscope.sdk import prices

MODEL = "claude-sonnet-4-5"
REQUEST = {"model": MODEL, "max_tokens": 300, "messages": [{"role": "user", "content": "Hi " * 40}]}


@pytest.fixture(autouse=True)
def no_user_prices() -> Iterator[None]:
    prices.set_prices(None)
    yield
    prices.set_prices(None)


def message(usage: dict[str, Any], text: str = "Hello there") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "model": MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": usage,
    }


def test_a_message_gives_the_conventions_usage_and_its_cost() -> None:
    call = Call(dict(REQUEST))
    usage = {
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100},
        "service_tier": "standard",
    }
    call.take_message(message(usage))
    attrs = call.response_attributes()
    assert attrs[G.USAGE_INPUT_TOKENS] == 1400  # every input token, cached included
    assert attrs[G.USAGE_CACHE_READ] == 1000
    expected = prices.cost(
        MODEL,
        prices.Usage(
            input_tokens=100,
            output_tokens=20,
            cache_read_tokens=1000,
            cache_write_5m_tokens=200,
            cache_write_1h_tokens=100,
        ),
    )
    assert attrs[A.COST_AMOUNT] == expected
    assert attrs[A.COST_CURRENCY] == "USD"
    assert attrs[A.COST_SOURCE] == "local"
    assert A.COST_ESTIMATED not in attrs and A.COST_UNKNOWN not in attrs
    # the 1-hour writes cost more than if they had all been 5-minute ones
    flat = prices.cost(
        MODEL,
        prices.Usage(
            input_tokens=100, output_tokens=20, cache_read_tokens=1000, cache_write_5m_tokens=300
        ),
    )
    assert attrs[A.COST_AMOUNT] > flat  # type: ignore[operator]


def test_the_priority_tier_is_unknown_not_billed_as_standard() -> None:
    call = Call(dict(REQUEST))
    call.take_message(message({"input_tokens": 10, "output_tokens": 5, "service_tier": "priority"}))
    attrs = call.response_attributes()
    assert A.COST_AMOUNT not in attrs
    assert attrs[A.COST_UNKNOWN] == A.COST_UNKNOWN_TIER
    assert call.charge().usd is None


def test_a_model_nobody_priced_is_unknown_with_its_tokens_still_counted() -> None:
    call = Call({**REQUEST, "model": "claude-from-the-future-9"})
    call.take_message({**message({"input_tokens": 10, "output_tokens": 5}), "model": None})
    charged = call.charge()
    assert (charged.usd, charged.unknown) == (None, A.COST_UNKNOWN_MODEL)
    assert (charged.input_tokens, charged.output_tokens) == (10, 5)


def stream_events(text: str) -> list[dict[str, Any]]:
    start = message({"input_tokens": 40, "output_tokens": 1}, text="")
    start["content"] = []
    words = [text[i : i + 8] for i in range(0, len(text), 8)]
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}
            for w in words
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 33},
        },
        {"type": "message_stop"},
    ]


def test_a_stream_shows_its_partial_usage_as_an_estimate_then_the_final_cost() -> None:
    call = Call({**REQUEST, "stream": True})
    events = stream_events("x" * 80)
    assert call.take_event(events[0])  # message_start: show the partial usage now
    partial = call.response_attributes()
    assert partial[A.COST_ESTIMATED] is True
    assert partial[A.COST_AMOUNT] == prices.cost(MODEL, prices.Usage(40, 1))
    for event in events[1:]:
        call.take_event(event)
    final = call.response_attributes()
    assert final[A.COST_AMOUNT] == prices.cost(MODEL, prices.Usage(40, 33))
    assert final[A.COST_ESTIMATED] is False  # replaces the estimate written before


def test_a_stream_cut_short_is_charged_its_input_and_the_output_it_sent() -> None:
    call = Call({**REQUEST, "stream": True})
    events = stream_events("y" * 80)
    for event in events[:6]:  # message_start, block start, four deltas of 8 characters
        call.take_event(event)
    charged = call.charge(TimeoutError())
    assert charged.estimated
    assert (charged.input_tokens, charged.output_tokens) == (40, 8)  # 32 characters / 4
    assert charged.usd == prices.cost(MODEL, prices.Usage(40, 8))


def test_a_call_cancelled_before_any_answer_is_estimated_from_its_prompt() -> None:
    call = Call(dict(REQUEST))
    charged = call.charge(TimeoutError())
    prompt = len("Hi " * 40)
    assert charged.estimated and charged.input_tokens == -(-prompt // 4)
    assert charged.output_tokens == 0 and charged.usd is not None and charged.usd > 0


class StatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status_code = status


def test_a_request_the_api_refused_costs_nothing_and_is_not_an_estimate() -> None:
    call = Call(dict(REQUEST))
    charged = call.charge(StatusError(429))
    assert (charged.usd, charged.estimated, charged.input_tokens) == (0.0, False, 0)
    assert refused(StatusError(529)) and not refused(StatusError(200)) and not refused(OSError())
    # a mid-stream error event arrives with status 200: the stream was cut, not refused
    assert call.charge(StatusError(200)).estimated


def test_tool_use_input_counts_as_output_of_a_cut_stream() -> None:
    call = Call({**REQUEST, "stream": True})
    call.take_event(stream_events("")[0])
    block = {"type": "tool_use", "id": "toolu_1", "name": "search"}
    call.take_event({"type": "content_block_start", "index": 0, "content_block": block})
    piece = {"type": "input_json_delta", "partial_json": '{"q": "abcdefgh"}'}
    call.take_event({"type": "content_block_delta", "index": 0, "delta": piece})
    call.take_event({"type": "content_block_stop", "index": 0})
    assert call.tool_calls == [{"id": "toolu_1", "name": "search", "input": {"q": "abcdefgh"}}]
    assert call.charge(TimeoutError()).output_tokens == 5  # 17 characters of JSON / 4


def test_web_searches_are_priced() -> None:
    call = Call(dict(REQUEST))
    usage = {"input_tokens": 10, "output_tokens": 5, "server_tool_use": {"web_search_requests": 2}}
    call.take_message(message(usage))
    plain = prices.cost(MODEL, prices.Usage(10, 5))
    assert call.charge().usd == pytest.approx(plain + 2 * 0.01)  # type: ignore[operator]


def test_the_mapping_needs_no_anthropic_package() -> None:
    """Pure: the mapping and its cost run where ``import anthropic`` fails."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['anthropic'] = None  # any import of it now fails\n"
        "from fanscope.integrations.anthropic.mapping import Call\n"
        f"call = Call({REQUEST!r})\n"
        f"call.take_message({message({'input_tokens': 10, 'output_tokens': 5})!r})\n"
        "print(sorted(k for k in call.response_attributes() if 'cost' in k))\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    assert "gen_ai.usage.cost.amount" in ran.stdout
