"""A ``threading.Thread`` subclass that keeps its answer on ``self``.

Sync client. Each ``Researcher`` thread asks about one competitor and stores the answer in
``self.result``; the step starts them all, joins them, and a comparison reads every result.
A short intro, asked before the threads start, reads nothing of theirs.
"""

from __future__ import annotations

import threading

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


class Researcher(threading.Thread):
    def __init__(self, company: str) -> None:
        super().__init__(name=f"research-{company}")
        self.company = company
        self.result = ""

    def run(self) -> None:
        reply = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=[{"role": "user", "content": f"Pricing model of {self.company}, one line."}],
        )
        self.result = reply.content[0].text


@traced
def landscape(companies: list[str]) -> str:
    intro = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        messages=[{"role": "user", "content": "One line on why pricing pages matter."}],
    )
    threads = [Researcher(name) for name in companies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    table = "\n".join(f"{t.company}: {t.result}" for t in threads)
    compare = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=400,
        messages=[{"role": "user", "content": f"Compare these pricing models:\n{table}"}],
    )
    return intro.content[0].text + compare.content[0].text


def main() -> None:
    landscape(["Acme", "Globex", "Initech"])


ANSWERS = {
    r"^One line on why pricing": "Buyers decide on price before they ever book a demo.",
    r"Pricing model of Acme": "Per seat, annual only.",
    r"Pricing model of Globex": "Usage based with a monthly floor.",
    r"Pricing model of Initech": "Flat fee per site.",
    r"^Compare these pricing": "Globex scales with use; Acme locks buyers in for a year.",
}
CALLS = {
    "intro": r"^One line on why pricing",
    "pricing": r"Pricing model of (\w+)",
    "compare": r"^Compare these pricing",
}
DEPENDS = ["pricing -> compare"]

if __name__ == "__main__":
    fanscope.configure(service_name="thread-subclass")
    main()
