"""Every path of the SDK once, under ``fanscope.configure()``: the spans ``test_conventions.py``
checks against ``docs/conventions.md``.

Run as ``python tests/contract_run.py TRACE_FILE``; prints, as JSON, the exception classes and
aggregation callables it used (the two open values: ``error.type`` and
``fanscope.vote.aggregation`` may name them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fanscope
from fanscope import NoConsensus, NotEnoughSuccesses, Retry, parallel, traced, vote
from fanscope.sdk.ballot import Ballot
from fanscope.sdk.limits import RateLimit

fanscope.configure(service_name="contract", trace_file=sys.argv[1])


class Flaky(Exception):
    """An error that asks for a short wait before the next attempt."""

    retry_after = 0.001


class Down(Exception):
    """A failure that is not retried."""


failed_once: set[tuple[str, int]] = set()


def fail_first(where: str, i: int) -> None:
    if (where, i) not in failed_once:
        failed_once.add((where, i))
        raise Flaky(f"{where} {i}: try again")


# -- map: caps, retries, waits again for the slot (queue span: cap) ------------------------------


@parallel(max_concurrency=1, retry=Retry(attempts=3, initial=0.001, retry_on=Flaky))
async def capped(i: int) -> str:
    await asyncio.sleep(0.01)
    fail_first("capped", i)
    return f"the capped answer number {i} for the report"


# the first attempt takes the only token; the retry waits for the next one (queue span: rate)
@parallel(rate=RateLimit(1, per=0.05), retry=Retry(attempts=2, initial=0.001, retry_on=Flaky))
async def rated(i: int) -> int:
    fail_first("rated", i)
    return i


@parallel(timeout=0.01)
async def too_slow(i: int) -> None:
    await asyncio.sleep(5)


@parallel
async def sleeper(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@parallel
async def job(action: str) -> str:
    if action == "fail":
        raise Down("no answer")
    if action == "hang":
        await asyncio.sleep(5)
    if action == "nested":
        await job.map(["fail"])  # its FanoutError is this branch's error
    return f"{action} done"


async def fanouts() -> None:
    await capped.map([0, 1])
    await capped(2)  # a lone call under a cap
    await rated.map([0])
    await too_slow.map([0], on_error="collect")
    await sleeper.map([0.0, 5.0], on_error="collect", deadline=0.05)
    with contextlib.suppress(fanscope.FanoutError):
        await job.map(["fail", "hang", "ok"])  # sibling failed
    with contextlib.suppress(NotEnoughSuccesses):
        await job.map(["fail", "fail", "hang"], on_error="collect", min_successes=2)
    await job.map(["nested", "ok"], on_error="skip")
    running = asyncio.ensure_future(job.map(["hang", "hang"]))
    await asyncio.sleep(0.02)
    running.cancel()  # caller cancelled
    with contextlib.suppress(asyncio.CancelledError):
        await running
    async with contextlib.aclosing(sleeper.as_completed([0.0, 5.0])) as fastest:
        async for _ in fastest:
            break  # fan-out closed

    async def broken_input() -> AsyncIterator[str]:
        yield "hang"
        await asyncio.sleep(0.01)  # the first branch runs meanwhile
        raise Down("the input's page 2 failed")

    with contextlib.suppress(Down):
        await job.map(broken_input())  # input failed


# -- gather ---------------------------------------------------------------------------------------


async def plain(text: str) -> str:
    await asyncio.sleep(0.001)
    return f"{text} from a plain coroutine"


async def sections() -> None:
    await fanscope.gather(news=job("ok"), db=job("fail"), on_error="skip")
    await fanscope.gather(plain("first"), plain("second"), max_concurrency=1)


# -- votes ---------------------------------------------------------------------------------------


def answers(*sequence: Any) -> Iterator[Any]:
    return itertools.cycle(sequence)


def voter(sequence: Iterator[Any], delay: float = 0.0) -> Any:
    async def answer(question: str) -> Any:
        mine = next(sequence)
        await asyncio.sleep(delay if mine == "slow" else 0.001)
        return mine

    return answer


def longest(ballot: Ballot[str]) -> str:
    return max(ballot.answers, key=len)


def first(ballot: Ballot[str]) -> str:
    return ballot.answers[0]


async def votes() -> None:
    quick = vote(n=5, quorum=3)(voter(answers("yes", "yes", "yes", "slow", "slow"), 5))
    await quick("merge?")  # decided by quorum, two voters cancelled
    await vote(n=3)(voter(answers("yes", "yes", "no")))("merge?")
    await vote(n=3, aggregate="plurality")(voter(answers("a", "b", "b")))("pick?")
    await vote(n=3, aggregate="unanimous")(voter(answers("a")))("pick?")
    await vote(n=3, aggregate=longest)(voter(answers("a", "bbb", "cc")))("pick?")
    await vote(n=2, tie_breaker=first)(voter(answers("a", "b")))("pick?")
    with contextlib.suppress(NoConsensus):
        await vote(n=2)(voter(answers("a", "b")))("pick?")

    async def broken(question: str) -> str:
        raise Down("voter down")

    with contextlib.suppress(NotEnoughSuccesses):
        await vote(n=2, min_votes=1)(broken)("pick?")
    judge = vote.among(voter(answers("yes")), voter(answers("no")), weights=[2, 1])
    await judge("merge?")


# -- hedges: won, lost, failed (each decided by events, not by timing) ---------------------------

seen_hedge: dict[str, int] = {}
hedge_started: dict[str, asyncio.Event] = {}


@parallel(hedge=fanscope.Hedge(after=0.001, max_extra=1.0))
async def hedged(case: str) -> str:
    turn = seen_hedge[case] = seen_hedge.get(case, 0) + 1
    started = hedge_started.setdefault(case, asyncio.Event())
    if turn == 1:  # the first attempt
        if case == "won":
            await asyncio.Event().wait()  # never answers: the hedge wins
        await started.wait()  # answers once the hedge runs (lost) or has failed (failed)
        return f"{case}: the first attempt's answer"
    started.set()
    if case == "failed":
        raise Down("the hedge failed")
    if case == "lost":
        await asyncio.Event().wait()
    return f"{case}: the hedge's answer"


@parallel(hedge=fanscope.Hedge(after=0.001, max_extra=1.0))
async def hedged_then_cut(case: str) -> str:
    turn = seen_hedge[case] = seen_hedge.get(case, 0) + 1
    started = hedge_started.setdefault(case, asyncio.Event())
    if case == "boom":  # fails once the other branch's hedge runs: that branch is cancelled
        await hedge_started.setdefault("hang", asyncio.Event()).wait()
        raise Down("a sibling failed")
    if turn == 2:
        started.set()
    await asyncio.Event().wait()
    return case


async def hedges() -> None:
    await hedged.map(["won", "lost", "failed"])
    with contextlib.suppress(fanscope.FanoutError):
        await hedged_then_cut.map(["hang", "boom"])  # hedge outcome: cancelled


# -- sequential steps, sync code and a thread pool ------------------------------------------------


@traced
async def agent() -> None:
    await fanouts()
    await sections()
    await votes()
    await hedges()


@parallel(max_concurrency=2)
def sync_work(i: int) -> str:
    time.sleep(0.001)
    return f"sync answer number {i} for the report"


@vote(n=3)
def sync_judge(question: str) -> bool:
    return True


@traced
def pool_step(i: int) -> int:
    time.sleep(0.02)
    return i


@traced
def sync_agent() -> None:
    sync_work.map(range(4))
    sync_judge("merge?")
    fanscope.gather(a=lambda: sync_work(7), b=lambda: 2)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the second job waits for the worker
        list(pool.map(pool_step, range(2)))


@traced
def model_calls() -> None:
    """GenAI calls under fanscope spans: priced ones, and one of a model no table knows."""
    import anthropic

    from fanscope.testing import AnthropicStandIn

    with AnthropicStandIn() as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="contract", max_retries=0)

        @parallel
        def ask(model: str) -> str:
            message = client.messages.create(
                model=model, max_tokens=64, messages=[{"role": "user", "content": "Summarise"}]
            )
            return str(message.content[0].text)  # type: ignore[union-attr]

        ask.map(["claude-haiku-5-5", "claude-from-the-future-9"])


asyncio.run(agent())
sync_agent()
model_calls()
print(
    json.dumps(
        {
            "exceptions": [f"{__name__}.Flaky", f"{__name__}.Down"],
            "aggregations": ["longest"],
        }
    )
)
