"""Values summarised and translated by a call before reuse.

Async client. The headline reads the German translation of the summary, never the
original text; the sentiment call reads the original document only.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()

ARTICLE = (
    "The city council approved a new cycling network on Tuesday. Forty kilometres of "
    "protected lanes will connect the university, the central station and the harbour "
    "by 2027. Shop owners on Main Street worry about losing parking; the council promised "
    "a review after the first year."
)


async def ask(prompt: str, model: str = "claude-haiku-4-5") -> str:
    response = await client.messages.create(
        model=model, max_tokens=400, messages=[{"role": "user", "content": prompt}]
    )
    return response.content[0].text


@traced
async def localise(article: str) -> dict[str, str]:
    summary = await ask(f"Summarise in one sentence:\n{article}")
    german = await ask(f"Translate into German:\n{summary}")
    mood = await ask(f"Rate the tone of this article as positive, neutral or negative:\n{article}")
    headline = await ask(f"Schreibe eine kurze Schlagzeile zu:\n{german}")
    return {"headline": headline, "summary": german, "mood": mood}


async def main() -> None:
    await localise(ARTICLE)


ANSWERS = {
    r"^Summarise in one sentence": (
        "The council approved 40 km of protected bike lanes linking the university, "
        "station and harbour by 2027, despite shop owners' parking worries."
    ),
    r"^Translate into German": (
        "Der Stadtrat hat 40 km geschützte Radwege beschlossen, die bis 2027 Universität, "
        "Bahnhof und Hafen verbinden, trotz Sorgen der Ladenbesitzer um Parkplätze."
    ),
    r"^Rate the tone": "neutral",
    r"^Schreibe eine kurze Schlagzeile": "40 km neue Radwege bis 2027",
}
CALLS = {
    "summary": r"^Summarise in one sentence",
    "german": r"^Translate into German",
    "mood": r"^Rate the tone",
    "headline": r"^Schreibe eine kurze Schlagzeile",
}
DEPENDS = ["summary -> german -> headline"]

if __name__ == "__main__":
    fanscope.configure(service_name="summarise-translate")
    asyncio.run(main())
