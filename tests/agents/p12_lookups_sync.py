"""Independent lookups in sync code, through one ``llm_call`` helper used everywhere.

Only the entry point is ``@traced``: the helper's calls are its direct children.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm_call(prompt: str, model: str = "claude-haiku-4-5") -> str:
    response = client.messages.create(
        model=model, max_tokens=500, messages=[{"role": "user", "content": prompt}]
    )
    return response.content[0].text


@traced
def due_diligence(company: str) -> str:
    legal = llm_call(f"List open lawsuits against {company}.")
    debt = llm_call(f"Summarise the debt position of {company}.")
    people = llm_call(f"Who are the key executives at {company}?")
    return llm_call(
        "Rate the investment risk from 1 to 5 given:\n" + "\n".join([legal, debt, people])
    )


def main() -> None:
    due_diligence("Fabrikam")


ANSWERS = {
    r"^List open lawsuits": "Two: a patent dispute with Litware and a wage claim in Ohio.",
    r"^Summarise the debt": "Net debt of 1.2 billion, mostly bonds maturing in 2029.",
    r"^Who are the key executives": "CEO Dana Ruiz since 2021; CFO Omar Haddad since 2019.",
    r"^Rate the investment risk": "3: moderate debt and a live patent dispute.",
}
CALLS = {
    "legal": r"^List open lawsuits",
    "debt": r"^Summarise the debt",
    "people": r"^Who are the key executives",
    "rating": r"^Rate the investment risk",
}
DEPENDS = ["legal -> rating", "debt -> rating", "people -> rating"]

if __name__ == "__main__":
    fanscope.configure(service_name="lookups-sync")
    main()
