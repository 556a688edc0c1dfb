"""``asyncio.Queue`` workers: an extraction's JSON, round-tripped, feeds the checks.

Async client. An extractor returns JSON; the step loads it, keeps two fields, dumps them again
and puts one job per field on an ``asyncio.Queue`` that two worker tasks drain into a list on
the agent object. A verdict reads the checks. A greeting, asked first, reads nothing.
"""

from __future__ import annotations

import asyncio
import json

import anthropic

import fanscope
from fanscope import traced

client = anthropic.AsyncAnthropic()


async def ask(prompt: str) -> str:
    reply = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


class InvoiceDesk:
    def __init__(self) -> None:
        self.checks: list[str] = []

    async def worker(self, jobs: asyncio.Queue[str]) -> None:
        while True:
            job = await jobs.get()
            try:
                self.checks.append(await ask(f"Check this field against policy: {job}"))
            finally:
                jobs.task_done()

    @traced
    async def review(self, invoice: str) -> str:
        greeting = await ask("Greet the finance team in five words.")
        fields = json.loads(await ask(f"Extract vendor and total as JSON from: {invoice}"))
        jobs: asyncio.Queue[str] = asyncio.Queue()
        for key in ("vendor", "total"):
            jobs.put_nowait(json.dumps({key: fields[key]}, sort_keys=True))
        workers = [asyncio.create_task(self.worker(jobs)) for _ in range(2)]
        await jobs.join()
        for task in workers:
            task.cancel()
        verdict = await ask("Approve or hold, given:\n" + "\n".join(sorted(self.checks)))
        return f"{greeting} {verdict}"


async def main() -> None:
    await InvoiceDesk().review("Invoice 7731 from Northwind Traders, 1,240.00 EUR, net 30.")


ANSWERS = {
    r"^Greet the finance team": "Good morning, numbers people!",
    r"^Extract vendor and total": {"vendor": "Northwind", "total": 1240},
    r'Check this field against policy: \{"vendor"': "Approved vendor since 2021.",
    r'Check this field against policy: \{"total"': "Under the 5,000 EUR threshold.",
    r"^Approve or hold": "Approve.",
}
CALLS = {
    "greeting": r"^Greet the finance team",
    "extract": r"^Extract vendor and total",
    "check": r'Check this field against policy: \{"(\w+)"',
    "verdict": r"^Approve or hold",
}
DEPENDS = ["extract -> check -> verdict"]

if __name__ == "__main__":
    fanscope.configure(service_name="asyncio-queue")
    asyncio.run(main())
