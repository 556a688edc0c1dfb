"""A two-word answer re-encoded as JSON before a tool reads it.

Sync client; the tool takes a JSON string, as a function-calling layer would pass it.
"""

from __future__ import annotations

import json

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
CATALOGUE = {"trail runners": ["Vento 3", "Ridge Pro"], "rain jackets": ["Nimbus"]}


def ask(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text.strip()


@traced
def search_catalogue(request_json: str) -> list[str]:
    return CATALOGUE.get(json.loads(request_json)["category"], [])


@traced
def shop(message: str) -> str:
    category = ask(f"Which product category does this shopper want? Two words.\n{message}")
    items = search_catalogue(json.dumps({"category": category, "limit": 5}))
    tips = ask(f"Give one sizing tip for this shopper: {message}")
    return f"{items} {tips}"


def main() -> None:
    shop("I need something light for muddy mountain runs, size 42.")


ANSWERS = {
    r"^Which product category": "trail runners",
    r"^Give one sizing tip": "Trail shoes run small: take a half size up from 42.",
}
CALLS = {
    "category": r"^Which product category",
    "search": "step:search_catalogue",
    "tip": r"^Give one sizing tip",
}
DEPENDS = ["category -> search"]

if __name__ == "__main__":
    fanscope.configure(service_name="json-reencoded")
    main()
