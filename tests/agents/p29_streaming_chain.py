"""Streaming calls in a chain: the outline is streamed to the screen, then drafted from.

Async client with ``messages.stream``; a glossary is streamed first and reads the topic only.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def stream(prompt: str) -> str:
    async with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=800, messages=[{"role": "user", "content": prompt}]
    ) as response:
        pieces = [text async for text in response.text_stream]
    return "".join(pieces)


@traced
async def lesson(topic: str) -> str:
    glossary = await stream(f"List five terms a beginner needs for {topic}, with definitions.")
    outline = await stream(f"Outline a 20-minute lesson on {topic}.")
    draft = await stream(f"Write the lesson script from this outline:\n{outline}")
    return f"{glossary}\n{draft}"


async def main() -> None:
    await lesson("reading a nutrition label")


ANSWERS = {
    r"^List five terms": (
        "Serving size: the amount the numbers refer to. Daily value: share of a day's need. "
        "Added sugars: sugars put in during processing. Sodium: salt content. Fibre: "
        "indigestible carbohydrate."
    ),
    r"^Outline a 20-minute lesson": (
        "1. Start with the serving size\n2. Compare daily values\n"
        "3. Spot added sugars\n4. Practise on two cereal boxes"
    ),
    r"^Write the lesson script": (
        "Start with the serving size: every number below depends on it. Then compare daily "
        "values, spot added sugars, and practise on two cereal boxes."
    ),
}
CALLS = {
    "glossary": r"^List five terms",
    "outline": r"^Outline a 20-minute lesson",
    "script": r"^Write the lesson script",
}
DEPENDS = ["outline -> script"]

if __name__ == "__main__":
    fanscope.configure(service_name="streaming-chain")
    asyncio.run(main())
