"""Several independent lookups awaited one after another, then a synthesis of all of them.

Async client; each lookup is a ``@traced`` step. The classic missed parallelism.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def llm(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=500, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


@traced
async def lookup(source: str, company: str) -> str:
    return await llm(f"From {source}, what is new about {company} this week?")


@traced
async def brief(company: str) -> str:
    news = await lookup("news", company)
    filings = await lookup("filings", company)
    prices = await lookup("prices", company)
    reviews = await lookup("reviews", company)
    return await llm(
        f"Write a brief on {company} from:\nNews: {news}\nFilings: {filings}\n"
        f"Prices: {prices}\nReviews: {reviews}"
    )


async def main() -> None:
    await brief("Contoso")


ANSWERS = {
    r"^From news": "Contoso opened a second plant in Monterrey and hired 300 workers.",
    r"^From filings": "The 10-Q shows inventory up 18 percent and a new credit line.",
    r"^From prices": "Shares rose 4.2 percent on the week, outpacing the sector index.",
    r"^From reviews": "Customer reviews praise delivery times but complain about support.",
    r"^Write a brief": (
        "Contoso is expanding: a new plant, more stock and fresh credit, and investors "
        "approve; support quality is the weak spot customers mention."
    ),
}
CALLS = {
    "lookup": r"^From (\w+)",
    "brief": r"^Write a brief",
}
DEPENDS = ["lookup -> brief"]

if __name__ == "__main__":
    fanscope.configure(service_name="lookups-async")
    asyncio.run(main())
