"""A sync agent class that fans out on a thread pool inside a method and keeps the results on
``self``; a later method reads them; a last one reads only the brief.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anthropic

import fanscope
from fanscope import traced


class Researcher:
    def __init__(self, brief: str) -> None:
        self.client = anthropic.Anthropic()
        self.brief = brief
        self.results: list[str] = []

    def call(self, prompt: str) -> str:
        reply = self.client.messages.create(
            model="claude-haiku-4-5", max_tokens=400, messages=[{"role": "user", "content": prompt}]
        )
        return reply.content[0].text

    @traced
    def gather_sources(self, questions: list[str]) -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            self.results = list(pool.map(lambda q: self.call(f"Research question: {q}"), questions))

    @traced
    def write_up(self) -> str:
        return self.call("Write the findings section from:\n" + "\n".join(self.results))

    @traced
    def outline_talk(self) -> str:
        return self.call(f"Outline a ten-minute talk for this brief: {self.brief}")


@traced
def project() -> None:
    researcher = Researcher("why city trees lower summer temperatures")
    researcher.gather_sources(["How much shade cools a street?", "Do trees raise humidity?"])
    researcher.write_up()
    researcher.outline_talk()


def main() -> None:
    project()


ANSWERS = {
    r"^Research question: How much shade": "Full canopy shade cuts street surface heat by 12C.",
    r"^Research question: Do trees raise": "Yes, slightly: evaporation adds moisture but cools.",
    r"^Write the findings section": (
        "Canopy shade cuts street surface heat by up to 12C, and evaporation cools further "
        "at the cost of a little humidity."
    ),
    r"^Outline a ten-minute talk": "1. A hot street\n2. Shade\n3. Evaporation\n4. What to plant",
}
CALLS = {
    "question": r"^Research question: (\w+ \w+)",
    "findings": r"^Write the findings section",
    "talk": r"^Outline a ten-minute talk",
}
DEPENDS = ["question -> findings"]

if __name__ == "__main__":
    fanscope.configure(service_name="pool-in-method")
    main()
