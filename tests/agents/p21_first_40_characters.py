"""A follow-up that carries only the first 40 characters of an earlier answer.

Async client. The teaser is cut from the start of the description; the FAQ call reads the
product name only.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=500, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


@traced
async def launch(product: str) -> list[str]:
    description = await ask(f"Describe {product} for the product page in one paragraph.")
    teaser = await ask(f"Turn this opening into a social post: {description[:40]}...")
    faq = await ask(f"Write three FAQ questions a buyer of {product} would ask.")
    return [description, teaser, faq]


async def main() -> None:
    await launch("the Aurora desk lamp")


ANSWERS = {
    r"^Describe": (
        "A lamp that follows the sun: Aurora shifts from cool morning light to warm "
        "evening tones on its own, and folds flat for travel."
    ),
    r"^Turn this opening": "Meet the lamp that follows the sun. #Aurora",
    r"^Write three FAQ": "Does it fold? Can I set my own colours? How long is the warranty?",
}
CALLS = {
    "description": r"^Describe",
    "teaser": r"^Turn this opening",
    "faq": r"^Write three FAQ",
}
DEPENDS = ["description -> teaser"]

if __name__ == "__main__":
    fanscope.configure(service_name="first-40")
    asyncio.run(main())
