"""A generator pipeline: each stage a generator function, the plan's steps flowing through.

Sync client. ``expand`` yields one model answer per plan item (stripped, lower-cased);
``critique`` yields a critique of each expansion; the step drains the pipeline into a list and
asks for a final ranking. A tagline asked first, and a glossary asked after the pipeline from
the topic alone, read nothing of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


def expand(items: Iterable[str]) -> Iterator[str]:
    for item in items:
        yield llm(f"Expand the idea {item.strip().lower()} in one line.")


def critique(ideas: Iterable[str]) -> Iterator[str]:
    for idea in ideas:
        yield llm(f"Critique in one line: {idea}")


@traced
def brainstorm(topic: str) -> str:
    tagline = llm(f"A tagline for a brainstorm on {topic}.")
    plan = llm(f"Two ideas for {topic}, comma-separated, two words each.")
    critiques = list(critique(expand(plan.split(","))))
    glossary = llm(f"Define one term used in {topic}.")
    ranking = llm("Rank these critiques:\n" + "\n".join(critiques))
    return "\n".join([tagline, glossary, ranking])


def main() -> None:
    brainstorm("cutting office energy use")


ANSWERS = {
    r"^A tagline for a brainstorm": "Watts up? Less.",
    r"^Two ideas for": "Smart thermostats, Shared desks",
    r"^Expand the idea smart thermostats": "Thermostats that learn when rooms are empty.",
    r"^Expand the idea shared desks": "Fewer desks, fewer floors heated.",
    r"^Critique in one line: Thermostats": "Needs sensors in every room.",
    r"^Critique in one line: Fewer desks": "Staff may resist losing their desk.",
    r"^Define one term": "Base load: the minimum power a building draws.",
    r"^Rank these critiques": "Sensors first: cheaper to fix.",
}
CALLS = {
    "tagline": r"^A tagline for a brainstorm",
    "plan": r"^Two ideas for",
    "expand": r"^Expand the idea (\w+)",
    "critique": r"^Critique in one line: (\w+)",
    "glossary": r"^Define one term",
    "ranking": r"^Rank these critiques",
}
DEPENDS = [
    "plan -> expand",
    "expand[smart] -> critique[Thermostats]",
    "expand[shared] -> critique[Fewer]",
    "critique -> ranking",
]

if __name__ == "__main__":
    fanscope.configure(service_name="generator-pipeline")
    main()
