"""An object whose ``__init__`` starts the work: a ticket lookup submitted on construction.

Sync client on a ``ThreadPoolExecutor``. The plan answer lists ticket ids; each id, stripped
and upper-cased, makes a ``Lookup`` whose constructor submits the model call to the pool;
the summary reads every lookup's ``value()``. A status line asked before the plan reads
nothing of it.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


class Lookup:
    def __init__(self, pool: ThreadPoolExecutor, ticket: str) -> None:
        self.ticket = ticket
        self.future: Future[str] = pool.submit(llm, f"Status of ticket {ticket}, one line.")

    def value(self) -> str:
        return f"{self.ticket}: {self.future.result().strip()}"


@traced
def standup(team: str) -> str:
    status = llm(f"A one-line standup opener for team {team}.")
    plan = llm(f"Which tickets should team {team} discuss? Comma-separated ids.")
    with ThreadPoolExecutor(max_workers=2) as pool:
        lookups = [Lookup(pool, t.strip().upper()) for t in plan.split(",")]
        lines = [lookup.value() for lookup in lookups]
    summary = llm("Summarise for the standup:\n" + "\n".join(lines))
    return f"{status}\n{summary}"


def main() -> None:
    standup("payments")


ANSWERS = {
    r"^A one-line standup opener": "Good morning, payments: three things today.",
    r"^Which tickets should team": "pay-101, pay-107",
    r"^Status of ticket PAY-101": "Blocked on the bank's sandbox.",
    r"^Status of ticket PAY-107": "In review since yesterday.",
    r"^Summarise for the standup": "One blocker (bank sandbox), one review pending.",
}
CALLS = {
    "status": r"^A one-line standup opener",
    "plan": r"^Which tickets should team",
    "lookup": r"^Status of ticket ([\w-]+)",
    "summary": r"^Summarise for the standup",
}
DEPENDS = ["plan -> lookup -> summary"]

if __name__ == "__main__":
    fanscope.configure(service_name="init-starts-work")
    main()
