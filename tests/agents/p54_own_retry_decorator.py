"""A retry wrapper of the team's own around the model call; a yes/no answer gates a call.

Sync client. ``with_retries`` is the team's decorator (tries again on an API error, keeps
nothing). A moderation call answers yes or no; the answer, stripped and lower-cased, decides
whether a rewrite is asked. A title for the post is asked first from the draft alone; the
rewrite does not read it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TypeVar

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
T = TypeVar("T")


def with_retries(times: int) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    def wrap(fn: Callable[[str], T]) -> Callable[[str], T]:
        @functools.wraps(fn)
        def run(prompt: str) -> T:
            for attempt in range(times):
                try:
                    return fn(prompt)
                except anthropic.APIError:
                    if attempt == times - 1:
                        raise
                    time.sleep(0.01 * 2**attempt)
            raise AssertionError("unreachable")

        return run

    return wrap


@with_retries(3)
def generate(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def publish(draft: str) -> str:
    title = generate(f"A title for this post: {draft}")
    flagged = generate(f"Does this post name a customer? Answer yes or no. {draft}")
    if flagged.strip().lower().startswith("yes"):
        draft = generate(f"Rewrite without customer names: {draft}")
    return f"# {title}\n\n{draft}"


def main() -> None:
    publish("How Initech cut its cloud bill by 40% with nightly shutdowns.")


ANSWERS = {
    r"^A title for this post": "Nightly shutdowns, smaller bills",
    r"^Does this post name a customer": "Yes.",
    r"^Rewrite without customer names": "How one client cut its cloud bill by 40% overnight.",
}
CALLS = {
    "title": r"^A title for this post",
    "moderate": r"^Does this post name a customer",
    "rewrite": r"^Rewrite without customer names",
}
DEPENDS = ["moderate -> rewrite"]

if __name__ == "__main__":
    fanscope.configure(service_name="own-retry-decorator")
    main()
