"""An agent written the ways agents are written, for the call-site tests.

Lines marked ``# at: NAME`` are where the tests expect spans to say they were called from.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fanscope import parallel, traced

MODEL = "claude-haiku-5-5"
client: Any = None  # set by the tests: a real anthropic client talking to the stand-in
aclient: Any = None
url = ""


def llm_call(prompt: str, model: str = MODEL) -> str:
    response = client.messages.create(
        model=model, max_tokens=50, messages=[{"role": "user", "content": prompt}]
    )
    return str(response.content[0].text)


def twice(prompt: str) -> str:
    first = llm_call(prompt)
    return llm_call(first)


def logged(fn: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        return fn(*args, **kwargs)

    return wrapper


@logged
def decorated_call(prompt: str) -> str:
    return llm_call(prompt)


@traced
def process(topic: str) -> list[str]:
    direct = client.messages.create(  # at: direct
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": topic}]
    )
    plan = llm_call(f"Plan {topic}")  # at: helper
    ask = lambda p: llm_call(p)  # noqa: E731
    via_lambda = ask(f"{plan} again")  # at: lambda
    via_decorator = decorated_call(topic)  # at: decorator
    both = twice(topic)  # at: twice
    looped = [llm_call(t) for t in ("a b c d e f g h", "i j k l m n o p")]  # at: comprehension
    for task in ("one", "two"):
        looped.append(llm_call(task))  # at: loop
    return [str(direct), plan, via_lambda, via_decorator, both, *looped]


class Agent:
    def __init__(self) -> None:
        self.history: list[str] = []

    def ask(self, question: str) -> str:
        answer = llm_call(question)
        self.history.append(answer)
        return answer

    @traced
    def run(self, question: str) -> str:
        first = self.ask(question)  # at: method
        return self.ask(first)  # at: method again


@traced
def pooled(tasks: list[str]) -> list[str]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        run = contextvars.copy_context
        futures = [pool.submit(run().run, llm_call, t) for t in tasks]  # at: submit
        return [f.result() for f in futures]


@traced
async def threaded(topic: str) -> str:
    return await asyncio.to_thread(llm_call, topic)  # at: to_thread


@parallel(max_concurrency=4)
async def summarize(doc: str) -> str:
    response = await aclient.messages.create(  # at: in branch
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": doc}]
    )
    return str(response.content[0].text)


@traced
async def research(topic: str) -> list[str]:
    one = await summarize(topic)  # at: lone call
    many = await summarize.map([f"{one} 1", f"{one} 2", f"{one} 3"])  # at: map
    return [one, *many]


def untraced_root(tracer: Any, topic: str) -> str:
    with tracer.start_as_current_span("manual"):
        return llm_call(topic)  # at: nearest


@parallel(max_concurrency=2)
def sync_summary(doc: str) -> str:
    return llm_call(f"Summarize {doc}")  # at: in sync branch


@traced
def sync_research(topic: str) -> list[str]:
    one = sync_summary(topic)  # at: sync lone call
    many = sync_summary.map([f"{one} a", f"{one} b"])  # at: sync map
    return [one, *many]
