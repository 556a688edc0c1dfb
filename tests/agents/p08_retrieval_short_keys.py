"""Retrieval with short keys: keywords from the question, a search that returns document
ids, a fetch per id, and an answer from the documents.

Async client; search and fetch are ``@traced`` tools over an in-memory index.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()

DOCS = {
    "doc-17": "Solar import tariffs in the EU were lifted in 2018 after five years.",
    "doc-42": "The US raised tariffs on solar cells to 50 percent in 2024.",
    "doc-08": "Wind turbine blades are mostly made of glass fibre composites.",
}
INDEX = {"solar tariffs": ["doc-17", "doc-42"], "wind blades": ["doc-08"]}


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=400, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text.strip()


@traced
async def search(keywords: str) -> list[str]:
    return INDEX.get(keywords.lower(), [])


@traced
async def fetch(doc_id: str) -> str:
    return DOCS[doc_id]


@traced
async def answer(question: str) -> str:
    keywords = await ask(f"Give two search keywords for: {question}\nKeywords only.")
    ids = await search(keywords)
    docs = [await fetch(i) for i in ids]
    context = "\n".join(f"[{i}] {d}" for i, d in zip(ids, docs, strict=True))
    return await ask(f"Answer from these sources only.\n{context}\n\nQuestion: {question}")


async def main() -> None:
    await answer("How have tariffs on solar panels changed?")


ANSWERS = {
    r"^Give two search keywords": "solar tariffs",
    r"^Answer from these sources": (
        "The EU lifted its solar import tariffs in 2018 [doc-17], while the US raised "
        "tariffs on solar cells to 50 percent in 2024 [doc-42]."
    ),
}
CALLS = {
    "keywords": r"^Give two search keywords",
    "search": "step:search",
    "fetch": "step:fetch",
    "answer": r"^Answer from these sources",
}
DEPENDS = ["keywords -> search -> fetch -> answer", "search -> answer"]

if __name__ == "__main__":
    fanscope.configure(service_name="retrieval")
    asyncio.run(main())
