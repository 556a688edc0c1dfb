"""A module-level cache filled by one call and read by a later one.

Sync client. The definitions are cached in a global dict; the quiz is built from the cache;
the pronunciation call reads the word list only.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
DEFINITIONS: dict[str, str] = {}


def ask(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


def define(word: str) -> None:
    if word not in DEFINITIONS:
        DEFINITIONS[word] = ask(f"Define the word '{word}' for a ten-year-old.")


@traced
def lesson(words: list[str]) -> str:
    for word in words:
        define(word)
    quiz = ask("Write a matching quiz from these definitions:\n" + "\n".join(DEFINITIONS.values()))
    sounds = ask("Give a pronunciation hint for each word: " + ", ".join(words))
    return f"{quiz}\n{sounds}"


def main() -> None:
    lesson(["estuary", "glacier"])


ANSWERS = {
    r"word 'estuary'": "Where a river meets the sea and fresh water mixes with salt water.",
    r"word 'glacier'": "A huge, slow river of ice that forms where snow never melts.",
    r"^Write a matching quiz": "Match: 1. river meets the sea  2. slow river of ice",
    r"^Give a pronunciation hint": "ES-choo-air-ee; GLAY-see-er",
}
CALLS = {
    "define": r"word '(\w+)'",
    "quiz": r"^Write a matching quiz",
    "sounds": r"^Give a pronunciation hint",
}
DEPENDS = ["define -> quiz"]

if __name__ == "__main__":
    fanscope.configure(service_name="global-cache")
    main()
