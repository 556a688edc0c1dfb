"""Ids passed on: a tool creates a ticket id, a prompt quotes it, another tool reads it.

Async client. ``TCK-4821`` inside a longer prompt is below what fingerprints find; passed
whole to ``get_ticket`` it is found.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()
TICKETS: dict[str, str] = {}


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


@traced
async def create_ticket(summary: str) -> str:
    ticket_id = f"TCK-{4821 + len(TICKETS)}"
    TICKETS[ticket_id] = summary
    return ticket_id


@traced
async def get_ticket(ticket_id: str) -> str:
    return TICKETS[ticket_id]


@traced
async def escalate(complaint: str) -> str:
    ticket_id = await create_ticket(complaint)
    note = await ask(f"Write an internal note asking the team to look at {ticket_id} today.")
    details = await get_ticket(ticket_id)
    reply = await ask(f"Write a short apology to the customer about: {complaint}")
    return f"{note}\n{details}\n{reply}"


async def main() -> None:
    await escalate("The delivery arrived with a cracked screen.")


ANSWERS = {
    r"^Write an internal note": "Team, please pick up TCK-4821 before 17:00 today.",
    r"^Write a short apology": "We are sorry your screen arrived cracked; a new one ships today.",
}
CALLS = {
    "create": "step:create_ticket",
    "note": r"^Write an internal note",
    "get": "step:get_ticket",
    "apology": r"^Write a short apology",
}
DEPENDS = ["create -> note", "create -> get"]

if __name__ == "__main__":
    fanscope.configure(service_name="ticket-ids")
    asyncio.run(main())
