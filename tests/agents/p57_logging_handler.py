"""A verdict kept by a logging handler and read back from it: a channel no argument shows.

Sync client. A handler installed on the agent's logger when the module is imported keeps
every record's message. The screening step logs the risk verdict, the answer's first word
stripped and lower-cased; the escalation step builds its prompt from the handler's last
record, not from the verdict's variable. A greeting asked first reads nothing.
"""

from __future__ import annotations

import logging

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
log = logging.getLogger("claims-agent")
log.setLevel(logging.INFO)
log.propagate = False


class KeepRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


RECORDS = KeepRecords()
log.addHandler(RECORDS)


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def screen(claim: str) -> str:
    greeting = llm("Greet the claims team in five words.")
    verdict = llm(f"Is this claim risky? Answer risky or routine first: {claim}")
    log.info("verdict=%s", verdict.split()[0].strip(".,").lower())
    last = RECORDS.messages[-1].partition("=")[2]
    escalation = llm(f"Write the escalation line for a {last} claim.")
    return f"{greeting}\n{escalation}"


def main() -> None:
    screen("Water damage reported two days after the policy started.")


ANSWERS = {
    r"^Greet the claims team": "Morning, claims heroes, welcome!",
    r"^Is this claim risky": "Risky. The policy is two days old.",
    r"^Write the escalation line for a risky": "Escalate to the fraud desk today.",
}
CALLS = {
    "greeting": r"^Greet the claims team",
    "verdict": r"^Is this claim risky",
    "escalation": r"^Write the escalation line",
}
DEPENDS = ["verdict -> escalation"]

if __name__ == "__main__":
    fanscope.configure(service_name="logging-handler")
    main()
