"""Type-check-only: positional ``fanscope.gather`` is typed per position, async and sync.

Checked by ``make test`` with mypy --strict and with pyright (strict). A line marked
``type: ignore[...]`` must stay an error: mypy's ``warn_unused_ignores`` and pyright's
``reportUnnecessaryTypeIgnoreComment`` both fail the build if it ever type-checks.
``tests/sdk/test_gather.py::test_positional_results_are_a_tuple_as_typed`` runs these calls.
"""

from __future__ import annotations

import functools
from typing import assert_type

import fanscope
from fanscope import Outcome, parallel


@parallel(max_concurrency=4)
async def count(doc: str) -> int:
    return len(doc)


async def title(doc: str) -> str:
    return doc.title()


async def flag(doc: str) -> bool:
    return bool(doc)


@parallel
def lookup(source: str) -> int:
    return len(source)


def label(source: str) -> str:
    return source.upper()


async def in_async_code() -> None:
    one = await fanscope.gather(count("a"))
    assert_type(one, tuple[int])
    n, t = await fanscope.gather(count("a"), title("b"), max_concurrency=2, deadline=5)
    assert_type(n, int)
    assert_type(t, str)
    six = await fanscope.gather(
        count("a"), title("b"), flag("c"), count("d"), title("e"), flag("f"), name="six"
    )
    assert_type(six, tuple[int, str, bool, int, str, bool])
    assert_type(await fanscope.gather(count("a"), on_error="raise"), tuple[int])
    # what is not typed per position returns Results (values typed Any)
    assert_type(await fanscope.gather(count("a"), on_error="collect"), fanscope.Results)
    assert_type(await fanscope.gather(count("a"), title=title("b")), fanscope.Results)
    seven = await fanscope.gather(*(count(d) for d in "abcdefg"))
    assert_type(seven, fanscope.Results)
    assert_type(await fanscope.gather(count("a"), reduce=len), int)
    outcome: Outcome[int] = (await fanscope.gather(count("a"), on_error="collect"))[0]
    assert outcome.ok

    # wrong uses are rejected
    a, b, c = await fanscope.gather(count("a"), title("b"))  # type: ignore[misc]
    s: str = (await fanscope.gather(count("a")))[0]  # type: ignore[assignment]
    news = (await fanscope.gather(count("a"), title("b"))).news  # type: ignore[attr-defined]
    del a, b, c, s, news


def in_sync_code() -> None:
    n, t = fanscope.gather(functools.partial(lookup, "a"), lambda: label("b"))
    assert_type(n, int)
    assert_type(t, str)
    assert_type(fanscope.gather(lambda: 1, lambda: "x", lambda: 2.0), tuple[int, str, float])
    assert_type(fanscope.gather(lambda: 1, on_error="skip"), fanscope.Results)
    assert_type(fanscope.gather(news=lambda: 1), fanscope.Results)

    # wrong uses are rejected
    x: int = fanscope.gather(lambda: "x")[0]  # type: ignore[assignment]
    y, z = fanscope.gather(lambda: 1)  # type: ignore[misc]
    del x, y, z
