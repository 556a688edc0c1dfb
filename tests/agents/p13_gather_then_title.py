"""Sectioning with ``fanscope.gather``, then a title that needs none of the sections, then a
report that needs them all.

Async client. The title waits for the gather although it reads only the topic.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import parallel, traced

client = anthropic.AsyncAnthropic()


@parallel(max_concurrency=4)
async def section(kind: str, topic: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=600,
        messages=[{"role": "user", "content": f"Write the {kind} section of a report on {topic}."}],
    )
    return message.content[0].text


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=600, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


@traced
async def report(topic: str) -> str:
    parts = await fanscope.gather(
        market=section("market", topic), risks=section("risks", topic), team=section("team", topic)
    )
    title = await ask(f"Suggest a title for a report on {topic}.")
    body = f"{parts.market}\n{parts.risks}\n{parts.team}"
    return await ask(f"Write the executive summary of this report titled {title}:\n{body}")


async def main() -> None:
    await report("urban vertical farming")


ANSWERS = {
    r"^Write the market section": "Vertical farms sold 2.1 billion dollars of greens in 2025.",
    r"^Write the risks section": "Energy costs are the main risk; lighting eats half the budget.",
    r"^Write the team section": "The founders ran greenhouse operations for a decade each.",
    r"^Suggest a title": "Growing Up: The Economics of City Farms",
    r"^Write the executive summary": (
        "Vertical farming is a two-billion-dollar market whose future depends on cheap "
        "energy; an experienced team can capture it."
    ),
}
CALLS = {
    "section": r"^Write the (\w+) section",
    "title": r"^Suggest a title",
    "summary": r"^Write the executive summary",
}
DEPENDS = ["section -> summary", "title -> summary"]

if __name__ == "__main__":
    fanscope.configure(service_name="gather-title")
    asyncio.run(main())
