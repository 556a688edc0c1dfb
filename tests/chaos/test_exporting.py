"""Exporting under faults: a dead or slow OTLP endpoint, a FIFO for a trace file, SIGTERM.

Reproductions (each a real subprocess, as an application runs):

* after a 20,000-branch fan-out, an OTLP endpoint that refuses connections, never answers or
  answers 429 delayed exit by about 30 s; exit is now bounded by ``shutdown_timeout`` and one
  line says how many spans were dropped;
* a trace file path that is a FIFO nobody reads hung the process at exit;
* SIGTERM left a trace file with 0 lines, 3 s after the fan-out ended.

Timing assertions are one-sided: the exit delay stays under the bound plus a margin that a
loaded two-core machine keeps, far below the 30 s of the reproduction.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

BOUND = 1.0  # shutdown_timeout the apps below configure
MARGIN = 9.0  # interpreter exit and a loaded machine; the reproduction took 30 s

FAN_OUT = textwrap.dedent(
    """
    import asyncio, sys, time
    import fanscope

    fanscope.configure(service_name="chaos", shutdown_timeout=BOUND, **KWARGS)

    @fanscope.parallel(max_concurrency=64)
    async def branch(i: int) -> int:
        await asyncio.sleep(0)
        return i

    results = asyncio.run(branch.map(range(BRANCHES)))
    assert len(results) == BRANCHES
    print(time.monotonic(), flush=True)
    """
)


def fan_out(kwargs: str, branches: int, env: dict[str, str] | None = None) -> str:
    return (
        FAN_OUT.replace("**KWARGS", kwargs)
        .replace("BRANCHES", str(branches))
        .replace("BOUND", repr(BOUND))
    )


def exit_delay(code: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Seconds from the end of the app's work to the end of its process, and its stderr."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
        check=False,
    )
    ended = time.monotonic()
    assert done.returncode == 0, done.stderr[-3000:]
    return ended - float(done.stdout.strip().splitlines()[-1]), done.stderr


def fanscope_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("fanscope:")]


@pytest.fixture
def refusing_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


class TooMany(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(429)
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def throttling_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TooMany)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "endpoint", ["refusing_endpoint", "silent_endpoint", "throttling_endpoint"]
)
def test_a_bad_otlp_endpoint_delays_exit_by_the_bound_and_says_what_it_dropped(
    endpoint: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(endpoint)
    delay, stderr = exit_delay(
        fan_out(f"otlp_endpoint={url!r}, trace_file=False", 20_000),
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "10"},
    )
    assert delay < BOUND + MARGIN, stderr[-2000:]
    said = [line for line in fanscope_lines(stderr) if "did not reach OTLP" in line]
    assert len(said) == 1, stderr[-2000:]
    dropped, ended = (int(n.replace(",", "")) for n in said[0].split()[1:4:2])
    assert ended == 20_002 and 0 < dropped <= ended


def test_a_fifo_trace_file_is_refused_with_one_warning_and_never_hangs(tmp_path: Path) -> None:
    fifo = tmp_path / "traces.jsonl"
    os.mkfifo(fifo)
    delay, stderr = exit_delay(fan_out(f"trace_file={str(fifo)!r}", 100))
    assert delay < BOUND + MARGIN
    said = fanscope_lines(stderr)
    assert len(said) == 1 and "is not a regular file" in said[0], stderr


def test_a_fifo_that_appears_after_configure_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "late.jsonl"
    code = fan_out(f"trace_file={str(fifo)!r}", 100).replace(
        "results = asyncio.run", f"import os; os.mkfifo({str(fifo)!r})\nresults = asyncio.run"
    )
    delay, stderr = exit_delay(code)
    assert delay < BOUND + MARGIN
    said = fanscope_lines(stderr)
    assert any("is not a regular file" in line for line in said), stderr
    assert any("did not reach file" in line for line in said), stderr


SLEEPER = textwrap.dedent(
    """
    import asyncio, signal, sys, time
    import fanscope

    THEIRS
    fanscope.configure(service_name="chaos", trace_file=sys.argv[1])

    @fanscope.parallel(max_concurrency=8)
    async def branch(i: int) -> int:
        await asyncio.sleep(0)
        return i

    asyncio.run(branch.map(range(200)))
    print("ready", flush=True)
    time.sleep(60)
    """
)


def spans_in(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(
        len(ss["spans"])
        for line in path.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
    )


def terminate_when_ready(code: str, out: Path) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_sigterm_writes_the_spans_that_ended_then_ends_as_sigterm_does(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    done = terminate_when_ready(SLEEPER.replace("THEIRS", ""), out)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert spans_in(out) == 202  # 200 branches, the fan-out and its fan-in


def test_an_apps_own_sigterm_handler_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    theirs = (
        "def theirs(signum, frame):\n"
        "    print('theirs', flush=True)\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, theirs)"
    )
    done = terminate_when_ready(SLEEPER.replace("THEIRS", theirs), out)
    assert done.stdout.strip() == "theirs"
    assert done.returncode == 3  # their handler ran, and the exit hook still wrote the spans
    assert spans_in(out) == 202


class Slow(BaseHTTPRequestHandler):
    received: ClassVar[list[ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(0.05)
        self.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_drops_from_a_full_queue_are_counted_at_the_endpoint() -> None:
    Slow.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _, stderr = exit_delay(
            fan_out(f"otlp_endpoint='http://127.0.0.1:{server.server_address[1]}'", 2_000).replace(
                "shutdown_timeout=1.0", "shutdown_timeout=60"
            ),
            # OpenTelemetry's queue, made small so that a burst overflows it
            env={"OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "32"},
        )
    finally:
        server.shutdown()
        server.server_close()
    spans = [
        s
        for r in Slow.received
        for rs in r.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]
    records = [s for s in spans if s.name == "fanscope export"]
    assert len(records) == 1, stderr[-2000:]
    attrs = {a.key: a.value for a in records[0].attributes}
    assert attrs["fanscope.role"].string_value == "export"
    dropped = attrs["fanscope.export.dropped_spans"].int_value
    assert dropped > 0
    assert dropped + (len(spans) - 1) == 2_002, "every span either arrived or was counted"
    assert attrs["fanscope.export.destination"].string_value.startswith("OTLP http://127.0.0.1:")


def test_force_flush_to_an_exporter_that_hangs_keeps_its_timeout() -> None:
    from collections.abc import Sequence

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from fanscope.exporters.processors import ExportSpanProcessor

    release = threading.Event()

    class Hangs(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            release.wait()
            return SpanExportResult.SUCCESS

    processor = ExportSpanProcessor(Hangs(), ("otlp", "http://hangs"), Resource.create({}))
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    provider.get_tracer("test").start_span("one").end()
    try:
        assert processor.force_flush(timeout_millis=50) is False
    finally:
        release.set()
    assert processor.force_flush(timeout_millis=30_000) is True
    provider.shutdown()
    assert (processor.stats.ended, processor.stats.exported, processor.stats.dropped) == (1, 1, 0)


def test_every_kind_of_write_failure_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not only the first failure: a new kind of failure is news, the same kind again is not."""
    import logging

    from fanscope.exporters.files import OTLPJsonFileExporter
    from tests.chaos.test_wire_format import batch_of

    folder = tmp_path / "traces"
    exporter = OTLPJsonFileExporter(folder / "t.jsonl")
    spans = batch_of(3, bad_at=-1, bad="fine")

    def export() -> str:
        return exporter.export(spans).name

    with caplog.at_level(logging.WARNING, logger="fanscope"):
        folder.write_text("a file where the folder should be")
        assert export() == export() == "FAILURE"  # the same kind twice: said once
        folder.unlink()
        folder.mkdir()
        os.mkfifo(folder / "t.jsonl")
        assert export() == export() == "FAILURE"  # a FIFO nobody reads: a new kind
        (folder / "t.jsonl").unlink()
        assert export() == "SUCCESS"
    exporter.shutdown()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert "File exists" in said[0] or "Not a directory" in said[0], said[0]
    assert "is not a regular file" in said[1], said[1]
    assert spans_in(folder / "t.jsonl") == 3
