"""A router written as a dict of handler functions, chosen by the model's label.

Sync client. The handler's prompt never contains the label: the dependency is the choice of
function. The survey call at the end reads the message alone.
"""

from __future__ import annotations

from collections.abc import Callable

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm(prompt: str, system: str = "You are a helpful assistant.") -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=400,
        system=system,
        messages=[{"role": "user", "content": prompt}],
    )
    return reply.content[0].text.strip()


def refund(message: str) -> str:
    return llm(f"Process a refund request politely: {message}", system="You issue refunds.")


def exchange(message: str) -> str:
    return llm(f"Arrange an exchange: {message}", system="You arrange exchanges.")


HANDLERS: dict[str, Callable[[str], str]] = {"refund": refund, "exchange": exchange}


@traced
def desk(message: str) -> str:
    intent = llm(f"Is this a refund or an exchange? One word.\n{message}").lower()
    answer = HANDLERS[intent](message)
    survey = llm(f"Write a one-question satisfaction survey for: {message}")
    return f"{answer}\n{survey}"


def main() -> None:
    desk("The jacket is too small, can I get a large one instead?")


ANSWERS = {
    r"^Is this a refund or an exchange": "exchange",
    r"^Arrange an exchange": "Send the jacket back with the prepaid label; a large ships today.",
    r"^Process a refund": "Your refund is on its way.",
    r"^Write a one-question satisfaction survey": "How easy was it to exchange your jacket?",
}
CALLS = {
    "intent": r"^Is this a refund or an exchange",
    "handler": r"^Arrange an exchange",
    "survey": r"^Write a one-question satisfaction survey",
}
DEPENDS = ["intent -> handler"]

if __name__ == "__main__":
    fanscope.configure(service_name="dict-dispatch")
    main()
