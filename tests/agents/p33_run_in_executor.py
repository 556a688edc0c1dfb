"""Async code calling a sync client through ``loop.run_in_executor``.

Two independent questions go to the executor together; a third call reads both answers.
"""

from __future__ import annotations

import asyncio
import functools

import anthropic

import fanscope
from fanscope import traced

sync_client = anthropic.Anthropic()


def blocking_ask(prompt: str) -> str:
    reply = sync_client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


async def ask(prompt: str) -> str:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(blocking_ask, prompt))


@traced
async def compare() -> str:
    first, second = await asyncio.gather(
        ask("Summarise the case for four-day work weeks in two sentences."),
        ask("Summarise the case against four-day work weeks in two sentences."),
    )
    return await ask(f"Weigh these two views and conclude:\nFor: {first}\nAgainst: {second}")


async def main() -> None:
    await compare()


ANSWERS = {
    r"case for four-day": "Trials show steady output and fewer sick days. Hiring gets easier.",
    r"case against four-day": "Customer-facing roles need cover five days. Costs can rise.",
    r"^Weigh these two views": "Worth piloting where cover is easy; risky for support teams.",
}
CALLS = {
    "side": r"case (\w+) four-day",
    "conclusion": r"^Weigh these two views",
}
DEPENDS = ["side -> conclusion"]

if __name__ == "__main__":
    fanscope.configure(service_name="run-in-executor")
    asyncio.run(main())
