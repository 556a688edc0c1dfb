"""Answers that restate the question: three lookups about one question, then a report.

Sync client. Models often open by restating what they were asked ("Regarding whether
Northwind Traders should renew ...: ..."), so every lookup's answer holds the question, and
so does the next lookup's prompt. That shared text comes from the question, not from the
earlier lookup: the three lookups are independent. The report reads every answer.
"""

from __future__ import annotations

from typing import Any

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
MODEL = "claude-haiku-4-5"
QUESTION = "Should Northwind Traders renew its supplier contracts in Portugal next year?"


def ask(prompt: str) -> str:
    reply = client.messages.create(
        model=MODEL, max_tokens=400, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def research(question: str) -> str:
    market = ask(f"Market view. {question} Answer in two sentences.")
    risks = ask(f"Risk review. {question} List the main risks.")
    legal = ask(f"Legal check. {question} Name any open disputes.")
    return ask(
        f"Write a short report from these notes.\nMarket: {market}\nRisks: {risks}\nLegal: {legal}"
    )


def main() -> None:
    research(QUESTION)


def restating(finding: str) -> Any:
    """The answer a model gives that first restates the question found in the prompt."""

    def answer(request: Any) -> str:
        asked = request.prompt.split(". ", 1)[1].split("?")[0]
        return f"Regarding {asked[0].lower()}{asked[1:]}: {finding}"

    return answer


ANSWERS = {
    r"^Market view": restating("demand for cork and olive oil grows 6 percent a year."),
    r"^Risk review": restating("a single port handles most shipments; strikes stop them."),
    r"^Legal check": restating("one supplier disputes a late-delivery penalty from 2023."),
    r"^Write a short report": (
        "Renew, with a second port in the contracts: demand is growing, and the penalty "
        "dispute should be settled before signing."
    ),
}
CALLS = {
    "market": r"^Market view",
    "risks": r"^Risk review",
    "legal": r"^Legal check",
    "report": r"^Write a short report",
}
DEPENDS = ["market -> report", "risks -> report", "legal -> report"]

if __name__ == "__main__":
    fanscope.configure(service_name="restated-question")
    main()
