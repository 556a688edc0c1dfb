"""A tool-use loop: the model asks for a tool, the code runs it, the result goes back.

Sync client with ``tools``; the tool is a ``@traced`` function. The loop appends the
assistant's turn and the ``tool_result`` to the history until the model stops asking.
"""

from __future__ import annotations

from typing import Any

import anthropic

import fanscope
from fanscope import traced
from fanscope.testing import ToolUse

client = anthropic.Anthropic()
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


@traced
def get_weather(city: str) -> str:
    return f"{city}: sunny, 24C, light wind from the north-west all afternoon"


@traced
def agent(question: str) -> str:
    messages: list[Any] = [{"role": "user", "content": question}]
    while True:
        response = client.messages.create(
            model="claude-sonnet-4-5", max_tokens=800, tools=TOOLS, messages=messages
        )
        if response.stop_reason != "tool_use":
            return "".join(b.text for b in response.content if b.type == "text")
        messages.append({"role": "assistant", "content": response.content})
        results = []
        for block in response.content:
            if block.type == "tool_use":
                output = get_weather(**block.input)
                results.append({"type": "tool_result", "tool_use_id": block.id, "content": output})
        messages.append({"role": "user", "content": results})


def main() -> None:
    agent("What should I pack for an afternoon walk in Lisbon today?")


ANSWERS = {
    r"^What should I pack": ToolUse("get_weather", {"city": "Lisbon"}),
    r"sunny, 24C": "Sunglasses, a light jacket for the wind, and water.",
}
CALLS = {
    "ask": r"^What should I pack",
    "tool": "step:get_weather",
    "answer": r"sunny, 24C",
}
DEPENDS = ["ask -> tool -> answer", "ask -> answer"]

if __name__ == "__main__":
    fanscope.configure(service_name="tool-use")
    main()
