"""End to end: what configure() exports over OTLP arrives whole in a real trace backend.

The backend is Arize Phoenix (``phoenix serve``), which stores OTLP/HTTP spans and returns
them, with their parents, from its REST API. It is heavy (about 850 MB), so it is installed
and this test run by CI's integration step (``.ci/run``), inside a network namespace with
only loopback (Phoenix's gRPC receiver binds every interface). Locally::

    PHOENIX_BIN=/path/to/venv/bin/phoenix unshare -n sh -c 'ip link set lo up && \
        .venv/bin/pytest -m integration tests/integration'
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

PHOENIX_BIN = os.environ.get("PHOENIX_BIN")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def phoenix(tmp_path: Path) -> Iterator[str]:
    if not PHOENIX_BIN:
        pytest.skip("PHOENIX_BIN is not set: CI's integration step installs Phoenix and sets it")
    port, grpc_port = free_port(), free_port()
    env = dict(
        os.environ,
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_WORKING_DIR=str(tmp_path / "phoenix"),
    )
    log = open(tmp_path / "phoenix.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([PHOENIX_BIN, "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v1/projects/default/spans", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        "phoenix did not start: " + (tmp_path / "phoenix.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def stored_spans(base: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base}/v1/projects/default/spans?limit=100", timeout=10) as r:
        return list(json.load(r)["data"])


def test_a_nested_fanout_arrives_whole_with_its_parents(phoenix: str) -> None:
    code = textwrap.dedent(
        f"""
        import asyncio
        import fanscope
        from fanscope import parallel, traced

        fanscope.configure(service_name="e2e", otlp_endpoint={phoenix!r}, trace_file=False)

        @parallel(max_concurrency=2)
        async def leaf(i: int) -> int:
            await asyncio.sleep(0.001)
            return i

        @parallel
        async def node(n: int) -> list[int]:
            return await leaf.map(range(n))

        @traced
        async def agent() -> object:
            return await node.map([1, 2])

        print(asyncio.run(agent()))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    spans: list[dict[str, Any]] = []
    for _ in range(40):
        spans = stored_spans(phoenix)
        if len(spans) >= 11:
            break
        time.sleep(0.5)
    names = sorted(s["name"] for s in spans)
    outer = ["agent", "map node", "node", "node", "fan-in node"]
    inner = ["map leaf", "map leaf", "leaf", "leaf", "leaf", "fan-in leaf", "fan-in leaf"]
    assert names == sorted([*outer, *inner])
    by_id = {s["context"]["span_id"]: s for s in spans}
    (root,) = [s for s in spans if not s.get("parent_id")]
    assert root["name"] == "agent"
    for span in spans:
        if span is root:
            continue
        parent = by_id[span["parent_id"]]
        expected = {
            "map node": "agent",
            "node": "map node",
            "fan-in node": "map node",
            "map leaf": "node",
            "leaf": "map leaf",
            "fan-in leaf": "map leaf",
        }[span["name"]]
        assert parent["name"] == expected
        assert span["context"]["trace_id"] == root["context"]["trace_id"]
