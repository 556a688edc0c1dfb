"""Memory kept on ``self``: an assistant class that stores what it learnt and reuses it.

Sync client. ``learn`` keeps the model's notes on ``self.notes``; ``advise`` later reads
them through ``self``; ``weather`` reads nothing of it.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced


class Assistant:
    def __init__(self) -> None:
        self.client = anthropic.Anthropic()
        self.notes: list[str] = []

    def _ask(self, prompt: str) -> str:
        reply = self.client.messages.create(
            model="claude-haiku-4-5", max_tokens=500, messages=[{"role": "user", "content": prompt}]
        )
        return reply.content[0].text

    @traced
    def learn(self, profile: str) -> None:
        self.notes.append(self._ask(f"Note the travel preferences in this profile:\n{profile}"))

    @traced
    def weather(self, city: str) -> str:
        return self._ask(f"Describe the usual October weather in {city}.")

    @traced
    def advise(self, city: str) -> str:
        known = "; ".join(self.notes)
        return self._ask(f"Suggest a weekend plan in {city} for someone who: {known}")


@traced
def session() -> str:
    assistant = Assistant()
    assistant.learn("Maria, 34, hates crowds, loves bakeries and long walks by water.")
    forecast = assistant.weather("Porto")
    plan = assistant.advise("Porto")
    return f"{forecast}\n{plan}"


def main() -> None:
    session()


ANSWERS = {
    r"^Note the travel preferences": "avoids crowds, enjoys bakeries and waterside walks",
    r"^Describe the usual October weather": "Mild, 18 to 21C, with rain one day in three.",
    r"^Suggest a weekend plan": (
        "Saturday: an early pastry at a Foz bakery, then a quiet walk along the Douro. "
        "Sunday: the Serralves gardens before the crowds arrive."
    ),
}
CALLS = {
    "learn": r"^Note the travel preferences",
    "weather": r"^Describe the usual October weather",
    "advise": r"^Suggest a weekend plan",
}
DEPENDS = ["learn -> advise"]

if __name__ == "__main__":
    fanscope.configure(service_name="memory-on-self")
    main()
