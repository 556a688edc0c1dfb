"""Evaluator-optimizer: generate, evaluate, and regenerate with the feedback until it passes.

Async client; the loop keeps the previous attempt and the feedback in the next prompt.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def complete(prompt: str, system: str = "") -> str:
    message = await client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1200,
        system=system,
        messages=[{"role": "user", "content": prompt}],
    )
    return message.content[0].text


async def generate(task: str, memory: list[str]) -> str:
    context = "\n".join(memory)
    prompt = f"Task: {task}"
    if context:
        prompt += f"\n\nPrevious attempts and feedback:\n{context}"
    return await complete(prompt, system="You write careful Python functions.")


async def evaluate(task: str, candidate: str) -> tuple[str, str]:
    review = await complete(
        f"Evaluate this solution to '{task}'. Start with PASS or NEEDS_IMPROVEMENT, "
        f"then give feedback.\n\n{candidate}"
    )
    verdict, _, feedback = review.partition("\n")
    return verdict.strip(), feedback.strip()


@traced
async def loop(task: str, rounds: int = 3) -> str:
    memory: list[str] = []
    candidate = await generate(task, memory)
    for _ in range(rounds):
        verdict, feedback = await evaluate(task, candidate)
        if verdict == "PASS":
            break
        memory += [candidate, f"Feedback: {feedback}"]
        candidate = await generate(task, memory)
    return candidate


async def main() -> None:
    await loop("write a function that returns the median of a list")


ANSWERS = {
    r"^Task: .*\n\nPrevious attempts": (
        "def median(xs):\n    s = sorted(xs)\n    n = len(s)\n    if n == 0:\n"
        "        raise ValueError('median of an empty list')\n    mid = n // 2\n"
        "    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2"
    ),
    r"^Task: ": "def median(xs):\n    s = sorted(xs)\n    return s[len(s) // 2]",
    r"^Evaluate this solution": [
        "NEEDS_IMPROVEMENT\nEven-length lists must average the two middle values, and an "
        "empty list should raise a clear error.",
        "PASS\nCorrect for odd and even lengths and refuses empty input.",
    ],
}
CALLS = {
    "generate": r"^Task: ",
    "evaluate": r"^Evaluate this solution",
}
DEPENDS = [
    "generate[i] -> evaluate[i]",
    "evaluate[i] -> generate[i+1]",
    "generate[i] -> generate[i+1]",
]

if __name__ == "__main__":
    fanscope.configure(service_name="evaluator-optimizer")
    asyncio.run(main())
