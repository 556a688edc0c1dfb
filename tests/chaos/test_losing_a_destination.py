"""A destination lost in the middle of a run: the program, its results and the other
destination's spans survive, and what was lost is counted in one line.

``test_exporting.py`` starts programs whose endpoint is bad from the start. Here a real OTLP
receiver on loopback takes the first fan-out and then goes away while the program runs on,
and a trace file stops taking bytes in the middle of the run (the file size limit of
``setrlimit``: each write past it fails with ``EFBIG``, as a full disk fails with ``ENOSPC``).
The phases follow each other by events: the program says when the first fan-out's spans
were sent, the test takes the receiver down and tells it to go on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from fanscope.analysis.readers import read_file

AGENT = textwrap.dedent(
    """
    import asyncio, sys
    from opentelemetry import trace
    import fanscope

    fanscope.configure(service_name="phases", shutdown_timeout=1.0, **KWARGS)

    @fanscope.parallel(max_concurrency=8)
    async def look_up(i: int) -> int:
        await asyncio.sleep(0)
        return i * i

    first = asyncio.run(look_up.map(range(40)))
    trace.get_tracer_provider().force_flush()
    print("sent", flush=True)
    sys.stdin.readline()  # the test took the receiver down
    second = asyncio.run(look_up.map(range(40, 80)))
    print(sum(first) + sum(second), flush=True)
    """
)
SPANS_PER_FAN_OUT = 42  # 40 branches, the fan-out and its fan-in
EXPECTED = sum(i * i for i in range(80))


class Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that keeps every span name it is sent."""

    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.extend(
            s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def start(code: str, preexec: object = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=preexec,  # type: ignore[arg-type]
    )


def fanscope_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("fanscope:")]


def test_an_endpoint_that_dies_mid_run_costs_its_own_spans_only(
    receiver: ThreadingHTTPServer, tmp_path: Path
) -> None:
    trace_file = tmp_path / "t.jsonl"
    url = f"http://127.0.0.1:{receiver.server_address[1]}"
    agent = start(
        AGENT.replace("**KWARGS", f"otlp_endpoint={url!r}, trace_file={str(trace_file)!r}")
    )
    assert agent.stdout is not None and agent.stdin is not None
    assert agent.stdout.readline() == "sent\n"
    assert len(Receiver.received) == SPANS_PER_FAN_OUT  # the first fan-out arrived whole
    receiver.shutdown()
    receiver.server_close()  # the port refuses from now on
    out, err = agent.communicate("go\n", timeout=120)
    assert agent.returncode == 0, err[-3000:]
    assert out.split() == [str(EXPECTED)]  # the program's results
    assert len(Receiver.received) == SPANS_PER_FAN_OUT  # (nothing arrived after)
    # the trace file, the other destination, has every span of both fan-outs
    assert len(read_file(trace_file).spans) == 2 * SPANS_PER_FAN_OUT
    # one line says what the dead endpoint lost: the second fan-out's spans
    (said,) = fanscope_lines(err)
    assert said.startswith(f"fanscope: {SPANS_PER_FAN_OUT} of {2 * SPANS_PER_FAN_OUT} spans did "
                           f"not reach OTLP {url}"), err  # fmt: skip
    assert "the program's results are unaffected" in said


def _small_files() -> None:  # in the child, before it runs: writes past 64 KB fail
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))


def test_a_trace_file_that_stops_taking_bytes_mid_run_keeps_whole_lines_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    trace_file = tmp_path / "t.jsonl"
    # the first fan-out's spans fit in the 64 KB, the second's do not
    code = AGENT.replace("**KWARGS", f"trace_file={str(trace_file)!r}").replace(
        "range(40, 80)", "range(40, 440)")  # fmt: skip
    agent = start(code, _small_files)
    out, err = agent.communicate("go\n", timeout=120)
    assert agent.returncode == 0, err[-3000:]
    assert out.split() == ["sent", str(sum(i * i for i in range(440)))]  # results unaffected
    said = fanscope_lines(err)
    assert len(said) == 2, err  # the failure, said once; what it cost, said at exit
    assert "File too large)" in said[0] and "the program goes on" in said[0]
    ended = SPANS_PER_FAN_OUT + 402
    dropped = int(said[1].split()[1].replace(",", ""))
    assert said[1].startswith(f"fanscope: {dropped:,} of {ended} spans did not reach file ")
    # every span is in the file or counted, never both: the file holds whole lines only
    lines = trace_file.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a whole line
    assert all(json.loads(line) for line in lines[:-1])
    kept = read_file(trace_file)
    assert len(kept.spans) == ended - dropped >= SPANS_PER_FAN_OUT
    # no torn line to skip; the drop record, small enough to fit, tells the reader what is
    # missing (docs/configure.md)
    (warning,) = kept.warnings
    assert f"partial traces: the exporter dropped {dropped:,} span(s)" in warning
