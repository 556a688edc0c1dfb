"""A multi-turn conversation: each turn sends the whole history, earlier answers included.

Sync client; the history is a list kept on the conversation object.
"""

from __future__ import annotations

from typing import Any

import anthropic

import fanscope
from fanscope import traced


class Conversation:
    def __init__(self, system: str) -> None:
        self.client = anthropic.Anthropic()
        self.system = system
        self.history: list[dict[str, Any]] = []

    def say(self, text: str) -> str:
        self.history.append({"role": "user", "content": text})
        reply = self.client.messages.create(
            model="claude-sonnet-4-5", max_tokens=500, system=self.system, messages=self.history
        )
        answer = reply.content[0].text
        self.history.append({"role": "assistant", "content": answer})
        return answer


@traced
def tutor() -> None:
    chat = Conversation("You are a patient chemistry tutor.")
    chat.say("Why does ice float on water?")
    chat.say("Does the same happen with frozen alcohol?")
    chat.say("Give me one kitchen experiment that shows it.")


def main() -> None:
    tutor()


ANSWERS = {
    r"^Why does ice float": (
        "Ice is about nine percent less dense than liquid water because hydrogen bonds hold "
        "the molecules in an open hexagonal lattice."
    ),
    r"^Does the same happen": (
        "No: solid ethanol is denser than liquid ethanol, so it sinks; water is the odd one."
    ),
    r"^Give me one kitchen experiment": (
        "Freeze a little vodka-and-water mix and plain water, then drop each cube into "
        "cooking oil and compare."
    ),
}
CALLS = {
    "first": r"^Why does ice float",
    "second": r"^Does the same happen",
    "third": r"^Give me one kitchen experiment",
}
DEPENDS = ["first -> second -> third", "first -> third"]

if __name__ == "__main__":
    fanscope.configure(service_name="chat-history")
    main()
