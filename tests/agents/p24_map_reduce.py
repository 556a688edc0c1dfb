"""Map-reduce summarisation with ``@parallel``, then a follow-up that needs only the title.

Async client. The chunk summaries run together under a cap of two; the reduce reads them;
the tags are asked afterwards from the document's title alone.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import parallel, traced

client = anthropic.AsyncAnthropic()

CHAPTERS = [
    "Chapter one: the harbour town loses its fishing fleet to the northern storms.",
    "Chapter two: a young engineer proposes a tidal power station in the old docks.",
    "Chapter three: the town votes, the station is built, the lights come back on.",
]


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


@parallel(max_concurrency=2)
async def summarise(chapter: str) -> str:
    return await ask(f"Summarise this chapter in one line: {chapter}")


@traced
async def digest(title: str, chapters: list[str]) -> str:
    lines = await summarise.map(chapters)
    synopsis = await ask("Write a synopsis from these chapter summaries:\n" + "\n".join(lines))
    tags = await ask(f"Suggest five library tags for a novel titled {title}.")
    return f"{synopsis}\n{tags}"


async def main() -> None:
    await digest("The Tide Keepers", CHAPTERS)


ANSWERS = {
    r"chapter in one line: Chapter one": "Storms wreck the fleet and the town's livelihood.",
    r"chapter in one line: Chapter two": "An engineer pitches tidal power in the empty docks.",
    r"chapter in one line: Chapter three": "The town backs the plan and gets its power back.",
    r"^Write a synopsis": (
        "After storms destroy its fishing fleet, a harbour town bets on a young engineer's "
        "tidal power station and comes back to life."
    ),
    r"^Suggest five library tags": "coastal fiction; renewal; engineering; community; storms",
}
CALLS = {
    "chapter": r"chapter in one line: Chapter (\w+)",
    "synopsis": r"^Write a synopsis",
    "tags": r"^Suggest five library tags",
}
DEPENDS = ["chapter -> synopsis"]

if __name__ == "__main__":
    fanscope.configure(service_name="map-reduce")
    asyncio.run(main())
