"""A journal context manager whose ``__exit__`` files what the block wrote into a global log.

Sync client. Inside ``with Journal() as journal:`` the step appends each finding, its first
sentence stripped, to ``journal.lines``; ``__exit__`` extends the module's ``ARCHIVE`` list.
The report reads ``ARCHIVE``, never the journal. A title asked before the block reads only
the topic.
"""

from __future__ import annotations

from types import TracebackType

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
ARCHIVE: list[str] = []


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


class Journal:
    def __enter__(self) -> Journal:
        self.lines: list[str] = []
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        ARCHIVE.extend(self.lines)


@traced
def investigate(topic: str, angles: list[str]) -> str:
    title = llm(f"A title for an investigation into {topic}.")
    with Journal() as journal:
        for angle in angles:
            finding = llm(f"One finding about {topic} from the {angle} angle.")
            journal.lines.append(finding.split(".")[0].strip())
    report = llm("Write a report from the archive:\n" + "\n".join(ARCHIVE))
    return f"{title}\n{report}"


def main() -> None:
    ARCHIVE.clear()
    investigate("late deliveries", ["warehouse", "courier"])


ANSWERS = {
    r"^A title for an investigation": "Why Parcels Arrive Late",
    r"from the warehouse angle": "Picking stops at 16:00. Orders after that wait a day.",
    r"from the courier angle": "The courier skips rural routes on Fridays. Weekend backlog.",
    r"^Write a report from the archive": "Two causes: an early picking cut-off and Friday gaps.",
}
CALLS = {
    "title": r"^A title for an investigation",
    "finding": r"from the (\w+) angle",
    "report": r"^Write a report from the archive",
}
DEPENDS = ["finding -> report"]

if __name__ == "__main__":
    fanscope.configure(service_name="context-manager-journal")
    main()
