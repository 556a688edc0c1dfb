"""Independent calls run together on a ``ThreadPoolExecutor``, then one that uses them all.

Sync client, the cookbook's ``parallel()`` helper, and a stakeholder list (a plain loop
over prompts built from each stakeholder's description).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()

STAKEHOLDERS = [
    "Customers: price sensitive, want better tech, worried about the environment",
    "Employees: worried about job security, need new skills, want clear direction",
    "Investors: expect growth, want cost control, worried about risks",
]


def llm_call(prompt: str) -> str:
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=700, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


def parallel(prompt: str, inputs: list[str], n_workers: int = 3) -> list[str]:
    with ThreadPoolExecutor(max_workers=n_workers) as executor:
        return list(executor.map(lambda x: llm_call(f"{prompt}\nInput: {x}"), inputs))


@traced
def impact_review() -> str:
    impacts = parallel("Analyse how market changes affect this stakeholder group.", STAKEHOLDERS)
    return llm_call("Prioritise the actions across these analyses:\n\n" + "\n\n".join(impacts))


def main() -> None:
    impact_review()


ANSWERS = {
    r"Input: Customers": "Customers will trade down unless the greener range costs no more.",
    r"Input: Employees": "Staff need a retraining plan before automation reaches the plants.",
    r"Input: Investors": "Investors accept slower growth if costs fall two years running.",
    r"^Prioritise the actions": (
        "First the retraining plan, then price parity for the green range, then a "
        "two-year cost programme investors can track."
    ),
}
CALLS = {
    "impact": r"Input: (\w+)",
    "priorities": r"^Prioritise the actions",
}
DEPENDS = ["impact -> priorities"]

if __name__ == "__main__":
    fanscope.configure(service_name="thread-pool-helper")
    main()
