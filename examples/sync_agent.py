"""A sync agent, as cookbooks write them: the sync client, a plan parsed from XML, workers.

    python examples/sync_agent.py "the electric bus market"

An orchestrator asks for a plan, parses it into short tasks, runs one worker per task on
threads (at most four at once), and writes the report from the workers' notes. Nothing is
async: ``@parallel`` on a plain ``def`` runs the fan-out on threads it owns. Runs offline
against the bundled stand-in (started on a free port; ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY
are honoured as in the other examples, see ``_client.py``) and prints the analyzer's report.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import anthropic
from _client import MODEL, print_report, sync_anthropic_client, text_of

import fanscope
from fanscope import parallel, traced

# what the bundled stand-in answers to the plan request (a real model writes its own)
PLAN = "<tasks><task>market size</task><task>main makers</task><task>prices</task></tasks>"


class Researcher:
    def __init__(self, client: anthropic.Anthropic) -> None:
        self.client = client
        self.notes: dict[str, str] = {}  # state on self, as such agents keep it

    def ask(self, prompt: str) -> str:
        message = self.client.messages.create(
            model=MODEL, max_tokens=300, messages=[{"role": "user", "content": prompt}]
        )
        return text_of(message)

    @traced
    def plan(self, topic: str) -> list[str]:
        answer = self.ask(f"[plan] Split research on {topic} into tasks, as <task> tags.")
        tasks = [t.strip() for t in re.findall(r"<task>(.*?)</task>", answer, re.S)]
        return tasks or [topic]  # a server that ignored the format: one task, the whole topic

    @parallel(max_concurrency=4)  # was: ThreadPoolExecutor(max_workers=4).map(work, tasks)
    def work(self, task: str) -> str:
        return self.ask(f"[worker] Research {task}.")

    @traced
    def run(self, topic: str) -> str:
        tasks = self.plan(topic)
        self.notes = dict(zip(tasks, self.work.map(tasks), strict=True))
        return self.ask("[synthesis] Write the report from: " + " | ".join(self.notes.values()))


def main() -> None:
    topic = sys.argv[1] if len(sys.argv) > 1 else "the electric bus market"
    trace_file = ".fanscope/sync_agent.jsonl"
    Path(trace_file).parent.mkdir(parents=True, exist_ok=True)
    Path(trace_file).unlink(missing_ok=True)
    provider = fanscope.configure(service_name="sync-agent", trace_file=trace_file)
    latency = {"[plan]": 0.05, "[worker]": 0.10, "[synthesis]": 0.05}
    with sync_anthropic_client(latency, answers={r"^\[plan\]": PLAN}) as client:
        agent = Researcher(client)
        print(agent.run(topic)[:200])
    provider.force_flush()
    print_report(trace_file)


if __name__ == "__main__":
    main()
