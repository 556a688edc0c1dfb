"""``asyncio.TaskGroup`` over questions parsed from a JSON answer; a JSON round trip after.

Async client. An outline call answers with a JSON list of questions; the step starts one task
per question in a ``TaskGroup``, reads the results after the group, re-encodes them as JSON
under short keys and asks for a brief from that. A disclaimer, asked after the brief, reads
nothing the step made.
"""

from __future__ import annotations

import asyncio
import json

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def ask(prompt: str) -> str:
    reply = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
async def brief(topic: str) -> str:
    outline = json.loads(await ask(f"List two research questions about {topic} as JSON."))
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(ask(f"Answer briefly: {q}")) for q in outline]
    answers = {f"q{i}": task.result().strip() for i, task in enumerate(tasks)}
    summary = await ask("Write a brief from these answers:\n" + json.dumps(answers, indent=1))
    disclaimer = await ask("Write a one-line disclaimer for an internal research brief.")
    return f"{summary}\n{disclaimer}"


async def main() -> None:
    await brief("heat pumps in old houses")


ANSWERS = {
    r"^List two research questions": (
        ["Do heat pumps work without insulation?", "What do installs cost?"],
    ),
    r"^Answer briefly: Do heat pumps": "Yes, with bigger radiators and a lower flow temperature.",
    r"^Answer briefly: What do installs": "Eight to fourteen thousand euros before grants.",
    r"^Write a brief from these answers": "Feasible with radiator upgrades; budget 8-14k.",
    r"^Write a one-line disclaimer": "Internal notes, not advice.",
}
CALLS = {
    "outline": r"^List two research questions",
    "answer": r"^Answer briefly: (\w+ \w+)",
    "summary": r"^Write a brief from these answers",
    "disclaimer": r"^Write a one-line disclaimer",
}
DEPENDS = ["outline -> answer -> summary"]

if __name__ == "__main__":
    fanscope.configure(service_name="task-group")
    asyncio.run(main())
