"""Prompt chaining with a gate: extract facts, check them, and summarise only if they pass.

Sync client and a plain helper called from everywhere, as in the cookbooks. The summary's
prompt carries the facts, not the gate's "yes": it depends on the gate by control alone.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm_call(prompt: str, system: str = "", model: str = "claude-haiku-4-5") -> str:
    response = client.messages.create(
        model=model,
        max_tokens=800,
        system=system,
        messages=[{"role": "user", "content": prompt}],
    )
    return response.content[0].text


@traced
def brief(report: str) -> str | None:
    facts = llm_call(f"Extract the key numeric facts from this report:\n{report}")
    verdict = llm_call(
        f"Answer yes or no: are all of these facts consistent with each other?\n{facts}"
    )
    if verdict.strip().lower().startswith("yes"):
        return llm_call(f"Write a two-sentence summary for executives based on:\n{facts}")
    return None


def main() -> None:
    brief("Q3 revenue rose 12% to $4.1B; operating margin held at 21%; headcount 12,400.")


ANSWERS = {
    r"^Extract the key numeric facts": (
        "- Revenue: $4.1B in Q3, up 12% year over year\n"
        "- Operating margin: 21%, unchanged\n"
        "- Headcount: 12,400 employees"
    ),
    r"^Answer yes or no": "Yes",
    r"^Write a two-sentence summary": (
        "Third-quarter revenue grew twelve percent to 4.1 billion dollars with margins "
        "steady at 21 percent. The company ended the quarter with 12,400 employees."
    ),
}
CALLS = {
    "facts": r"^Extract the key numeric facts",
    "gate": r"^Answer yes or no",
    "summary": r"^Write a two-sentence summary",
}
DEPENDS = ["facts -> gate -> summary", "facts -> summary"]

if __name__ == "__main__":
    fanscope.configure(service_name="chain-gate")
    main()
