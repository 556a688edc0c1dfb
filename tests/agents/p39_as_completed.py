"""``concurrent.futures.as_completed``: each draft, as it arrives, goes into a critique.

Sync client on a ``ThreadPoolExecutor``. Three drafts are submitted together; each draft that
completes is sent back to the pool with a prompt quoting its first sentence; a summary of the
critiques comes last. Before all that, a title is asked from the topic alone.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()

SECTIONS = ["pricing", "onboarding", "support"]


def llm_call(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=400, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def review(topic: str) -> str:
    title = llm_call(f"A title for a product memo about {topic}.")
    with ThreadPoolExecutor(max_workers=3) as pool:
        drafts: dict[Future[str], str] = {
            pool.submit(llm_call, f"Draft the {section} section of a memo on {topic}."): section
            for section in SECTIONS
        }
        critiques: list[Future[str]] = []
        for done in as_completed(drafts):
            section = drafts[done]
            opening = done.result().split(".")[0].lower()
            critiques.append(
                pool.submit(llm_call, f"Critique the {section} draft that opens: '{opening}'")
            )
        notes = [c.result() for c in critiques]
    return llm_call(f"Summarise for '{title}' these critiques:\n" + "\n".join(notes))


def main() -> None:
    review("a team plan for small clinics")


ANSWERS = {
    r"^A title for a product memo": "Clinics, Together",
    r"^Draft the pricing section": "Per-seat pricing starts at nine euros. Clinics pay monthly.",
    r"^Draft the onboarding section": "Setup takes one afternoon with a guide. Data imports free.",
    r"^Draft the support section": "Support answers within four hours on weekdays. Chat included.",
    r"^Critique the pricing draft": "Say what a five-seat clinic pays in a year.",
    r"^Critique the onboarding draft": "Name who the guide is and how to book one.",
    r"^Critique the support draft": "Weekends matter to clinics; say what happens then.",
    r"^Summarise for": "Make pricing concrete, name the guide, cover weekends.",
}
CALLS = {
    "title": r"^A title for a product memo",
    "draft": r"^Draft the (\w+) section",
    "critique": r"^Critique the (\w+) draft",
    "summary": r"^Summarise for",
}
DEPENDS = ["draft[x] -> critique[x] -> summary", "title -> summary"]

if __name__ == "__main__":
    fanscope.configure(service_name="as-completed")
    main()
