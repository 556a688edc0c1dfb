"""Two independent chains interleaved: a1, b1, a2 (uses a1), b2 (uses b1).

Async client. Each chain depends on itself only; across chains nothing flows.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=400, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


@traced
async def newsletter() -> str:
    recipe = await ask("Suggest a seasonal soup recipe for November in three lines.")
    book = await ask("Recommend a new novel for long autumn evenings in two lines.")
    recipe_intro = await ask(f"Write a warm introduction for this recipe:\n{recipe}")
    book_intro = await ask(f"Write a teaser paragraph for this book pick:\n{book}")
    return "\n\n".join([recipe_intro, recipe, book_intro, book])


async def main() -> None:
    await newsletter()


ANSWERS = {
    r"^Suggest a seasonal soup": (
        "Roast pumpkin and chestnut soup.\nRoast the pumpkin with thyme, add chestnuts and "
        "stock.\nBlend, season, finish with cream."
    ),
    r"^Recommend a new novel": (
        "The Lantern Keepers by Ines Moreau.\nA lighthouse family, three winters, one secret."
    ),
    r"^Write a warm introduction": "Nothing says November like roast pumpkin and chestnuts.",
    r"^Write a teaser paragraph": "Three winters in a lighthouse, and a family keeping a secret.",
}
CALLS = {
    "a1": r"^Suggest a seasonal soup",
    "b1": r"^Recommend a new novel",
    "a2": r"^Write a warm introduction",
    "b2": r"^Write a teaser paragraph",
}
DEPENDS = ["a1 -> a2", "b1 -> b2"]

if __name__ == "__main__":
    fanscope.configure(service_name="interleaved")
    asyncio.run(main())
