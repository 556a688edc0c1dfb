"""Type-check-only: sync functions, methods, static and class methods keep their types.

Checked by ``make test`` with mypy --strict and with pyright (strict). A line marked
``type: ignore[...]`` must stay an error: mypy's ``warn_unused_ignores`` and pyright's
``reportUnnecessaryTypeIgnoreComment`` both fail the build if it ever type-checks.
"""

from __future__ import annotations

import contextlib
import functools
from typing import assert_type

import fanscope
from fanscope import Ballot, Outcome, parallel, traced, vote


@parallel(max_concurrency=4)
def lookup(source: str) -> int:
    return len(source)


@parallel
def words(text: str, *, limit: int = 3) -> list[str]:
    return text.split()[:limit]


@parallel
def add(a: int, b: int) -> int:
    return a + b


@vote(n=3)
def judge(diff: str) -> bool:
    return bool(diff)


class Agent:
    def __init__(self, tag: str) -> None:
        self.tag = tag

    @parallel(max_concurrency=2)
    def ask(self, question: str) -> str:
        return self.tag + question

    @parallel(max_concurrency=2)
    async def ask_async(self, question: str) -> str:
        return self.tag + question

    @parallel
    @staticmethod
    def shout(text: str) -> str:
        return text.upper()

    @parallel
    @classmethod
    def named(cls, text: str) -> str:
        return cls.__name__ + text

    @vote(n=3)
    def agree(self, diff: str) -> bool:
        return bool(diff)

    @traced
    def step(self, text: str) -> int:
        return len(text)

    @traced
    @staticmethod
    def static_step(text: str) -> int:
        return len(text)

    @traced
    @classmethod
    def class_step(cls, text: str) -> int:
        return len(text)

    @traced
    async def step_async(self, text: str) -> int:
        return len(text)

    @parallel
    @staticmethod
    async def shout_async(text: str) -> str:
        return text.upper()

    @parallel
    @classmethod
    async def named_async(cls, text: str) -> str:
        return cls.__name__ + text

    @vote(n=3)
    @classmethod
    def class_agree(cls, diff: str) -> bool:
        return bool(diff)

    @vote(n=3)
    async def agree_async(self, diff: str) -> bool:
        return bool(diff)

    @vote(n=3)
    @staticmethod
    def static_agree(diff: str) -> bool:
        return bool(diff)

    @staticmethod
    @vote(n=3)
    def agree_static(diff: str) -> bool:
        return bool(diff)

    @vote(n=3)
    @staticmethod
    async def static_agree_async(diff: str) -> bool:
        return bool(diff)


def sync_usage() -> None:
    assert_type(lookup("news"), int)
    assert_type(lookup.map(["a", "b"]), list[int])
    assert_type(lookup.map(["a"], on_error="collect"), list[Outcome[int]])
    assert_type(lookup.map(["a"], reduce=len), int)
    assert_type(words.map(["a b"]), list[list[str]])  # extra keyword-only options still map
    assert_type(add.starmap([(1, 2)]), list[int])
    for index, value in lookup.as_completed(["a"]):
        assert_type(index, int)
        assert_type(value, int)
    with contextlib.closing(lookup.as_completed(["a"])) as done:  # closed early, as documented
        for _, value in done:
            assert_type(value, int)
            break
    answers = fanscope.gather(news=lambda: lookup("q"), db=functools.partial(lookup, "q"))
    assert_type(answers, fanscope.Results)
    assert_type(judge("diff"), bool)
    assert_type(judge.ballot("diff"), Ballot[bool])

    agent = Agent("a")
    assert_type(agent.ask("q"), str)
    assert_type(agent.ask.map(["q"]), list[str])
    assert_type(Agent.shout("x"), str)
    assert_type(agent.shout.map(["x"]), list[str])
    assert_type(Agent.named("x"), str)
    assert_type(agent.named.map(["x"]), list[str])
    assert_type(agent.agree("diff"), bool)
    assert_type(agent.step("x"), int)
    assert_type(Agent.static_step("x"), int)
    assert_type(Agent.class_step("x"), int)
    assert_type(Agent.ask(agent, "q"), str)  # through the class, the instance passed
    assert_type(Agent.class_agree("diff"), bool)
    assert_type(agent.class_agree.ballot("diff"), Ballot[bool])
    assert_type(Agent.agree(agent, "diff"), bool)
    assert_type(Agent.static_agree("diff"), bool)
    assert_type(agent.static_agree("diff"), bool)
    assert_type(agent.static_agree.ballot("diff"), Ballot[bool])
    assert_type(Agent.agree_static("diff"), bool)
    assert_type(agent.agree_static("diff"), bool)

    lookup(3)  # type: ignore[arg-type]
    lookup.map([1, 2])  # type: ignore[list-item]
    words("a", limt=2)  # type: ignore[call-arg]
    agent.ask(3)  # type: ignore[arg-type]
    agent.ask.map([3])  # type: ignore[list-item]
    Agent.shout.map([3])  # type: ignore[list-item]
    Agent.named(3)  # type: ignore[arg-type]
    agent.agree(3)  # type: ignore[arg-type]
    agent.step(3)  # type: ignore[arg-type]
    judge(3)  # type: ignore[arg-type]
    Agent.ask(agent, 3)  # type: ignore[arg-type]
    Agent.class_agree(3)  # type: ignore[arg-type]
    Agent.agree(agent, 3)  # type: ignore[arg-type]
    Agent.static_agree(3)  # type: ignore[arg-type]
    agent.static_agree(3)  # type: ignore[arg-type]
    agent.static_agree("diff", "more")  # type: ignore[call-arg]
    Agent.agree_static(3)  # type: ignore[arg-type]
    agent.agree_static(3)  # type: ignore[arg-type]


async def async_usage() -> None:
    assert_type(await lookup.aio("q"), int)
    assert_type(await lookup.aio.map(["q"]), list[int])
    assert_type(await lookup.aio.map(["q"], on_error="collect"), list[Outcome[int]])
    agent = Agent("a")
    assert_type(await agent.ask_async("q"), str)
    assert_type(await agent.ask_async.map(["q"]), list[str])
    assert_type(await agent.ask.aio.map(["q"]), list[str])
    assert_type(await judge.aio("diff"), bool)
    answers = await fanscope.gather(lookup.aio("q"), db=agent.ask_async("q"))
    assert_type(answers, fanscope.Results)

    await lookup.aio.map([1])  # type: ignore[list-item]
    await agent.ask_async.map([1])  # type: ignore[list-item]
    await agent.ask_async(1)  # type: ignore[arg-type]

    assert_type(await agent.step_async("x"), int)
    assert_type(await Agent.shout_async("x"), str)
    assert_type(await agent.shout_async.map(["x"]), list[str])
    assert_type(await Agent.named_async("x"), str)
    assert_type(await agent.named_async.map(["x"]), list[str])
    assert_type(await agent.agree_async("diff"), bool)
    assert_type(await agent.agree_async.ballot("diff"), Ballot[bool])
    await agent.step_async(1)  # type: ignore[arg-type]
    await Agent.named_async.map([1])  # type: ignore[list-item]
    await agent.agree_async(1)  # type: ignore[arg-type]
    assert_type(await Agent.static_agree_async("diff"), bool)
    assert_type(await agent.static_agree_async("diff"), bool)
    assert_type(await agent.static_agree_async.ballot("diff"), Ballot[bool])
    await Agent.static_agree_async(1)  # type: ignore[arg-type]
    await agent.static_agree_async(1)  # type: ignore[arg-type]
