"""Threads that put their answers on a ``queue.Queue`` the step drains afterwards.

Sync client. The plan answer lists regions; one ``threading.Thread`` per region runs a nested
function that asks for the region's sales note and puts it on a results queue (a closure
variable of the step). The step joins the threads, drains the queue, and asks for the
forecast. A greeting asked before the plan reads nothing.
"""

from __future__ import annotations

import queue
import threading

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


@traced
def forecast(quarter: str) -> str:
    greeting = llm("Greet the sales leads in five words.")
    results: queue.Queue[str] = queue.Queue()

    def note(region: str) -> None:
        results.put(llm(f"Sales note for region {region} in {quarter}, one line."))

    plan = llm(f"Which regions matter for {quarter}? Comma-separated codes.")
    threads = [
        threading.Thread(target=note, args=(code.strip().upper(),)) for code in plan.split(",")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notes = sorted(results.get() for _ in threads)
    outlook = llm("Forecast from these notes:\n" + "\n".join(notes))
    return f"{greeting}\n{outlook}"


def main() -> None:
    forecast("Q3")


ANSWERS = {
    r"^Greet the sales leads": "Hello, sales leads, good luck!",
    r"^Which regions matter": "emea, apac",
    r"^Sales note for region EMEA": "EMEA renewals up 8%.",
    r"^Sales note for region APAC": "APAC pipeline thin in July.",
    r"^Forecast from these notes": "Flat quarter: EMEA offsets APAC.",
}
CALLS = {
    "greeting": r"^Greet the sales leads",
    "plan": r"^Which regions matter",
    "note": r"^Sales note for region (\w+)",
    "outlook": r"^Forecast from these notes",
}
DEPENDS = ["plan -> note -> outlook"]

if __name__ == "__main__":
    fanscope.configure(service_name="thread-results-queue")
    main()
