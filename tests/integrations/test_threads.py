"""After configure(), work in threads and thread pools nests under the span that started it,
and waiting for a busy pool's worker is waiting in line, as cookbook agents are written: the
sync ``anthropic`` client against the stand-in, a ``parallel()`` helper on
``ThreadPoolExecutor``, state on ``self``, a worker ``threading.Thread``.

Each agent runs in a fresh interpreter (configure() instruments threading process-wide).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fanscope.analysis.readers import read_file
from fanscope.testing.anthropic_server import AnthropicStandIn

AGENT = textwrap.dedent(
    """
    import sys, threading
    from concurrent.futures import ThreadPoolExecutor
    import anthropic
    import fanscope

    fanscope.configure(service_name="cookbook", trace_file=sys.argv[2])
    client = anthropic.Anthropic(base_url=sys.argv[1], api_key="k")

    def llm_call(prompt: str, model: str = "claude-haiku-5-5") -> str:
        message = client.messages.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": prompt}]
        )
        return message.content[0].text

    def parallel(prompt: str, inputs: list[str], n_workers: int = 2) -> list[str]:
        with ThreadPoolExecutor(max_workers=n_workers) as executor:
            futures = [executor.submit(llm_call, f"{prompt}\\nInput: {x}") for x in inputs]
            return [f.result() for f in futures]

    class Researcher:
        def __init__(self) -> None:
            self.notes: list[str] = []

        @fanscope.traced
        def sectors(self) -> list[str]:
            return parallel("Summarize the quarter", ["cloud", "storage", "europe", "risk",
                                                      "pricing", "churn"])

        @fanscope.traced
        def background(self) -> None:
            worker = threading.Thread(target=lambda: self.notes.append(llm_call("Outlook?")))
            worker.start()
            worker.join()

        @fanscope.traced
        def run(self) -> int:
            self.background()
            return len(self.sectors()) + len(self.notes)

    print(Researcher().run())
    """
)


def run_agent(tmp_path: Path, code: str, url: str, prints: str = "7") -> Path:
    out = tmp_path / "agent.jsonl"
    (tmp_path / "agent.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "agent.py"), url, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == prints
    return out


@pytest.fixture(scope="module")
def agent_trace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("threads")
    with AnthropicStandIn(latency=0.05) as server:
        out = run_agent(tmp_path, AGENT, server.url)
    spans = {s.span_id: s for s in read_file(out).spans}
    return out, spans


def test_pool_and_thread_work_nests_under_the_span_that_submitted_it(
    agent_trace: tuple[Path, dict[str, Any]],
) -> None:
    _, spans = agent_trace
    by_name: dict[str, list[Any]] = {}
    for span in spans.values():
        by_name.setdefault(span.name, []).append(span)
    (run,) = by_name["run"]
    (sectors,) = by_name["sectors"]
    (background,) = by_name["background"]
    assert len({s.trace_id for s in spans.values()}) == 1, "a call became its own trace"
    chats = by_name["chat claude-haiku-5-5"]
    assert len(chats) == 7
    assert sorted(spans[c.parent_id].name for c in chats) == ["background"] + ["sectors"] * 6
    assert sectors.parent_id == run.span_id and background.parent_id == run.span_id


def test_a_call_in_a_thread_names_the_line_that_made_the_thread(
    agent_trace: tuple[Path, dict[str, Any]],
) -> None:
    _, spans = agent_trace
    (background,) = [s for s in spans.values() if s.name == "background"]
    (chat,) = [s for s in spans.values() if s.parent_id == background.span_id]
    made = 1 + AGENT.splitlines().index(
        next(line for line in AGENT.splitlines() if "threading.Thread(target=" in line)
    )
    assert chat.attributes["code.function.name"] == "__main__.Researcher.background"
    assert chat.attributes["code.line.number"] == made
    assert chat.attributes.get("fanscope.callsite.started") is True
    assert "fanscope.callsite.nearest" not in chat.attributes


def test_waiting_for_a_busy_pool_is_a_queue_wait_span(
    agent_trace: tuple[Path, dict[str, Any]],
) -> None:
    _, spans = agent_trace
    waits = [s for s in spans.values() if s.name == "queue wait"]
    # six jobs on two workers: the last four found both workers busy
    assert len(waits) == 4
    (sectors,) = [s for s in spans.values() if s.name == "sectors"]
    for wait in waits:
        assert wait.parent_id == sectors.span_id
        assert wait.attributes["fanscope.role"] == "queue"
        assert wait.attributes["fanscope.queue.reason"] == "pool"
        assert wait.attributes["fanscope.queue.max_workers"] == 2
        assert str(wait.attributes["fanscope.queue.limiter"]).startswith("ThreadPoolExecutor")
        assert wait.end > wait.start
    chats = sorted(
        (s for s in spans.values() if s.name.startswith("chat") and s.parent_id == sectors.span_id),
        key=lambda s: s.start,
    )
    # each wait ends when a worker picks the job up: no later than its call starts
    for wait in waits:
        assert any(0 <= c.start - wait.end < 50_000_000 for c in chats)


def test_the_analyzer_counts_the_pool_wait_as_waiting_in_line(
    agent_trace: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = agent_trace
    done = subprocess.run(
        [sys.executable, "-m", "fanscope", "analyze", str(out), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)["traces"]
    assert report["queue_wait_on_path"] > 0
    (pool,) = report["queue_waits"]
    assert pool["kind"] == "pool"
    assert pool["holder"] == "sectors"
    assert pool["waited"] == pool["branches"] == 4
    assert pool["max_concurrency"] == 2
    assert pool["limiter"].startswith("ThreadPoolExecutor")
    assert report["queue_wait_total"] == pytest.approx(pool["wait"])
    text = analyze_text(out)
    assert "behind caps: none" not in text
    assert re.search(
        r"sectors: 4 jobs waited for a worker of thread pool ThreadPoolExecutor-\d+ "
        r"\(max_workers 2\)",
        text,
    ), text


def analyze_text(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "fanscope", "analyze", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# asyncio.to_thread, as the docs of many libraries suggest for blocking calls: twice as many
# calls as its default pool has workers (min(32, cpu_count + 4), whatever the machine)
TO_THREAD = textwrap.dedent(
    """
    import asyncio, os, sys
    import anthropic
    import fanscope

    fanscope.configure(service_name="to-thread", trace_file=sys.argv[2])
    client = anthropic.Anthropic(base_url=sys.argv[1], api_key="k")
    WORKERS = min(32, (os.cpu_count() or 1) + 4)

    def blurb(product: str) -> str:
        message = client.messages.create(
            model="claude-haiku-5-5", max_tokens=64,
            messages=[{"role": "user", "content": f"A blurb for {product}"}],
        )
        return message.content[0].text

    @fanscope.traced
    async def blurbs() -> int:
        products = [f"kettle {i}" for i in range(2 * WORKERS)]
        texts = await asyncio.gather(*(asyncio.to_thread(blurb, p) for p in products))
        return len(texts)

    print(asyncio.run(blurbs()))
    """
)


def test_asyncio_to_thread_s_hidden_cap_is_named_in_the_report(tmp_path: Path) -> None:
    workers = min(32, (os.cpu_count() or 1) + 4)
    with AnthropicStandIn(latency=0.5) as server:
        out = run_agent(tmp_path, TO_THREAD, server.url, prints=str(2 * workers))
    spans = list(read_file(out).spans)
    (step,) = [s for s in spans if s.name == "blurbs"]
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 2 * workers
    assert all(c.parent_id == step.span_id for c in chats)
    waits = [s for s in spans if s.name == "queue wait"]
    # the first WORKERS jobs found a free worker; the others waited for one (all of them,
    # unless a call ended before the last job was submitted)
    assert 1 <= len(waits) <= workers
    assert {w.attributes["fanscope.queue.limiter"] for w in waits} == {"asyncio"}
    text = analyze_text(out)
    assert (
        f"blurbs: {len(waits)} jobs waited for a worker of asyncio's default thread pool "
        f"(asyncio.to_thread, max_workers {workers})"
    ) in text, text


POOL_AGENT = textwrap.dedent(
    """
    import sys
    from multiprocessing.pool import ThreadPool
    import anthropic
    import fanscope

    fanscope.configure(service_name="pool", trace_file=sys.argv[2])
    client = anthropic.Anthropic(base_url=sys.argv[1], api_key="k")
    POOL = ThreadPool(2)  # made once, at import: its workers start with no span current

    def ask(q: str) -> str:
        message = client.messages.create(
            model="claude-haiku-5-5", max_tokens=9, messages=[{"role": "user", "content": q}]
        )
        return message.content[0].text

    @fanscope.traced
    def research() -> int:
        found = POOL.map(ask, ["a", "b"]) + POOL.starmap(ask, [("c",)])
        found += [POOL.apply_async(ask, ("d",)).get(), *POOL.imap_unordered(ask, ["e", "f"])]
        return len(found)

    print(research())
    """
)


def test_a_thread_pool_made_at_import_runs_each_job_under_the_span_that_submitted_it(
    tmp_path: Path,
) -> None:
    with AnthropicStandIn(latency=0.01) as server:
        out = run_agent(tmp_path, POOL_AGENT, server.url, prints="6")
    spans = {s.span_id: s for s in read_file(out).spans}
    chats = [s for s in spans.values() if s.name.startswith("chat ")]
    assert len(chats) == 6
    assert len({s.trace_id for s in spans.values()}) == 1, "a job became its own trace"
    assert {spans[c.parent_id].name for c in chats if c.parent_id in spans} == {"research"}
    assert all(c.parent_id in spans for c in chats)


ROOT = Path(__file__).resolve().parents[2]
THREADED = [
    "p05_orchestrator_json_threads",
    "p14_thread_pool_helper",
    "p28_pool_in_method",
    "p33_run_in_executor",
    "p38_queue_workers",
    "p39_as_completed",
    "p41_thread_subclass",
    "p45_sync_parallel_aio",
]


@pytest.mark.parametrize("name", THREADED)
def test_the_threaded_agents_of_the_corpus_keep_every_call_under_its_caller(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")  # the programs build clients at import
    module = importlib.import_module(f"tests.agents.{name}")
    out = tmp_path / "trace.jsonl"
    with AnthropicStandIn(answers=module.ANSWERS) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            ANTHROPIC_BASE_URL=server.url,
            ANTHROPIC_API_KEY="test-key",
            FANSCOPE_TRACE_FILE=str(out),
            PYTHONPATH=str(ROOT),
        )
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "agents" / f"{name}.py")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    spans = {s.span_id: s for s in read_file(out).spans}
    chats = [s for s in spans.values() if s.name.startswith("chat ")]
    assert chats
    assert len({s.trace_id for s in spans.values()}) == 1, "a call became its own trace"
    for chat in chats:
        assert chat.parent_id in spans, f"{chat.name} lost its parent"
