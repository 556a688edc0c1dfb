"""Producer and consumers on a ``queue.Queue``: worker threads started inside the step.

Sync client. A planner names the cities; the step puts each one, upper-cased, on a queue that
two ``threading.Thread`` workers drain, keeping their answers in a shared dict; a packing list
reads them all. A currency tip, asked first, reads nothing of the plan.
"""

from __future__ import annotations

import queue
import threading

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def ask(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text.strip()


def worker(jobs: queue.Queue[str | None], found: dict[str, str], lock: threading.Lock) -> None:
    while True:
        city = jobs.get()
        if city is None:
            return
        answer = ask(f"Forecast for {city} next week, one line.")
        with lock:
            found[city] = answer


@traced
def trip(question: str) -> str:
    tip = ask("One tip for paying abroad without fees.")
    plan = ask(f"Which three cities, comma separated, for: {question}")
    jobs: queue.Queue[str | None] = queue.Queue()
    found: dict[str, str] = {}
    lock = threading.Lock()
    workers = [threading.Thread(target=worker, args=(jobs, found, lock)) for _ in range(2)]
    for thread in workers:
        thread.start()
    for city in plan.split(","):
        jobs.put(city.strip().upper())
    for _ in workers:
        jobs.put(None)
    for thread in workers:
        thread.join()
    forecasts = "\n".join(f"{c}: {f}" for c, f in sorted(found.items()))
    packing = ask(f"Write a packing list for these forecasts:\n{forecasts}")
    return f"{tip}\n{packing}"


def main() -> None:
    trip("a rail week in the Alps in October")


ANSWERS = {
    r"^One tip for paying abroad": "Use a card without foreign fees and pay in the local currency.",
    r"^Which three cities": "Zermatt, Innsbruck, Chamonix",
    r"Forecast for ZERMATT": "Cold and clear, first snow above 2,000 m.",
    r"Forecast for INNSBRUCK": "Mild days, foggy mornings in the valley.",
    r"Forecast for CHAMONIX": "Rain midweek, sunny weekend.",
    r"^Write a packing list": "Warm layers, a rain shell, good boots and sunglasses.",
}
CALLS = {
    "tip": r"^One tip for paying abroad",
    "plan": r"^Which three cities",
    "forecast": r"Forecast for (\w+)",
    "packing": r"^Write a packing list",
}
DEPENDS = ["plan -> forecast -> packing"]

if __name__ == "__main__":
    fanscope.configure(service_name="queue-workers")
    main()
