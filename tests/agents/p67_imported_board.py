"""A blackboard imported from a module of the project: ``from ... import BOARD, DECISIONS``.

Sync client. The triage step writes the model's category, stripped and lower-cased, to
``BOARD`` and appends the decision to ``DECISIONS``, both imported from a module of their own;
the routing step reads them through the module (``board.BOARD``) and through the imported
name. A greeting, asked before the triage, reads nothing.
"""

from __future__ import annotations

import anthropic

import fanscope
import tests.agents._shared_board as board
from fanscope import traced
from tests.agents._shared_board import BOARD, DECISIONS

client = anthropic.Anthropic()


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def triage(email: str) -> None:
    category = llm(f"Category of this email, one word: {email}")
    BOARD["category"] = category.strip(" .").lower()
    DECISIONS.append(f"route to {BOARD['category']}")


@traced
def route() -> str:
    greeting = llm("A two-word greeting for a customer email.")
    queue_name = board.BOARD.get("category", "general")
    reply = llm(f"Write the first line from the {queue_name} team; note: {DECISIONS[-1]}")
    return f"{greeting} {reply}"


@traced
def handle(email: str) -> str:
    triage(email)
    return route()


def main() -> None:
    BOARD.clear()
    DECISIONS.clear()
    handle("I was charged twice for March.")


ANSWERS = {
    r"^Category of this email": "Billing.",
    r"^A two-word greeting": "Hello there",
    r"^Write the first line from the billing team": "We will refund the second charge today.",
}
CALLS = {
    "category": r"^Category of this email",
    "greeting": r"^A two-word greeting",
    "reply": r"^Write the first line from the (\w+) team",
}
DEPENDS = ["category -> reply"]

if __name__ == "__main__":
    fanscope.configure(service_name="imported-board")
    main()
