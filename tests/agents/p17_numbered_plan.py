"""A numbered plan of short tasks, each passed whole to a tool, each result explained.

Async client. The plan's lines are parsed (``1. ...``) into two-word tasks; the tool is a
``@traced`` lookup; the explanations are independent of one another.
"""

from __future__ import annotations

import asyncio
import re

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()

FACTS = {
    "check inventory": "412 units in stock, 3 warehouses",
    "confirm pricing": "list price 89 EUR, 12% distributor discount",
    "book courier": "pickup Thursday 14:00, tracking ZX-55821",
}


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=400, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


@traced
async def run_tool(task: str) -> str:
    return FACTS.get(task.lower(), "unknown task")


@traced
async def fulfil(order: str) -> list[str]:
    plan = await ask(f"List the steps to fulfil this order, numbered, two words each:\n{order}")
    tasks = [re.sub(r"^\d+\.\s*", "", line).strip() for line in plan.splitlines() if line]
    notes = []
    for task in tasks:
        result = await run_tool(task)
        notes.append(await ask(f"Explain this tool result to the customer: {result}"))
    return notes


async def main() -> None:
    await fulfil("20 espresso machines to Ghent by Friday")


ANSWERS = {
    r"^List the steps": "1. Check inventory\n2. Confirm pricing\n3. Book courier",
    r"^Explain this tool result to the customer: 412": "We have the machines in stock.",
    r"^Explain this tool result to the customer: list": "Your price is 78.32 EUR each.",
    r"^Explain this tool result to the customer: pickup": "A courier collects on Thursday.",
}
CALLS = {
    "plan": r"^List the steps",
    "tool": "step:run_tool",
    "explain": r"^Explain this tool result to the customer: (\w+)",
}
DEPENDS = [
    "plan -> tool",
    "tool[0] -> explain[412]",
    "tool[1] -> explain[list]",
    "tool[2] -> explain[pickup]",
]

if __name__ == "__main__":
    fanscope.configure(service_name="numbered-plan")
    asyncio.run(main())
