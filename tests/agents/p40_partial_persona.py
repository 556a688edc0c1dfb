"""``pool.map`` with ``functools.partial`` and a lambda, after a reading level parsed to an int.

Sync client. A first call grades the reader's level as a digit; ``int()`` and a ``Level`` enum
pick a system prompt from a dict (the prompt never holds the digit); the FAQ answers are mapped
with that system prompt bound by ``functools.partial``; their headings are mapped with a lambda
over the answers. A glossary, asked before the grading, reads nothing of it.
"""

from __future__ import annotations

import enum
import functools
from concurrent.futures import ThreadPoolExecutor

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


class Level(enum.IntEnum):
    CHILD = 1
    ADULT = 2
    EXPERT = 3


PERSONAS = {
    Level.CHILD: "Explain with a toy example and short words.",
    Level.ADULT: "Explain plainly, as to a curious colleague from sales.",
    Level.EXPERT: "Be terse and precise; assume a statistics degree.",
}

QUESTIONS = ["What is a p-value?", "What is a confidence interval?"]


def llm(prompt: str, system: str = "You are helpful.") -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=300,
        system=system,
        messages=[{"role": "user", "content": prompt}],
    )
    return reply.content[0].text.strip()


@traced
def faq(reader: str) -> list[str]:
    glossary = llm("Define 'sample' in one sentence.")
    level = Level(int(llm(f"Grade 1-3 how technical this reader is: {reader}")[:1]))
    answer = functools.partial(llm, system=PERSONAS[level])
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(answer, QUESTIONS))
        headings = list(pool.map(lambda a: llm("Five-word heading for: " + a[:24]), answers))
    return [glossary, *headings]


def main() -> None:
    faq("a product manager who reads A/B test dashboards every week")


ANSWERS = {
    r"^Define 'sample'": "A sample is the part of a population you actually measured.",
    r"^Grade 1-3": "2",
    r"^What is a p-value": "How surprising your data would be if nothing were going on.",
    r"^What is a confidence": "A range of values your data cannot rule out, at a chosen rate.",
    r"^Five-word heading for: How": "Surprise under no effect",
    r"^Five-word heading for: A range": "Values the data allows",
}
CALLS = {
    "glossary": r"^Define 'sample'",
    "grade": r"^Grade 1-3",
    "answer": r"^What is an? ([\w-]+)",
    "heading": r"^Five-word heading for: (\w+)",
}
DEPENDS = ["grade -> answer", "answer[p-value] -> heading[How]", "answer[confidence] -> heading[A]"]

if __name__ == "__main__":
    fanscope.configure(service_name="partial-persona")
    main()
