"""Routing: classify a ticket, then answer it with the specialist prompt for its class.

Sync client. The label ("billing") reaches the handler only through its system prompt, a
short value inside a longer text. The acknowledgement reads the ticket alone.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
MODEL = "claude-haiku-4-5"

ROUTES = {
    "billing": "You handle invoices, refunds and payment problems. Be precise about amounts.",
    "technical": "You fix login, sync and crash problems. Ask for the app version first.",
    "account": "You handle profile, email and password changes. Never reveal data.",
}


def chat(prompt: str, system: str = "") -> str:
    reply = client.messages.create(
        model=MODEL, max_tokens=600, system=system, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def handle(ticket: str) -> str:
    label = chat(
        "Classify this support ticket as billing, technical or account. "
        f"Answer with the label only.\n\nTicket: {ticket}"
    ).strip()
    ack = chat(f"Write a one-sentence acknowledgement for this customer message:\n{ticket}")
    system = f"You are a {label} support specialist. {ROUTES.get(label, '')}"
    answer = chat(f"Reply to the customer.\n\nTicket: {ticket}", system=system)
    return f"{ack}\n\n{answer}"


def main() -> None:
    handle("I was charged twice for my March subscription, order 55812.")


ANSWERS = {
    r"^Classify this support ticket": "billing",
    r"^Write a one-sentence acknowledgement": (
        "Thanks for reaching out; we are looking into the double charge right away."
    ),
    r"^Reply to the customer": (
        "I can see two charges of 9.99 on March 3rd. I have refunded the second one; it "
        "will reach your card within five business days."
    ),
}
CALLS = {
    "classify": r"^Classify this support ticket",
    "ack": r"^Write a one-sentence acknowledgement",
    "reply": r"^Reply to the customer",
}
DEPENDS = ["classify -> reply"]

if __name__ == "__main__":
    fanscope.configure(service_name="router")
    main()
