"""Prompt chaining: an outline, a draft that follows it, a critique of the draft.

Async client; the chain is one ``@traced`` step. A tagline, written first, needs nothing but
the topic.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()
MODEL = "claude-sonnet-4-5"


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


@traced
async def write_post(topic: str) -> str:
    tagline = await ask(f"Write a one-line tagline for a post about {topic}.")
    outline = await ask(f"Write an outline for a blog post about {topic}.")
    draft = await ask(f"Write the post, following this outline exactly:\n\n{outline}")
    critique = await ask(f"Critique this draft and list its three weakest points:\n\n{draft}")
    return f"{tagline}\n\n{draft}\n\n{critique}"


async def main() -> None:
    await write_post("home batteries")


ANSWERS = {
    r"^Write a one-line tagline": "Store the sun by day, spend it at night.",
    r"^Write an outline": (
        "1. Why households are adding batteries now\n"
        "2. How a battery pairs with rooftop solar panels\n"
        "3. What a typical system costs and saves each year\n"
        "4. Questions to ask an installer before signing"
    ),
    r"^Write the post": (
        "Households are adding batteries now because evening power prices keep climbing. "
        "Paired with rooftop solar panels, a battery stores the midday surplus and releases "
        "it after sunset. A typical system costs about eight thousand dollars and saves "
        "six hundred a year. Before signing, ask an installer about warranty terms."
    ),
    r"^Critique": (
        "The cost figures lack a source; the warranty advice is too brief; the opening "
        "does not say who the post is for."
    ),
}
CALLS = {
    "tagline": r"^Write a one-line tagline",
    "outline": r"^Write an outline",
    "draft": r"^Write the post",
    "critique": r"^Critique",
}
DEPENDS = ["outline -> draft -> critique"]

if __name__ == "__main__":
    fanscope.configure(service_name="prompt-chain")
    asyncio.run(main())
