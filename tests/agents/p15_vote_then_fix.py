"""A vote on whether a diff is safe, and a fix suggested only when the vote says no.

Async client; ``@vote`` asks three times and stops at two agreeing. A changelog line, asked
afterwards, reads only the diff.
"""

from __future__ import annotations

import asyncio

import anthropic

import fanscope
from fanscope import traced, vote

client = anthropic.AsyncAnthropic()

DIFF = """--- a/billing.py
+++ b/billing.py
@@ def charge(amount):
-    if amount <= 0:
+    if amount < 0:
         raise ValueError("amount must be positive")
"""


async def ask(prompt: str) -> str:
    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text.strip()


@vote(n=3, quorum=2)
async def safe_to_merge(diff: str) -> bool:
    answer = await ask(f"Is this diff safe to merge? Answer SAFE or UNSAFE.\n{diff}")
    return answer.upper().startswith("SAFE")


@traced
async def review(diff: str) -> str:
    safe = await safe_to_merge(diff)
    fix = "" if safe else await ask(f"Suggest a minimal fix for this unsafe diff:\n{diff}")
    changelog = await ask(f"Write a changelog line for this diff:\n{diff}")
    return f"{changelog}\n{fix}"


async def main() -> None:
    await review(DIFF)


ANSWERS = {
    r"^Is this diff safe": "UNSAFE",
    r"^Suggest a minimal fix": "Keep `amount <= 0`: a zero charge must still be refused.",
    r"^Write a changelog line": "billing: accept zero amounts in charge() (was refused).",
}
CALLS = {
    "voter": r"^Is this diff safe",
    "fix": r"^Suggest a minimal fix",
    "changelog": r"^Write a changelog line",
}
DEPENDS = ["voter -> fix"]

if __name__ == "__main__":
    fanscope.configure(service_name="vote-then-fix")
    asyncio.run(main())
