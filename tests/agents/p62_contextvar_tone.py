"""A tone kept in a ``contextvars.ContextVar`` by one step and read by a helper later.

Async client. The tone step sets ``TONE`` to the answer's first word, lower-cased; a helper
``styled`` reads ``TONE.get()`` to build each later prompt, so the drafting calls never take
the tone as an argument. A fact check asked before the tone reads only the product name.
"""

from __future__ import annotations

import asyncio
import contextvars

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()
TONE: contextvars.ContextVar[str] = contextvars.ContextVar("tone", default="neutral")


async def ask(prompt: str) -> str:
    reply = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


def styled(text: str) -> str:
    return f"In a {TONE.get()} voice: {text}"


@traced
async def launch(product: str) -> str:
    facts = await ask(f"List two facts about {product}, one line.")
    tone = await ask(f"One word for the tone of a launch post for {product}.")
    TONE.set(tone.split()[0].strip(".,").lower())
    post = await ask(styled(f"write the launch post for {product}."))
    tagline = await ask(styled("write a tagline."))
    return "\n".join([facts, post, tagline])


async def main() -> None:
    await launch("Orbit, a calendar for shift workers")


ANSWERS = {
    r"^List two facts about": "It syncs rotas; it works offline.",
    r"^One word for the tone": "Playful.",
    r"^In a playful voice: write the launch post": "Your rota, but fun: meet Orbit!",
    r"^In a playful voice: write a tagline": "Shifts happen. Plan them.",
}
CALLS = {
    "facts": r"^List two facts about",
    "tone": r"^One word for the tone",
    "post": r"voice: write the launch post",
    "tagline": r"voice: write a tagline",
}
DEPENDS = ["tone -> post", "tone -> tagline"]

if __name__ == "__main__":
    fanscope.configure(service_name="contextvar-tone")
    asyncio.run(main())
