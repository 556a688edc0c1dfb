"""Notes written to a SQLite table by one step and selected by the next.

Sync client. The research step asks for a fact per city and inserts it, upper-cased, into an
in-memory SQLite table; the writing step selects the rows and builds its prompt from them.
A headline asked before any note reads only the trip name.
"""

from __future__ import annotations

import sqlite3

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


class Notebook:
    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("create table notes (city text, fact text)")

    @traced
    def research(self, cities: list[str]) -> None:
        for city in cities:
            fact = llm(f"One surprising fact about {city}, one line.")
            self.db.execute("insert into notes values (?, ?)", (city, fact.strip().upper()))

    @traced
    def write(self, trip: str) -> str:
        headline = llm(f"A headline for a travel piece called {trip}.")
        rows = self.db.execute("select city, fact from notes order by city").fetchall()
        facts = "\n".join(f"{city}: {fact}" for city, fact in rows)
        return headline + "\n" + llm(f"Write a paragraph from these notes:\n{facts}")

    @traced
    def run(self, trip: str, cities: list[str]) -> str:
        self.research(cities)
        return self.write(trip)


def main() -> None:
    Notebook().run("Baltic weekends", ["Riga", "Tallinn"])


ANSWERS = {
    r"^One surprising fact about Riga": "Riga has the largest Art Nouveau district in Europe.",
    r"^One surprising fact about Tallinn": "Tallinn's old town pharmacy dates from 1422.",
    r"^A headline for a travel piece": "Two Capitals, One Long Weekend",
    r"^Write a paragraph from these notes": "Art Nouveau facades and a medieval pharmacy await.",
}
CALLS = {
    "fact": r"^One surprising fact about (\w+)",
    "headline": r"^A headline for a travel piece",
    "paragraph": r"^Write a paragraph from these notes",
}
DEPENDS = ["fact -> paragraph"]

if __name__ == "__main__":
    fanscope.configure(service_name="sqlite-notes")
    main()
