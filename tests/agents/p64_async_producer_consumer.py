"""An ``asyncio.Queue`` consumer started before the producer asks the model for its work.

Async client. The consumer task is created first and waits on the queue; the step then asks
for the outline, splits it on semicolons, and puts each section title, stripped and
upper-cased, on the queue; the consumer drafts each section into a list the step joins for
the edit. A style guide asked before anything else reads nothing.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def ask(prompt: str) -> str:
    reply = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


async def drafter(jobs: asyncio.Queue[str | None], drafts: list[str]) -> None:
    while (section := await jobs.get()) is not None:
        drafts.append(await ask(f"Draft the section {section} in two lines."))


@traced
async def write_guide(product: str) -> str:
    style = await ask("Give one rule of our documentation style.")
    jobs: asyncio.Queue[str | None] = asyncio.Queue()
    drafts: list[str] = []
    consumer = asyncio.create_task(drafter(jobs, drafts))
    outline = await ask(f"Outline a setup guide for {product}: section titles, ';'-separated.")
    for title in outline.split(";"):
        await jobs.put(title.strip().upper())
    await jobs.put(None)
    await consumer
    edit = await ask(f"Edit for style ({style.strip()}):\n" + "\n".join(drafts))
    return edit


async def main() -> None:
    await write_guide("the Orbit desktop app")


ANSWERS = {
    r"^Give one rule of our documentation style": "Address the reader as you.",
    r"^Outline a setup guide": "Install; Sign in",
    r"^Draft the section INSTALL": "Download the installer.\nRun it.",
    r"^Draft the section SIGN IN": "Open Orbit.\nUse your work email.",
    r"^Edit for style": "You download the installer, run it, and sign in with your work email.",
}
CALLS = {
    "style": r"^Give one rule of our documentation style",
    "outline": r"^Outline a setup guide",
    "draft": r"^Draft the section (\w+)",
    "edit": r"^Edit for style",
}
DEPENDS = ["outline -> draft -> edit", "style -> edit"]

if __name__ == "__main__":
    fanscope.configure(service_name="async-producer-consumer")
    asyncio.run(main())
