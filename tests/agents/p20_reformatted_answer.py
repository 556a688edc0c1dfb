"""An answer reformatted before reuse: upper-cased, re-punctuated, re-wrapped as a list.

Sync client. The slide call reads a bulleted, shouted version of the answer; the email call
reads the original request only.
"""

from __future__ import annotations

import textwrap

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def ask(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=400, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def prepare(request: str) -> str:
    answer = ask(f"State the three main reasons for: {request}")
    bullets = "\n".join(
        "* " + line.strip(" .;").upper() for line in answer.replace(";", ".").split(".") if line
    )
    slide = ask("Turn these into a slide title and subtitle:\n" + textwrap.indent(bullets, "  "))
    email = ask(f"Draft a two-line email inviting the team to discuss: {request}")
    return f"{slide}\n{email}"


def main() -> None:
    prepare("moving the weekly planning meeting to Monday mornings")


ANSWERS = {
    r"^State the three main reasons": (
        "Monday starts give the whole week a plan; most client calls happen after Tuesday; "
        "Friday meetings are often skipped before the weekend."
    ),
    r"^Turn these into a slide": "Plan on Monday, deliver all week\nThree reasons to move.",
    r"^Draft a two-line email": "Hi all, shall we move planning to Monday mornings? Thoughts?",
}
CALLS = {
    "reasons": r"^State the three main reasons",
    "slide": r"^Turn these into a slide",
    "email": r"^Draft a two-line email",
}
DEPENDS = ["reasons -> slide"]

if __name__ == "__main__":
    fanscope.configure(service_name="reformatted")
    main()
