"""``@parallel`` on a plain ``def``: sync workers mapped over parsed tasks, then a merge.

Sync client. The orchestrator's JSON plan lists the sections; each section writer is a
sync ``@parallel`` function; a style note, asked last, reads the brief only.
"""

from __future__ import annotations

import json

import anthropic

import fanscope
from fanscope import parallel, traced

client = anthropic.Anthropic()


def llm_call(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=500, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@parallel(max_concurrency=3)
def write_section(heading: str) -> str:
    return llm_call(f"Write the section '{heading}' of the onboarding guide in three lines.")


@traced
def onboarding(brief: str) -> str:
    plan = json.loads(llm_call(f"List the section headings as a JSON array for: {brief}"))
    sections = write_section.map(plan)
    merged = llm_call("Merge into one guide:\n" + "\n\n".join(sections))
    style = llm_call(f"Give one style rule for a guide written for: {brief}")
    return f"{merged}\n{style}"


def main() -> None:
    onboarding("new warehouse staff in their first week")


ANSWERS = {
    r"^List the section headings": (["Safety first", "Your shift", "Who to ask"],),
    r"section 'Safety first'": "Wear boots and a vest. Forklift lanes are marked yellow.",
    r"section 'Your shift'": "Shifts start at 06:00. Clock in at the blue door. Breaks at 10.",
    r"section 'Who to ask'": "Your lead is on the board by the lockers. HR sits upstairs.",
    r"^Merge into one guide": (
        "Welcome! Wear boots and a vest; shifts start at 06:00; your lead is on the board."
    ),
    r"^Give one style rule": "Use short sentences a tired person can read at 6 am.",
}
CALLS = {
    "plan": r"^List the section headings",
    "section": r"section '([\w ]+)'",
    "merged": r"^Merge into one guide",
    "style": r"^Give one style rule",
}
DEPENDS = ["plan -> section -> merged"]

if __name__ == "__main__":
    fanscope.configure(service_name="sync-parallel")
    main()
