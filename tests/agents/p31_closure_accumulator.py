"""State in a closure: a nested helper appends each answer to a list of the enclosing
function, and the last call reads the list.

Async client.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


@traced
async def interview(candidate: str) -> str:
    transcript: list[str] = []

    async def question(topic: str) -> None:
        message = await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=[{"role": "user", "content": f"Ask {candidate} one question about {topic}."}],
        )
        transcript.append(message.content[0].text)

    await question("system design")
    await question("teamwork")
    message = await client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=400,
        messages=[
            {"role": "user", "content": "Write an interview plan from:\n" + "\n".join(transcript)}
        ],
    )
    return message.content[0].text


async def main() -> None:
    await interview("Priya")


ANSWERS = {
    r"about system design": "How would you shard a user table that outgrew one database?",
    r"about teamwork": "Tell me about a time you disagreed with a design review.",
    r"^Write an interview plan": (
        "Open with the database sharding question, then the design review story, then "
        "leave ten minutes for the candidate's questions."
    ),
}
CALLS = {
    "question": r"^Ask \w+ one question about ([\w ]+)\.",
    "plan": r"^Write an interview plan",
}
DEPENDS = ["question -> plan"]

if __name__ == "__main__":
    fanscope.configure(service_name="closure")
    asyncio.run(main())
