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


def test_latency_can_be_a_seeded_distribution_per_model() -> None:
    from fanscope.testing.anthropic_server import lognormal

    spec: Any = {"claude-opus-5": lognormal(0.2, sigma=0.5), "*": 0.0}
    with AnthropicStandIn(latency=spec, seed=4) as a, AnthropicStandIn(latency=spec, seed=4) as b:
        first = [a._draw("claude-opus-5")[0] for _ in range(5)]
        again = [b._draw("claude-opus-5")[0] for _ in range(5)]
        assert first == again and len(set(first)) == 5
        assert a._draw(MODEL)[0] == 0.0


def test_the_command_line_server_serves_until_interrupted() -> None:
    import signal
    import subprocess
    import sys

    command = [sys.executable, "-m", "fanscope.testing.anthropic_server", "--port", "0",
               "--latency", "0", "--model-latency", f"{MODEL}=0.01", "--sigma", "0.2"]  # fmt: skip

    def as_a_background_job() -> None:  # a script's `cmd &` starts with SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, preexec_fn=as_a_background_job
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        with anthropic.Anthropic(base_url=url, api_key="k") as client:
            assert client.messages.create(model=MODEL, max_tokens=5, messages=ASK).content
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:  # a server that did not stop must not hold the run until its timeout
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_the_command_line_names_a_bad_argument_in_one_line() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "fanscope.testing.anthropic_server", "--model-latency", "opus"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--model-latency wants MODEL=SECONDS" in done.stderr.strip().splitlines()[-1]
    done = subprocess.run(
        [sys.executable, "-m", "fanscope.testing.anthropic_server", "--rate-limit-share", "2"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    message = "anthropic_server: rate_limit_share must be between 0 and 1 (got 2.0)"
    assert done.stderr.strip() == message


def test_given_tools_the_stand_in_calls_one_until_a_result_comes_back() -> None:
    tools: Any = [
        {"name": "lookup", "input_schema": {"type": "object",
                                            "properties": {"q": {"type": "string"}}}},
        {"name": "fetch", "input_schema": {"type": "object",
                                           "properties": {"url": {"type": "string"},
                                                          "n": {"type": "integer"}}}},
    ]  # fmt: skip
    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(base_url=server.url, api_key="k") as client,
    ):
        called = client.messages.create(model=MODEL, max_tokens=99, messages=ASK, tools=tools)
        named = client.messages.create(
            model=MODEL, max_tokens=99, messages=ASK, tools=tools,
            tool_choice={"type": "tool", "name": "fetch"},
        )  # fmt: skip
        with client.messages.stream(
            model=MODEL, max_tokens=99, messages=ASK, tools=tools
        ) as stream:
            streamed = stream.get_final_message()
        declined = client.messages.create(
            model=MODEL, max_tokens=99, messages=ASK, tools=tools, tool_choice={"type": "none"}
        )
        (use,) = called.content
        assert use.type == "tool_use" and called.stop_reason == "tool_use"
        assert use.name == "lookup" and use.input == {"q": "Summarize ACME's quarter"}
        assert named.content[0].type == "tool_use" and named.content[0].input == {
            "url": "Summarize ACME's quarter"
        }
        assert streamed.content[0].type == "tool_use" and streamed.content[0].input == use.input
        assert declined.content[0].type == "text" and declined.stop_reason == "end_turn"
        result: Any = [
            *ASK,
            {"role": "assistant", "content": called.content},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "ACME grew 12%"}]},
        ]  # fmt: skip
        answer = client.messages.create(model=MODEL, max_tokens=99, messages=result, tools=tools)
        assert answer.content[0].type == "text" and answer.stop_reason == "end_turn"


def test_count_tokens_answers_what_a_call_would_use() -> None:
    with (
        AnthropicStandIn() as server,
        anthropic.Anthropic(base_url=server.url, api_key="k") as client,
    ):
        counted = client.messages.count_tokens(model=MODEL, messages=ASK)
        used = client.messages.create(model=MODEL, max_tokens=20, messages=ASK).usage
        with pytest.raises(anthropic.BadRequestError, match="at least one message is required"):
            client.messages.count_tokens(model=MODEL, messages=None)  # type: ignore[arg-type]
    assert counted.input_tokens == used.input_tokens > 0
    assert server.stats.token_counts == 1 and server.stats.requests == 1


def test_a_request_without_an_api_version_is_refused_as_the_api_does() -> None:
    import json
    import urllib.error
    import urllib.request

    with AnthropicStandIn() as server:
        request = urllib.request.Request(
            f"{server.url}/v1/messages", data=b"{}", method="POST",
            headers={"content-type": "application/json", "x-api-key": "k"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        body = json.load(info.value)
        info.value.close()
    assert info.value.code == 400
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }


def test_the_testing_package_exports_the_stand_in_without_importing_anthropic() -> None:
    import subprocess
    import sys

    code = (
        "import sys, fanscope.testing as t\n"
        "print(sorted(t.__all__), t.AnthropicStandIn.__name__, 'anthropic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    expected = (
        "['Answer', 'AnthropicStandIn', 'RedisServer', 'Request', 'Stats', 'ToolUse', "
        "'lognormal'] "
        "AnthropicStandIn False"
    )
    assert done.stdout.strip() == expected
