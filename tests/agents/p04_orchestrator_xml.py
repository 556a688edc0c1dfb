"""Orchestrator-workers: the orchestrator answers with XML, the code parses out short task
descriptions (six to eight words) and runs one worker per task, then a synthesis.

Async client; workers are a ``@parallel`` function mapped over the parsed tasks.
"""

from __future__ import annotations

import asyncio
import re

import anthropic

import fanscope
from fanscope import parallel, traced

client = anthropic.AsyncAnthropic()


async def llm(prompt: str, model: str = "claude-sonnet-4-5") -> str:
    message = await client.messages.create(
        model=model, max_tokens=1500, messages=[{"role": "user", "content": prompt}]
    )
    return message.content[0].text


def parse_tasks(xml: str) -> list[str]:
    return [t.strip() for t in re.findall(r"<task>(.*?)</task>", xml, re.DOTALL)]


@parallel(max_concurrency=4)
async def worker(task: str, topic: str) -> str:
    return await llm(f"You are a focused researcher.\nTopic: {topic}\nYour task: {task}")


@traced
async def research(topic: str) -> str:
    plan = await llm(
        f"Break the research on {topic} into three independent tasks. "
        "Answer with <tasks><task>...</task></tasks>."
    )
    tasks = parse_tasks(plan)
    results = await worker.starmap([(t, topic) for t in tasks])
    notes = "\n\n".join(results)
    return await llm(f"Synthesise these findings into one page:\n\n{notes}")


async def main() -> None:
    await research("the European heat pump market")


ANSWERS = {
    r"^Break the research": (
        "<tasks>\n"
        "  <task>Compare heat pump subsidies across EU countries</task>\n"
        "  <task>List the five largest heat pump manufacturers</task>\n"
        "  <task>Estimate installation costs for a typical home</task>\n"
        "</tasks>"
    ),
    r"Your task: Compare": (
        "Germany covers up to 70 percent of costs, France offers fixed grants by income, "
        "and Italy grants a tax credit spread over ten years."
    ),
    r"Your task: List": (
        "Daikin, Mitsubishi Electric, Viessmann, NIBE and Vaillant lead by units sold."
    ),
    r"Your task: Estimate": (
        "An air-to-water system for a detached house runs 9,000 to 14,000 euros installed."
    ),
    r"^Synthesise": (
        "Subsidies shape demand more than prices: Germany's generous grants and Italy's "
        "tax credit offset installation costs that reach 14,000 euros, and five makers "
        "share most of the market."
    ),
}
CALLS = {
    "plan": r"^Break the research",
    "worker": r"Your task: (\w+)",
    "synthesis": r"^Synthesise",
}
DEPENDS = ["plan -> worker -> synthesis"]

if __name__ == "__main__":
    fanscope.configure(service_name="orchestrator-xml")
    asyncio.run(main())
