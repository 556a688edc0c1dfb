"""A ``functools.lru_cache`` helper shared by two steps: the second step's value is a hit.

Sync client. ``industry_of`` is memoised; the research step calls it (a model call) and asks
for trends in that industry; the outreach step calls it again (a cache hit, no call) and picks
an email angle from a dict by the industry. The email's prompt holds the angle, never the
industry's name. A subject line, asked in the outreach step, reads only the company.
"""

from __future__ import annotations

import functools

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()

ANGLES = {
    "logistics": "Lead with on-time delivery and fewer empty miles.",
    "retail": "Lead with footfall and basket size.",
    "other": "Lead with time saved per week.",
}


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text.strip()


@functools.lru_cache(maxsize=256)
def industry_of(company: str) -> str:
    return llm(f"Which industry is {company} in? One word, lower case.").lower()


@traced
def research(company: str) -> str:
    return llm(f"Three trends this year in {industry_of(company)}.")


@traced
def outreach(company: str) -> str:
    subject = llm(f"A subject line for a first email to {company}.")
    angle = ANGLES.get(industry_of(company), ANGLES["other"])
    return subject + "\n" + llm(f"Write a cold email to {company}. {angle}")


@traced
def account(company: str) -> str:
    return research(company) + "\n" + outreach(company)


def main() -> None:
    account("Contoso Freight")


ANSWERS = {
    r"^Which industry": "Logistics",
    r"^Three trends this year": "Electric vans, route optimisation, and near-shoring.",
    r"^A subject line": "Fewer empty miles next quarter?",
    r"^Write a cold email": "Hi, we help carriers cut empty miles by a fifth. Worth a call?",
}
CALLS = {
    "industry": r"^Which industry",
    "trends": r"^Three trends this year",
    "subject": r"^A subject line",
    "email": r"^Write a cold email",
}
DEPENDS = ["industry -> trends", "industry -> email"]

if __name__ == "__main__":
    fanscope.configure(service_name="lru-cache-between-steps")
    main()
