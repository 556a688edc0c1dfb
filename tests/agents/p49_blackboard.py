"""Two components that share one blackboard object handed to both constructors.

Sync client. The analyst posts a one-word risk level on the blackboard; the drafter reads it
back from the board's dict and picks a tone from a dict by it (the memo's prompt never holds
the word). A one-line summary of the deal, asked first, reads nothing of either.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()

TONES = {
    "low": "Be brief and approve.",
    "medium": "Approve with one condition, stated plainly.",
    "high": "Be cautious: list three conditions before any approval.",
}


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text.strip()


class Blackboard:
    def __init__(self) -> None:
        self.facts: dict[str, str] = {}

    def post(self, key: str, value: str) -> None:
        self.facts[key] = value

    def read(self, key: str) -> str:
        return self.facts.get(key, "medium")


class Analyst:
    def __init__(self, board: Blackboard) -> None:
        self.board = board

    def run(self, deal: str) -> None:
        risk = llm(f"Risk of this deal as low, medium or high, one word: {deal}")
        self.board.post("risk", risk.lower().rstrip("."))


class Drafter:
    def __init__(self, board: Blackboard) -> None:
        self.board = board

    def run(self) -> str:
        tone = TONES[self.board.facts.get("risk", "medium")]
        return llm(f"Draft the approval memo for the credit committee. {tone}")


@traced
def approve(deal: str) -> str:
    board = Blackboard()
    analyst, drafter = Analyst(board), Drafter(board)
    summary = llm(f"Summarise the deal in one line: {deal}")
    analyst.run(deal)
    return summary + "\n" + drafter.run()


def main() -> None:
    approve("A 2 M EUR revolving credit line for a shipyard with one customer.")


ANSWERS = {
    r"^Summarise the deal": "A revolving line for a single-customer shipyard.",
    r"^Risk of this deal": "High.",
    r"^Draft the approval memo": "Approve only with a second customer, a lien and covenants.",
}
CALLS = {
    "summary": r"^Summarise the deal",
    "risk": r"^Risk of this deal",
    "memo": r"^Draft the approval memo",
}
DEPENDS = ["risk -> memo"]

if __name__ == "__main__":
    fanscope.configure(service_name="blackboard")
    main()
