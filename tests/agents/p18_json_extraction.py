"""Structured extraction: a JSON answer parsed into a name and a year, each used apart.

Sync client. The year (a number) goes whole to an archive tool; the name (eleven letters)
goes into a longer prompt, too short for fingerprints to find there.
"""

from __future__ import annotations

import json

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
ARCHIVE = {1843: "Notes on the Analytical Engine, published in Taylor's Scientific Memoirs."}


def complete(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def archive_lookup(year: int) -> str:
    return ARCHIVE.get(year, "nothing filed")


@traced
def profile(text: str) -> str:
    data = json.loads(complete(f"Extract the person and the year as JSON: {text}"))
    record = archive_lookup(int(data["year"]))
    letter = complete(f"Write a two-line museum label about {data['name']}.")
    related = complete(f"Suggest two related exhibits for a museum label about: {text}")
    return f"{letter}\n{record}\n{related}"


def main() -> None:
    profile("In 1843 Ada Lovelace published the first algorithm meant for a machine.")


ANSWERS = {
    r"^Extract the person": {"name": "Ada Lovelace", "year": 1843},
    r"^Write a two-line museum label": (
        "Ada Lovelace (1815-1852)\nShe saw that a machine could manipulate symbols, not "
        "only numbers."
    ),
    r"^Suggest two related exhibits": "Babbage's Difference Engine; a Jacquard loom.",
}
CALLS = {
    "extract": r"^Extract the person",
    "archive": "step:archive_lookup",
    "label": r"^Write a two-line museum label",
    "related": r"^Suggest two related exhibits",
}
DEPENDS = ["extract -> archive", "extract -> label"]

if __name__ == "__main__":
    fanscope.configure(service_name="json-extraction")
    main()
