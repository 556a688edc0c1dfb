"""Findings kept on a class attribute, a registry every instance shares.

Async client. ``Findings.items`` is a list on the class; the audit step appends each
control's finding, the answer's first line stripped, and the report step reads the class
attribute through a new instance made later. A title for the report, asked before the
controls, reads only the company name.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def ask(prompt: str) -> str:
    reply = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


class Findings:
    items: ClassVar[list[str]] = []

    def summary(self) -> str:
        return "; ".join(self.items)


@traced
async def audit(company: str, controls: list[str]) -> str:
    title = await ask(f"A title for the access audit of {company}, six words.")
    for control in controls:
        found = await ask(f"Finding for control {control}, first line only.")
        Findings.items.append(found.splitlines()[0].strip())
    report = await ask("Write the audit summary from: " + Findings().summary())
    return f"{title}\n{report}"


async def main() -> None:
    await audit("Northwind", ["MFA", "offboarding"])


ANSWERS = {
    r"^A title for the access audit": "Northwind Access Controls: Spring Review",
    r"^Finding for control MFA": "MFA is enforced for staff.\nContractors exempt.",
    r"^Finding for control offboarding": "Accounts linger 30 days.\nNo owner.",
    r"^Write the audit summary": "Two gaps: contractor MFA and slow offboarding.",
}
CALLS = {
    "title": r"^A title for the access audit",
    "finding": r"^Finding for control (\w+)",
    "report": r"^Write the audit summary",
}
DEPENDS = ["finding -> report"]

if __name__ == "__main__":
    fanscope.configure(service_name="class-registry")
    asyncio.run(main())
