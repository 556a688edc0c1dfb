"""A persona captured as a nested function's default argument, then a helper per question.

Sync client. The persona answer is title-cased and bound as the default of a nested
``ask`` (``def ask(question, persona=persona.strip().title())``): the calls through ``ask``
never name the persona in their arguments. A lambda keeps the audience the same way. A
warm-up question asked before the persona reads nothing.
"""

from __future__ import annotations

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
def interview(topic: str, questions: list[str]) -> list[str]:
    warmup = llm(f"One warm-up question about {topic}.")
    persona = llm(f"Name one expert role to answer questions on {topic}, two words.")

    def ask(question: str, role: str = persona.strip(" .").title()) -> str:
        return llm(f"As a {role}, answer briefly: {question}")

    audience = llm("Who reads the interview, two words?").strip(" .").lower()
    frame = lambda text, who=audience: llm(f"Rewrite for {who}: {text}")  # noqa: E731
    answers = [ask(q) for q in questions]
    return [warmup, *(frame(a) for a in answers)]


def main() -> None:
    interview("tidal power", ["Is it reliable?", "What does it cost?"])


ANSWERS = {
    r"^One warm-up question": "Have you ever watched the tide come in?",
    r"^Name one expert role": "Marine engineer.",
    r"^Who reads the interview": "School pupils.",
    r"^As a Marine Engineer, answer briefly: Is it": "Yes: tides are predictable years ahead.",
    r"^As a Marine Engineer, answer briefly: What": "More than wind per megawatt, for now.",
    r"^Rewrite for school pupils: Yes": "Tides come on time, like a train timetable.",
    r"^Rewrite for school pupils: More": "It costs more than wind turbines today.",
}
CALLS = {
    "warmup": r"^One warm-up question",
    "persona": r"^Name one expert role",
    "audience": r"^Who reads the interview",
    "answer": r"^As a .*answer briefly: (\w+)",
    "rewrite": r"^Rewrite for .*?: (\w+)",
}
DEPENDS = [
    "persona -> answer",
    "audience -> rewrite",
    "answer[Is] -> rewrite[Yes]",
    "answer[What] -> rewrite[More]",
]

if __name__ == "__main__":
    fanscope.configure(service_name="default-arg-persona")
    main()
