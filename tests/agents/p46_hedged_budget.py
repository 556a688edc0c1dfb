"""A hedged, budgeted fan-out, then a second fan-out over the first one's numbers.

Sync client. ``quote`` hedges a slow answer after a fixed delay, inside
``fanscope.budget``; the totals are parsed to ints and the cheapest vendor's name goes into a
negotiation note. A market overview fan-out, run after, reads only the vendor list.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import Hedge, parallel, traced

client = anthropic.Anthropic()
VENDORS = ["Fabrikam", "Contoso", "Tailspin"]


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@parallel(max_concurrency=3, hedge=Hedge(after=0.5, max_extra=0.5))
def quote(vendor: str) -> int:
    return int(llm(f"Yearly price in EUR from {vendor} for 40 seats, digits only.").strip())


@parallel(max_concurrency=3)
def overview(vendor: str) -> str:
    return llm(f"One line on {vendor}'s market position.")


@traced
def procurement() -> str:
    with fanscope.budget(usd=1.0, name="quotes"):
        prices = quote.map(VENDORS)
    cheapest = VENDORS[prices.index(min(prices))]
    note = llm(f"Draft a negotiation note to the vendor ranked first on price: {cheapest}")
    positions = overview.map(VENDORS)
    return note + "\n".join(positions)


def main() -> None:
    procurement()


ANSWERS = {
    r"from Fabrikam": "12400",
    r"from Contoso": "9800",
    r"from Tailspin": "15100",
    r"^Draft a negotiation note": "Thank you for the quote; can you meet 9,000 for two years?",
    r"on Fabrikam's market": "Strong in retail, weak in healthcare.",
    r"on Contoso's market": "The default choice for mid-size firms.",
    r"on Tailspin's market": "Premium, with the best support scores.",
}
CALLS = {
    "quote": r"from (\w+) for 40 seats",
    "note": r"^Draft a negotiation note",
    "position": r"^One line on (\w+)'s",
}
DEPENDS = ["quote -> note"]

if __name__ == "__main__":
    fanscope.configure(service_name="hedged-budget")
    main()
