"""A template chosen by a branch on a short answer, used after the branch.

Sync client. The triage answer, stripped and lower-cased, picks one of two constant
templates in an ``if``/``else``; the reply is asked after the branch with the chosen
template, so no text of the answer reaches it. A ``match`` on a second short answer picks the
sign-off the same way. A greeting asked first reads nothing.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
URGENT = "Apologise, promise a call within the hour, and give the incident number."
ROUTINE = "Thank the customer and link the help centre article."


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def respond(message: str) -> str:
    greeting = llm("A friendly two-word greeting.")
    urgency = llm(f"Is this urgent? Answer urgent or routine: {message}")
    if urgency.strip(" .").lower() == "urgent":  # noqa: SIM108 (as teams write it)
        template = URGENT
    else:
        template = ROUTINE
    body = llm(f"Write the reply. Instructions: {template}")
    mood = llm(f"One word for the customer's mood: {message}")
    match mood.strip(" .").lower():
        case "angry" | "upset":
            closing = "We are sorry for the trouble."
        case _:
            closing = "Have a good day."
    sign_off = llm(f"Rewrite as a sign-off line: {closing}")
    return f"{greeting}\n{body}\n{sign_off}"


def main() -> None:
    respond("Checkout has been failing for an hour and we are losing orders!")


ANSWERS = {
    r"^A friendly two-word greeting": "Hello there",
    r"^Is this urgent": "Urgent.",
    r"^Write the reply": "We are sorry; an engineer will call you within the hour (INC-2231).",
    r"^One word for the customer's mood": "Angry.",
    r"^Rewrite as a sign-off line": "Again, we are truly sorry for the trouble.",
}
CALLS = {
    "greeting": r"^A friendly two-word greeting",
    "urgency": r"^Is this urgent",
    "reply": r"^Write the reply",
    "mood": r"^One word for the customer's mood",
    "sign_off": r"^Rewrite as a sign-off line",
}
DEPENDS = ["urgency -> reply", "mood -> sign_off"]

if __name__ == "__main__":
    fanscope.configure(service_name="branch-chosen-template")
    main()
