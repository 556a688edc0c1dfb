"""Scripted answers in the stand-in, through the real anthropic client over HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import anthropic
import pytest

from fanscope.testing import AnthropicStandIn, Request, ToolUse

MODEL = "claude-haiku-5-5"

PLAN_XML = """Here is my plan.
<tasks>
  <task>compare prices across European retailers</task>
  <task>summarise the latest analyst notes</task>
</tasks>"""


def ask(client: anthropic.Anthropic, prompt: str, **kw: Any) -> Any:
    return client.messages.create(
        model=MODEL, max_tokens=500, messages=[{"role": "user", "content": prompt}], **kw
    )


def text(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def test_an_orchestrator_gets_a_plan_its_code_can_parse() -> None:
    answers = {r"^Break": PLAN_XML, r"^Do this task": lambda r: f"done: {r.prompt[14:]}"}
    with (
        AnthropicStandIn(answers=answers) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k") as client,
    ):
        plan = text(ask(client, "Break the research into tasks"))
        root = ET.fromstring(plan[plan.index("<tasks>") :])
        tasks = [t.text or "" for t in root.iter("task")]
        assert tasks == [
            "compare prices across European retailers",
            "summarise the latest analyst notes",
        ]
        done = [text(ask(client, f"Do this task: {t}")) for t in tasks]
        assert done == [f"done: {t}" for t in tasks]
        unscripted = text(ask(client, "Something else entirely"))
        assert unscripted.startswith("On Something else entirely:")
        assert server.answers.used == 3


def test_json_plans_sequences_and_the_last_answer_repeating() -> None:
    plan = {"tasks": ["check stock levels", "draft the email"], "parallel": True}
    answers: dict[str, Any] = {
        r"(?i)^plan": plan,
        r"(?i)classify": ["billing", "technical"],
    }
    with (
        AnthropicStandIn(answers=answers) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k") as client,
    ):
        assert json.loads(text(ask(client, "PLAN the week"))) == plan
        labels = [text(ask(client, f"Please classify ticket {i}")) for i in range(4)]
        assert labels == ["billing", "technical", "technical", "technical"]


def test_a_list_answers_every_request_in_turn() -> None:
    with (
        AnthropicStandIn(answers=["first", "second"]) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k") as client,
    ):
        assert [text(ask(client, p)) for p in ("a", "b", "c")] == ["first", "second", "second"]


def test_a_scripted_tool_call_then_the_answer_after_its_result() -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    with AnthropicStandIn() as server, anthropic.Anthropic(base_url=server.url, api_key="k") as c:
        server.script(r"^What is the weather", ToolUse("get_weather", {"city": "Lisbon"}))
        server.script(r"sunny", "Take sunglasses.")
        first = ask(c, "What is the weather in Lisbon?", tools=tools)
        assert first.stop_reason == "tool_use"
        (call,) = [b for b in first.content if b.type == "tool_use"]
        assert (call.name, call.input) == ("get_weather", {"city": "Lisbon"})
        result = {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 24C"}
        second = c.messages.create(
            model=MODEL,
            max_tokens=300,
            tools=tools,  # type: ignore[arg-type]
            messages=[
                {"role": "user", "content": "What is the weather in Lisbon?"},
                {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
                {"role": "user", "content": [result]},  # type: ignore[list-item]
            ],
        )
        assert text(second) == "Take sunglasses."


def test_streams_and_the_async_client_get_the_same_scripted_text() -> None:
    answer = "line one\n  line two, with  spaces\n- a bullet"

    async def main(url: str) -> tuple[str, str]:
        async with anthropic.AsyncAnthropic(base_url=url, api_key="k") as client:
            message = await client.messages.create(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Write"}]
            )
            async with client.messages.stream(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Write"}]
            ) as stream:
                streamed = await stream.get_final_text()
        return text(message), streamed

    with AnthropicStandIn(answers={"^Write": answer}) as server:
        assert asyncio.run(main(server.url)) == (answer, answer)


def test_callables_see_the_request() -> None:
    seen: list[Request] = []

    def echo(request: Request) -> str:
        seen.append(request)
        return request.prompt[::-1]

    with (
        AnthropicStandIn(answers={"": echo}) as server,
        anthropic.Anthropic(base_url=server.url, api_key="k") as client,
    ):
        assert text(ask(client, "abc", system="be brief")) == "cba"
    assert (seen[0].model, seen[0].system, seen[0].prompt) == (MODEL, "be brief", "abc")


def test_bad_scripts_are_refused_with_one_line_errors() -> None:
    with pytest.raises(ValueError, match=re.escape("'(' is not a valid regular expression")):
        AnthropicStandIn(answers={"(": "x"})
    with pytest.raises(TypeError, match="answers must be a mapping"):
        AnthropicStandIn(answers="just text")  # type: ignore[arg-type]
    with AnthropicStandIn() as server, pytest.raises(ValueError, match="needs at least one"):
        server.script("x")
