"""A cache dict shared between two steps: the second step's lookup is a hit, not a call.

Sync client. ``cached()`` memoises answers in a module dict. The brief step fills it (and
asks for a headline, which reads nothing of it); the pitch step asks the same question again,
gets the cached summary without a call, and writes a pitch from its first clause upper-cased.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
CACHE: dict[str, str] = {}


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


def cached(prompt: str) -> str:
    if prompt not in CACHE:
        CACHE[prompt] = llm(prompt)
    return CACHE[prompt]


@traced
def brief(company: str) -> str:
    summary = cached(f"Summarise what {company} sells, one line.")
    headline = llm(f"Invent a plausible trade-press headline about {company}.")
    return f"{summary}\n{headline}"


@traced
def pitch(company: str) -> str:
    summary = cached(f"Summarise what {company} sells, one line.")
    return llm(f"Pitch our CRM to a firm that: {summary.split(',')[0].upper()}")


@traced
def account_plan(company: str) -> str:
    return brief(company) + "\n" + pitch(company)


def main() -> None:
    account_plan("Northwind Traders")


ANSWERS = {
    r"^Summarise what": "Sells specialty foods to delis, with a mail-order arm since 1998.",
    r"^Invent a plausible": "Northwind doubles its cold-chain fleet ahead of the holidays.",
    r"^Pitch our CRM": "Your delis reorder on a schedule: let the CRM remind them.",
}
CALLS = {
    "summary": r"^Summarise what",
    "headline": r"^Invent a plausible",
    "pitch": r"^Pitch our CRM",
}
DEPENDS = ["summary -> pitch"]

if __name__ == "__main__":
    fanscope.configure(service_name="shared-cache")
    main()
