"""An async agent class: plain ``asyncio.gather`` fills a cache on ``self``, a later call
reads the cache, and a closing call reads only the user's question.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced


class TravelAgent:
    def __init__(self) -> None:
        self.client = anthropic.AsyncAnthropic()
        self.cache: dict[str, str] = {}

    async def _ask(self, prompt: str) -> str:
        message = await self.client.messages.create(
            model="claude-haiku-4-5", max_tokens=400, messages=[{"role": "user", "content": prompt}]
        )
        return message.content[0].text

    async def _research(self, city: str) -> None:
        self.cache[city] = await self._ask(f"Name the one museum not to miss in {city}.")

    @traced
    async def plan(self, cities: list[str], question: str) -> str:
        await asyncio.gather(*(self._research(c) for c in cities))
        route = await self._ask(
            "Order these museum visits into a route: " + "; ".join(self.cache.values())
        )
        packing = await self._ask(f"What should I pack for this trip? {question}")
        return f"{route}\n{packing}"


async def main() -> None:
    await TravelAgent().plan(["Vienna", "Prague"], "Ten days by train in late autumn.")


ANSWERS = {
    r"museum not to miss in Vienna": "The Kunsthistorisches Museum and its Bruegel room.",
    r"museum not to miss in Prague": "The Museum of Decorative Arts and its glass collection.",
    r"^Order these museum visits": (
        "Start in Prague with the decorative arts, then take the train to Vienna for the "
        "Kunsthistorisches Museum."
    ),
    r"^What should I pack": "Layers, a rain shell, and shoes for cobblestones.",
}
CALLS = {
    "museum": r"museum not to miss in (\w+)",
    "route": r"^Order these museum visits",
    "packing": r"^What should I pack",
}
DEPENDS = ["museum -> route"]

if __name__ == "__main__":
    fanscope.configure(service_name="state-gather")
    asyncio.run(main())
