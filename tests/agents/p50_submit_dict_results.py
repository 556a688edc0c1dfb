"""Futures in a dict comprehension, read in a later loop: a plan parsed into short names.

Sync client on a ``ThreadPoolExecutor``. A planner answers with a comma-separated list of
competitors; the step parses it into lower-cased names, submits one lookup per name in a dict
comprehension, and reads the results in a later loop into an f-string summary that a
positioning call reads. A greeting is asked first and read by nothing but the final line.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def complete(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def landscape(product: str) -> str:
    greeting = complete("Say hello to the strategy team in five words.")
    plan = complete(f"Name three competitors of {product}, comma separated, nothing else.")
    names = [name.strip().lower() for name in plan.split(",") if name.strip()]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(complete, f"Price of {name}, one line.") for name in names}
        lines = []
        for name, future in futures.items():
            lines.append(f"- {name.title()}: {future.result().strip()}")
    summary = "\n".join(lines)
    position = complete(f"Position {product} against:\n{summary}")
    return f"{greeting}\n{position}"


def main() -> None:
    landscape("a note-taking app for lawyers")


ANSWERS = {
    r"^Say hello to the strategy team": "Hello, strategy people, welcome!",
    r"^Name three competitors": "Notion, Evernote, Obsidian",
    r"^Price of notion": "Ten dollars a seat per month.",
    r"^Price of evernote": "Fifteen dollars a month, personal plan.",
    r"^Price of obsidian": "Free, paid sync at four dollars.",
    r"^Position ": "Win on privilege-safe storage; match Evernote on price.",
}
CALLS = {
    "greeting": r"^Say hello to the strategy team",
    "plan": r"^Name three competitors",
    "price": r"^Price of (\w+)",
    "position": r"^Position ",
}
DEPENDS = ["plan -> price -> position"]

if __name__ == "__main__":
    fanscope.configure(service_name="submit-dict-results")
    main()
