"""Orchestrator-workers, sync: a JSON plan of one-word tasks, workers on a thread pool.

The cookbook shape: the sync client, an ``llm_call`` helper, and a ``parallel()`` helper on
``ThreadPoolExecutor``. The tasks are single words ("pricing"), far below what fingerprints
can find inside a longer prompt.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm_call(prompt: str, system_prompt: str = "", model: str = "claude-sonnet-4-5") -> str:
    messages = [{"role": "user", "content": prompt}]
    response = client.messages.create(
        model=model, max_tokens=1024, system=system_prompt, messages=messages
    )
    return response.content[0].text


def parallel(prompt: str, inputs: list[str], n_workers: int = 3) -> list[str]:
    with ThreadPoolExecutor(max_workers=n_workers) as executor:
        futures = [executor.submit(llm_call, f"{prompt}\nInput: {x}") for x in inputs]
        return [f.result() for f in futures]


@traced
def analyse(company: str) -> str:
    plan = llm_call(
        f"Plan an analysis of {company}. Reply in JSON as "
        '{"aspects": [...]} with one word per aspect.'
    )
    aspects = json.loads(plan)["aspects"]
    findings = parallel(f"Analyse this aspect of {company} in three sentences.", aspects)
    return llm_call("Combine these findings into a verdict:\n" + "\n".join(findings))


def main() -> None:
    analyse("Northwind Traders")


ANSWERS = {
    r"^Plan an analysis": {"aspects": ["pricing", "logistics", "hiring"]},
    r"Input: pricing": (
        "Northwind prices sit eight percent above rivals. Discounts are rare. Loyal "
        "wholesale buyers accept the premium for reliable delivery."
    ),
    r"Input: logistics": (
        "Two warehouses serve the whole country. Average delivery takes 2.3 days. A third "
        "site is planned for the north."
    ),
    r"Input: hiring": (
        "Headcount grew by 40 last year. Driver vacancies stay open for months. Wages "
        "rose six percent."
    ),
    r"^Combine these findings": (
        "Northwind's premium pricing holds while delivery stays fast; the driver shortage "
        "is the main risk to that promise."
    ),
}
CALLS = {
    "plan": r"^Plan an analysis",
    "aspect": r"Input: (\w+)",
    "verdict": r"^Combine these findings",
}
DEPENDS = ["plan -> aspect -> verdict"]

if __name__ == "__main__":
    fanscope.configure(service_name="orchestrator-json")
    main()
