"""A language picked by the model, kept in ``os.environ`` and read back by the next step.

Sync client. The detection step asks which language a message is in and sets
``os.environ["REPLY_LANG"]`` to the answer, stripped and lower-cased; the reply step reads the
environment variable, not a value it was passed. A subject line asked first reads the message
only.
"""

from __future__ import annotations

import os

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def detect(message: str) -> None:
    language = llm(f"Which language is this, one word: {message}")
    os.environ["REPLY_LANG"] = language.strip(" .").lower()


@traced
def answer() -> str:
    return llm(f"Reply in {os.environ.get('REPLY_LANG', 'english')}: thank the customer.")


@traced
def handle(message: str) -> str:
    subject = llm(f"A subject line for a reply to: {message}")
    detect(message)
    try:
        return f"{subject}\n{answer()}"
    finally:
        os.environ.pop("REPLY_LANG", None)


def main() -> None:
    handle("Bonjour, ma commande est arrivée cassée.")


ANSWERS = {
    r"^Which language is this": "French.",
    r"^A subject line for a reply": "Your broken order",
    r"^Reply in french": "Merci pour votre message, nous envoyons un remplacement.",
}
CALLS = {
    "language": r"^Which language is this",
    "subject": r"^A subject line for a reply",
    "reply": r"^Reply in (\w+)",
}
DEPENDS = ["language -> reply"]

if __name__ == "__main__":
    fanscope.configure(service_name="environ-setting")
    main()
