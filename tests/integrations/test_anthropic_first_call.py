"""The first model calls of a process carry none of fanscope's one-time work.

``fanscope.configure()`` imports the price table (40-75 ms of CPU after ``anthropic``) and
collects the garbage of start-up before it returns. Before, the table was imported on a thread
beside the first calls, and Python's first full garbage collection of start-up's objects (about
180,000 of them with the SDK, OpenTelemetry and the table) fell inside the first calls' spans:
the first wave of four calls took 165-211 ms of CPU against 15-28 ms for the next, and 2.6-3.3x
the next wave's wall time (``docs/anthropic.md``, "The first call").

Decided by events, not by time: a process configures fanscope, then makes its first calls
through the real client to the stand-in, counting full collections (generation 2) that start
while a call is in flight, and saying whether the table was ready when ``configure()``
returned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fanscope.testing.anthropic_server import AnthropicStandIn

ROOT = Path(__file__).resolve().parents[2]

AGENT = """
import asyncio, gc, json, sys
import anthropic
import fanscope
from fanscope.sdk import prices

fanscope.configure(service_name="first-call", trace_file=sys.argv[1])
ready = prices._table_ready.is_set()
client = anthropic.AsyncAnthropic()
in_flight = 0
full_collections = []

def watch(phase, info):
    if phase == "start" and info["generation"] == 2 and in_flight:
        full_collections.append(in_flight)

async def ask(prompt):
    global in_flight
    in_flight += 1
    try:
        await client.messages.create(
            model="claude-haiku-5-5", max_tokens=50, messages=[{"role": "user", "content": prompt}]
        )
    finally:
        in_flight -= 1

async def main():
    gc.callbacks.append(watch)
    await asyncio.gather(*(ask(f"question {i}") for i in range(4)))
    await asyncio.gather(*(ask(f"follow-up {i}") for i in range(4)))
    gc.callbacks.remove(watch)
    await client.close()

asyncio.run(main())
print(json.dumps({"ready": ready, "full_collections": len(full_collections)}))
"""


def test_no_full_garbage_collection_and_no_price_table_import_beside_the_first_calls(
    tmp_path: Path,
) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OTEL_"))}
    with AnthropicStandIn(latency=0.02) as server:
        env |= {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "stand-in"}
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "t.jsonl")],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"ready": True, "full_collections": 0}, found
