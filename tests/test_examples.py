"""The examples run as a newcomer runs them, and say which server they talk to.

Each example runs in its own process, as ``python examples/NAME.py``: offline it starts the
stand-in on a free port of 127.0.0.1; given ``ANTHROPIC_BASE_URL`` it checks that the stand-in
answers there; another server without an API key is a one-line error, and gets no request.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from fanscope.analysis import read_file
from fanscope.testing import AnthropicStandIn

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
AGENTS = ["research_agent.py", "summarize_docs.py", "merge_gate.py"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OTEL_", "FANSCOPE_", "PYTEST_"))
    }
    env.update(extra)
    return env


def run_example(
    name: str, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_clean_trace(path: Path) -> None:
    spans = read_file(path).spans
    assert len({s.trace_id for s in spans}) == 1, "one run, one trace"
    outcomes = {s.attributes.get("fanscope.branch.outcome") for s in spans}
    assert not outcomes & {"error", "timeout"}, outcomes


@pytest.mark.parametrize("name", AGENTS)
def test_offline_an_example_starts_its_own_stand_in_on_a_free_port_and_says_so(
    name: str, tmp_path: Path
) -> None:
    trace = tmp_path / "trace.jsonl"
    done = run_example(name, tmp_path, clean_env(), "--trace", str(trace))
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("using ")]
    found = re.fullmatch(
        r"using the fanscope stand-in started at http://127\.0\.0\.1:(\d+) "
        r"\(a free port; no API key set\)",
        line,
    )
    assert found, line
    assert "Traceback" not in done.stderr
    one_clean_trace(trace)
    assert "critical path" in done.stdout  # the example printed the analyzer's report


def test_the_sync_agent_starts_its_own_stand_in_and_says_so(tmp_path: Path) -> None:
    done = run_example("sync_agent.py", tmp_path, clean_env(), "the bus market")
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"^using the fanscope stand-in started at http://127\.0\.0\.1:\d+ ", done.stderr, re.M
    ), done.stderr
    one_clean_trace(tmp_path / ".fanscope" / "sync_agent.jsonl")
    assert "critical path" in done.stdout
    # the plan is parsed from the model's answer: one worker per <task> in it
    spans = read_file(tmp_path / ".fanscope" / "sync_agent.jsonl").spans
    workers = [s.attributes.get("fanscope.branch.index") for s in spans if s.name == "work"]
    assert sorted(workers) == [0, 1, 2]


def test_given_the_stand_ins_url_an_example_checks_it_and_sends_its_calls_there(
    tmp_path: Path,
) -> None:
    with AnthropicStandIn(latency=0.01) as server:
        env = clean_env(ANTHROPIC_BASE_URL=server.url)
        done = run_example("research_agent.py", tmp_path, env, "--quiet", "--trace", "t.jsonl")
        requests = server.stats.requests
    assert done.returncode == 0, done.stderr
    assert f"using the fanscope stand-in at {server.url} (ANTHROPIC_BASE_URL)" in done.stderr
    assert requests == 5  # four sources and the synthesis, all to this server
    one_clean_trace(tmp_path / "t.jsonl")


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Some other web server: answers 200 to everything, remembers the requests."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        body = b"<html>another service</html>"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # pragma: no cover - what must not happen
        self.seen.append(f"POST {self.path}")
        self.send_response(500)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[tuple[str, list[str]]]:
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    server.shutdown()
    server.server_close()


def test_another_server_on_the_port_is_a_one_line_error_not_a_silent_switch(
    other_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = other_server
    done = run_example(
        "research_agent.py", tmp_path, clean_env(ANTHROPIC_BASE_URL=url), "--trace", "t.jsonl"
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        f"research_agent.py: ANTHROPIC_BASE_URL={url} is not fanscope's stand-in"
    )
    assert "unset ANTHROPIC_BASE_URL" in line and "ANTHROPIC_API_KEY" in line
    assert seen == ["GET /_stats"]  # it asked who answers, and sent no model call


def test_the_stand_in_runs_a_command_on_a_free_port_and_returns_its_status(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "fanscope.testing.anthropic_server", "--latency", "0.01",
               "--", sys.executable, str(EXAMPLES / "research_agent.py"), "--quiet",
               "--trace", "t.jsonl"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    started = re.search(r"Anthropic stand-in on (http://127\.0\.0\.1:\d+) for: ", done.stderr)
    assert started, done.stderr
    assert f"using the fanscope stand-in at {started.group(1)} (ANTHROPIC_BASE_URL)" in done.stderr
    one_clean_trace(tmp_path / "t.jsonl")
    key_length = "import os, sys; sys.exit(len(os.environ['ANTHROPIC_API_KEY']))"
    failing = [sys.executable, "-m", "fanscope.testing.anthropic_server", "--",
               sys.executable, "-c", key_length]  # fmt: skip
    status = subprocess.run(failing, env=clean_env(), capture_output=True).returncode
    assert status == len("stand-in")  # the command's own status, and it saw the placeholder key


def test_make_demo_runs_both_agents_and_its_claims_hold(tmp_path: Path) -> None:
    """The demo's own claims: the sequential run's four lookups are one opportunity, found by
    both witnesses; the speed-up predicted from it is the one the parallel run measured (to a
    relative tolerance; answers 4x slower than ``make demo``'s, so a loaded machine's
    overheads weigh little); the parallel run has nothing left to run together."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), "--latency-scale", "4"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    demo = tmp_path / ".fanscope" / "demo"
    traces = {m: demo / f"research-{m}.jsonl" for m in ("sequential", "parallel")}
    for path in traces.values():
        one_clean_trace(path)
        assert path.with_suffix(".html").stat().st_size > 0
    # what the demo printed: the opportunity, by line, and both speed-ups
    agent = EXAMPLES / "research_agent.py"
    lines = agent.read_text().splitlines()
    lookups = ["search_news", "fetch_filings", "price_feed", "query_db"]
    at = {
        n: next(i for i, t in enumerate(lines, 1) if f"await {n}(q" in t)
        for n in [*lookups, "synthesize"]
    }
    four = ", :".join(str(at[n]) for n in lookups)
    sentence = (
        f"under research: run examples/research_agent.py:{four} together; "
        f"keep :{at['synthesize']} after them"
    )
    sequential, parallel = out.split("=== parallel run")[0], out.split("=== parallel run")[1]
    assert sentence in sequential, sequential
    assert "candidates" not in sequential  # both witnesses looked at every pair
    assert "under research: run" not in parallel, parallel
    speedups = re.search(r"speed-up over sequential\s+([\d.]+)x\s+([\d.]+)x", out)
    assert speedups, out
    predicted, measured = float(speedups.group(1)), float(speedups.group(2))
    assert predicted > 1.5 and measured > 1.5, out  # there was something to gain, and it was
    assert abs(predicted / measured - 1) <= 0.25, out
    # what each run cost: the same five calls, so the same amount (running together is no dearer)
    spent = dict(re.findall(r"^  (sequential|parallel) +(\$[\d.]+ for 5 calls \(.*\))$", out, re.M))
    assert spent.keys() == {"sequential", "parallel"}, out
    assert spent["sequential"] == spent["parallel"], out
    # the JSON says the same: one opportunity of the four lookups, all pairs independent
    from fanscope.analysis import analyze
    from fanscope.analysis.dependencies import Witnesses

    witnesses = Witnesses(source_root=ROOT)
    (seq,) = analyze(read_file(traces["sequential"]).spans, witnesses=witnesses).to_dict()["traces"]
    (o,) = seq["opportunities"]
    assert [[r["name"] for r in g] for g in o["run_together"]] == [lookups]
    said = {(e["later"]["name"], e["classification"], e["decided_by"]) for e in o["evidence"]}
    assert said == {
        *((n, "independent", "both") for n in lookups[1:]),
        ("synthesize", "dependent", "both"),
    }, o["evidence"]
    assert seq["candidate_pairs"] == 0 and seq["unknown_pairs"] == 0
    (par,) = analyze(read_file(traces["parallel"]).spans, witnesses=witnesses).to_dict()["traces"]
    assert par["opportunities"] == [] and par["candidates"] == []
