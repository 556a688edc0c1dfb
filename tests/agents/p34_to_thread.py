"""Async code sending sync calls to ``asyncio.to_thread`` one after another.

The two product blurbs are independent; the comparison table reads both.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def blurb(product: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=300,
        messages=[{"role": "user", "content": f"Write a two-sentence blurb for {product}."}],
    )
    return reply.content[0].text


def table(first: str, second: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=300,
        messages=[{"role": "user", "content": f"Make a comparison table:\n{first}\n{second}"}],
    )
    return reply.content[0].text


@traced
async def compare(a: str, b: str) -> str:
    first = await asyncio.to_thread(blurb, a)
    second = await asyncio.to_thread(blurb, b)
    return await asyncio.to_thread(table, first, second)


async def main() -> None:
    await compare("the Kettle One", "the Kettle Pro")


ANSWERS = {
    r"blurb for the Kettle One": "Boils a litre in three minutes. Quiet in a sleeping house.",
    r"blurb for the Kettle Pro": "Holds any temperature from 40 to 100C. Keeps water warm.",
    r"^Make a comparison table": "| | One | Pro |\n| speed | 3 min | 3.5 min |",
}
CALLS = {
    "blurb": r"blurb for the Kettle (\w+)",
    "table": r"^Make a comparison table",
}
DEPENDS = ["blurb -> table"]

if __name__ == "__main__":
    fanscope.configure(service_name="to-thread")
    asyncio.run(main())
