"""A while-loop retry: the same prompt is asked again until the answer parses.

Sync client. The loop's prompt never changes; whether another round runs depends on the
previous answer. After it, a tagline uses the parsed score, reformatted as a word; a fun
fact, asked first, reads nothing.
"""

from __future__ import annotations

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()

WORDS = {1: "poor", 2: "weak", 3: "fair", 4: "good", 5: "great"}


def complete(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def rate(review: str) -> str:
    fact = complete("A fun fact about espresso, one line.")
    prompt = f"Rate this review 1-5, digits only: {review}"
    attempts = 0
    score = None
    while score is None and attempts < 4:
        attempts += 1
        answer = complete(prompt).strip()
        if answer.isdigit():
            score = int(answer)
    word = WORDS.get(score or 3, "fair")
    tagline = complete(f"Write a tagline for a cafe whose reviews are {word}.")
    return f"{fact}\n{tagline}"


def main() -> None:
    rate("The flat white was silky and the staff remembered my name.")


ANSWERS = {
    r"^A fun fact about espresso": "Espresso has less caffeine per cup than drip coffee.",
    r"^Rate this review": ("I would say five stars!", "Five.", "5"),
    r"^Write a tagline": "Great coffee, people who remember you.",
}
CALLS = {
    "fact": r"^A fun fact about espresso",
    "rate": r"^Rate this review",
    "tagline": r"^Write a tagline",
}
DEPENDS = ["rate[i] -> rate[i+1]", "rate -> tagline"]

if __name__ == "__main__":
    fanscope.configure(service_name="retry-until-valid")
    main()
