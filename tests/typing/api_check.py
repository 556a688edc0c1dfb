"""Type-check-only: the public API keeps signatures (run by ``make test`` through mypy --strict).

Lines marked ``type: ignore[...]`` must stay errors: mypy's ``warn_unused_ignores`` (part of
--strict) fails the build if the decorators ever stop catching them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import assert_type

import fanscope
from fanscope import Ballot, Outcome, Retry, parallel, traced, vote


@parallel(max_concurrency=8, retry=Retry(attempts=4), timeout=30)
async def summarize(doc: str, *, words: int = 50) -> str:
    return doc[:words]


@parallel
async def count(doc: str) -> int:
    return len(doc)


@vote(n=5, quorum=3)
async def safe_to_merge(diff: str) -> bool:
    return bool(diff)


@traced
async def synthesize(parts: list[str]) -> str:
    return " ".join(parts)


@traced
def tokens(text: str) -> list[str]:
    return text.split()


def lines() -> Iterator[str]:
    yield "a"


async def pages() -> AsyncIterator[str]:
    yield "a"


async def numbers() -> AsyncIterator[int]:
    yield 1


async def usage() -> None:
    assert_type(await summarize.map(lines()), list[str])  # any iterable, read as slots free
    assert_type(await summarize.map(pages()), list[str])  # an async iterable too
    assert_type(await count.map(pages(), on_error="collect"), list[Outcome[int]])
    async for index, text in summarize.as_completed(pages()):
        assert_type((index, text), tuple[int, str])
    await count.map(numbers())  # type: ignore[arg-type]
    assert_type(await summarize("doc", words=3), str)
    assert_type(await count("doc"), int)
    assert_type(await summarize.map(["a", "b"]), list[str])
    assert_type(await summarize.map(["a"], on_error="collect"), list[Outcome[str]])
    assert_type(await count.map(["a"], reduce=sum), int)
    assert_type(await synthesize(["a"]), str)
    assert_type(tokens("a b"), list[str])
    async for index, text in summarize.as_completed(["a"]):
        assert_type(index, int)
        assert_type(text, str)
    answers = await fanscope.gather(news=summarize("q"))
    assert_type(answers, fanscope.Results)

    assert_type(await safe_to_merge("diff"), bool)
    assert_type(await safe_to_merge.ballot("diff"), Ballot[bool])

    await summarize(3)  # type: ignore[arg-type]
    await safe_to_merge(3)  # type: ignore[arg-type]
    await summarize("doc", word=3)  # type: ignore[call-arg]
    await synthesize("not a list")  # type: ignore[arg-type]
