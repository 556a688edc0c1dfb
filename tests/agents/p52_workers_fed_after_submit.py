"""Workers submitted to a pool first, then fed: the jobs they read come after the submit.

Sync client. The step submits two consumers to a ``ThreadPoolExecutor``, each draining a
``queue.Queue``; only then does it ask for the list of chapters and put each title, stripped
and lower-cased, on the queue. A summary of the chapter notes comes last. A style note asked
before the workers start reads nothing.
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


def consume(jobs: queue.Queue[str | None]) -> list[str]:
    notes = []
    while (title := jobs.get()) is not None:
        notes.append(llm(f"Notes on the chapter {title}, one line."))
    return notes


@traced
def study(book: str) -> str:
    style = llm("One rule for writing study notes.")
    jobs: queue.Queue[str | None] = queue.Queue()
    with ThreadPoolExecutor(max_workers=2) as pool:
        workers = [pool.submit(consume, jobs) for _ in range(2)]
        chapters = llm(f"List the first two chapter titles of {book}, one per line.")
        for title in chapters.splitlines():
            jobs.put(title.strip().lower())
        for _ in workers:
            jobs.put(None)
        notes = [note for worker in workers for note in worker.result()]
    summary = llm("Summarise these chapter notes:\n" + "\n".join(sorted(notes)))
    return f"{style}\n{summary}"


def main() -> None:
    study("Middlemarch")


ANSWERS = {
    r"^One rule for writing study notes": "Write questions, not sentences.",
    r"^List the first two chapter titles": "Miss Brooke\nOld and Young",
    r"^Notes on the chapter miss brooke": "Dorothea's piety and her sister Celia's sense.",
    r"^Notes on the chapter old and young": "Casaubon courts Dorothea; Celia is doubtful.",
    r"^Summarise these chapter notes": "Dorothea's ideals meet Casaubon's dry scholarship.",
}
CALLS = {
    "style": r"^One rule for writing study notes",
    "chapters": r"^List the first two chapter titles",
    "note": r"^Notes on the chapter (\w+)",
    "summary": r"^Summarise these chapter notes",
}
DEPENDS = ["chapters -> note -> summary"]

if __name__ == "__main__":
    fanscope.configure(service_name="workers-fed-after-submit")
    main()
