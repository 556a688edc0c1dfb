"""Translation with a back-translation check, and a glossary from the source text.

Sync client. The back-translation reads the French; the comparison reads both English
texts; the glossary reads the source only.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()

SOURCE = (
    "Keep the device away from water. Charge it fully before first use. The warranty does "
    "not cover damage caused by unauthorised repairs."
)


def ask(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=600, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def localise(text: str) -> str:
    french = ask(f"Translate into French:\n{text}")
    back = ask(f"Translate into English:\n{french}")
    verdict = ask(f"Do these two texts mean the same?\nA: {text}\nB: {back}")
    glossary = ask(f"Extract the technical terms from this text:\n{text}")
    return f"{french}\n{verdict}\n{glossary}"


def main() -> None:
    localise(SOURCE)


ANSWERS = {
    r"^Translate into French": (
        "Tenez l'appareil à l'écart de l'eau. Chargez-le complètement avant la première "
        "utilisation. La garantie ne couvre pas les dommages causés par des réparations "
        "non autorisées."
    ),
    r"^Translate into English": (
        "Keep the appliance away from water. Charge it completely before first use. The "
        "guarantee does not cover damage from unauthorised repairs."
    ),
    r"^Do these two texts mean the same": "Yes; only 'device' became 'appliance'.",
    r"^Extract the technical terms": "device; charge; warranty; unauthorised repairs",
}
CALLS = {
    "french": r"^Translate into French",
    "back": r"^Translate into English",
    "verdict": r"^Do these two texts mean the same",
    "glossary": r"^Extract the technical terms",
}
DEPENDS = ["french -> back -> verdict"]

if __name__ == "__main__":
    fanscope.configure(service_name="translation-check")
    main()
