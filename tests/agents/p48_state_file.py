"""Two steps that share state through a JSON file on disk: a scratchpad between steps.

Sync client. The triage step asks for a priority digit and ``json.dump``s it, as an int, to
a state file; the reply step loads the file and picks a reply policy from a dict by the
priority (the reply's prompt never holds the digit). A sign-off, asked in the reply step
before the file is read, reads nothing of it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
STATE = Path(tempfile.gettempdir()) / f"support-state-{os.getpid()}.json"
POLICIES = {
    1: "Answer within a week; link the help centre.",
    2: "Answer today; offer a call.",
    3: "Page the on-call engineer and answer within the hour.",
}


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text.strip()


@traced
def triage(ticket: str) -> None:
    priority = int(llm(f"Priority 1-3 of this ticket, digit only: {ticket}"))
    with open(STATE, "w") as out:
        json.dump({"priority": priority}, out)


@traced
def respond(ticket: str) -> str:
    sign_off = llm("A warm two-word sign-off for a support email.")
    with open(STATE) as saved:
        state = json.load(saved)
    policy = POLICIES[state["priority"]]
    return llm(f"Draft the first reply to a customer. Policy: {policy}") + "\n" + sign_off


@traced
def handle(ticket: str) -> str:
    triage(ticket)
    try:
        return respond(ticket)
    finally:
        STATE.unlink(missing_ok=True)


def main() -> None:
    handle("Checkout fails for every customer since the 14:00 deploy.")


ANSWERS = {
    r"^Priority 1-3": "3",
    r"^A warm two-word sign-off": "Warm regards",
    r"^Draft the first reply": "We are on it: an engineer is looking at checkout right now.",
}
CALLS = {
    "priority": r"^Priority 1-3",
    "sign_off": r"^A warm two-word sign-off",
    "reply": r"^Draft the first reply",
}
DEPENDS = ["priority -> reply"]

if __name__ == "__main__":
    fanscope.configure(service_name="state-file")
    main()
