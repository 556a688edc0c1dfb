"""Async code using a sync ``@parallel`` function through ``f.aio``.

The triage call (async client) lists ticket ids; a sync ``@parallel`` classifier (sync client)
runs over them on threads through ``await classify.aio.map(...)``; each label, looked up in a
dict of reply templates, becomes a reply written with ``asyncio.gather``. An FAQ link check,
asked first, reads nothing of the tickets.
"""

from __future__ import annotations

import asyncio
import re

import anthropic

import fanscope
from fanscope import parallel, traced

sync_client = anthropic.Anthropic()
async_client = anthropic.AsyncAnthropic()

TEMPLATES = {
    "bug": "Apologise, say engineering has it, promise an update.",
    "billing": "Explain the charge and offer a call with finance.",
}


async def ask(prompt: str) -> str:
    reply = await async_client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@parallel(max_concurrency=2)
def classify(ticket: str) -> str:
    reply = sync_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=10,
        messages=[{"role": "user", "content": f"bug or billing? One word. Ticket {ticket}"}],
    )
    return reply.content[0].text.strip().lower()


@traced
async def inbox() -> list[str]:
    faq = await ask("Is the FAQ link in our footer still /help? Yes or no.")
    ids = re.findall(r"T-\d+", await ask("Which tickets are open? List their ids."))
    labels = await classify.aio.map(ids)
    replies = await asyncio.gather(
        *(
            ask(f"Ticket {t}: draft a reply. {TEMPLATES[label]}")
            for t, label in zip(ids, labels, strict=True)
        )
    )
    return [faq, *replies]


async def main() -> None:
    await inbox()


ANSWERS = {
    r"^Is the FAQ link": "Yes.",
    r"^Which tickets are open": "Open: T-101 (login loop) and T-102 (double charge).",
    r"Ticket T-101$": "bug",
    r"Ticket T-102$": "billing",
    r"^Ticket T-101: draft": "Sorry about the login loop; engineering is on it.",
    r"^Ticket T-102: draft": "The second charge is a hold; finance can call you.",
}
CALLS = {
    "faq": r"^Is the FAQ link",
    "triage": r"^Which tickets are open",
    "label": r"One word\. Ticket (T-\d+)$",
    "reply": r"^Ticket (T-\d+): draft",
}
DEPENDS = ["triage -> label", "label[x] -> reply[x]", "triage -> reply"]

if __name__ == "__main__":
    fanscope.configure(service_name="sync-parallel-aio")
    asyncio.run(main())
