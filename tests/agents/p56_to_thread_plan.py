"""A sync client inside ``asyncio.to_thread`` and ``run_in_executor``, over a parsed plan.

Async code, sync client. A plan answer ("1. ... 2. ...") is parsed into short step names; each
step goes to ``asyncio.to_thread`` and they are gathered; a check of the results runs through
``loop.run_in_executor``. A budget question, sent to a thread before the plan, reads nothing
of it and is read by nothing.
"""

from __future__ import annotations

import asyncio
import re

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def blocking(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
async def migrate(system: str) -> str:
    budget = await asyncio.to_thread(blocking, f"A rough budget to migrate {system}, one line.")
    plan = await asyncio.to_thread(blocking, f"Plan two steps to migrate {system}, numbered.")
    steps = [s.strip(" .").lower() for s in re.split(r"\d+\.", plan) if s.strip()]
    details = await asyncio.gather(
        *(asyncio.to_thread(blocking, f"How long for: {step}? Days only.") for step in steps)
    )
    loop = asyncio.get_running_loop()
    total = " + ".join(d.strip() for d in details)
    check = await loop.run_in_executor(None, blocking, f"Is {total} days realistic? Yes or no.")
    return f"{budget} / {check}"


async def main() -> None:
    await migrate("the billing database")


ANSWERS = {
    r"^A rough budget": "About forty engineer-days.",
    r"^Plan two steps": "1. Copy the schema. 2. Backfill the rows.",
    r"^How long for: copy the schema": "3",
    r"^How long for: backfill the rows": "12",
    r"^Is 3 \+ 12 days realistic": "Yes.",
}
CALLS = {
    "budget": r"^A rough budget",
    "plan": r"^Plan two steps",
    "estimate": r"^How long for: (\w+)",
    "check": r"^Is .* days realistic",
}
DEPENDS = ["plan -> estimate -> check"]

if __name__ == "__main__":
    fanscope.configure(service_name="to-thread-plan")
    asyncio.run(main())
