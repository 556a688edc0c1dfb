"""configure(): trace files, OTLP to a real receiver, provider reuse, flush at exit.

Each scenario runs in a fresh interpreter, as an application would: configure() installs a
global provider and an exit hook, which must not leak into the rest of the test run.
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
from typing import Any, ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

APP = textwrap.dedent(
    """
    import asyncio, sys
    import fanscope
    from fanscope import parallel

    provider = fanscope.configure(service_name="agent-under-test", **KWARGS)
    assert fanscope.configure(service_name="agent-under-test", **KWARGS) is provider

    @parallel(max_concurrency=2)
    async def lookup(source: str) -> str:
        await asyncio.sleep(0.001)
        return f"answer from {source}"

    async def main() -> None:
        print(await lookup.map(["news", "filings", "prices"]))

    asyncio.run(main())
    """
)


def run_app(kwargs: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    code = APP.replace("**KWARGS", kwargs)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def spans_of(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        span
        for request in requests
        for rs in request["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]


def test_trace_file_holds_otlp_json_lines_with_hex_ids(tmp_path: Path) -> None:
    out = tmp_path / "traces" / "run.jsonl"
    run_app(f"trace_file={str(out)!r}")
    requests = read_lines(out)
    assert requests, "nothing was flushed at exit"
    resource = requests[0]["resourceSpans"][0]["resource"]
    assert {"key": "service.name", "value": {"stringValue": "agent-under-test"}} in resource[
        "attributes"
    ]
    spans = spans_of(requests)
    names = sorted(s["name"] for s in spans)
    assert names == ["fan-in lookup", "lookup", "lookup", "lookup", "map lookup"]
    fanout = next(s for s in spans if s["name"] == "map lookup")
    assert len(fanout["traceId"]) == 32 and int(fanout["traceId"], 16)
    assert len(fanout["spanId"]) == 16 and int(fanout["spanId"], 16)
    assert isinstance(fanout["startTimeUnixNano"], str)
    size = next(a for a in fanout["attributes"] if a["key"] == "fanscope.fanout.size")
    assert size["value"] == {"intValue": "3"}
    waits = []
    for branch in (s for s in spans if s["name"] == "lookup"):
        assert branch["parentSpanId"] == fanout["spanId"]
        attrs = {a["key"]: a["value"] for a in branch["attributes"]}
        waits.append(attrs.get("fanscope.queue.wait_s", {"doubleValue": 0.0})["doubleValue"])
        assert branch["traceId"] == fanout["traceId"]
    # cap 2, three sources: exactly one waited in line
    assert sum(1 for w in waits if w > 0) == 1


def test_default_is_traces_jsonl_in_the_working_directory(tmp_path: Path) -> None:
    run_app("", cwd=tmp_path)
    assert len(spans_of(read_lines(tmp_path / "traces.jsonl"))) == 5


def test_an_unwritable_trace_file_does_not_break_the_program(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    out = run_app(f"trace_file={str(blocker / 'x.jsonl')!r}")
    assert "answer from news" in out


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            self.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Receiver.received
    finally:
        server.shutdown()
        server.server_close()


def test_otlp_from_the_standard_variable_reaches_a_real_receiver(
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]], tmp_path: Path
) -> None:
    endpoint, received = otlp_receiver
    run_app("", env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, cwd=tmp_path)
    spans = [
        s for r in received for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]
    assert sorted(s.name for s in spans) == [
        "fan-in lookup",
        "lookup",
        "lookup",
        "lookup",
        "map lookup",
    ]
    fanout = next(s for s in spans if s.name == "map lookup")
    assert all(s.parent_span_id == fanout.span_id for s in spans if s.name == "lookup")
    # with an OTLP endpoint and no trace_file, no file is written
    assert not (tmp_path / "traces.jsonl").exists()


def test_otlp_endpoint_argument_and_a_file_together(
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]], tmp_path: Path
) -> None:
    endpoint, received = otlp_receiver
    out = tmp_path / "both.jsonl"
    run_app(f"otlp_endpoint={endpoint!r}, trace_file={str(out)!r}")
    assert (
        sum(len(ss.spans) for r in received for rs in r.resource_spans for ss in rs.scope_spans)
        == 5
    )
    assert len(spans_of(read_lines(out))) == 5


def test_a_dead_otlp_endpoint_does_not_take_the_program_down(tmp_path: Path) -> None:
    out = run_app(
        "otlp_endpoint='http://127.0.0.1:9', trace_file=False",
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "1"},
    )
    assert "answer from prices" in out


def test_an_existing_provider_is_kept_and_gets_our_exporter(tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    code = textwrap.dedent(
        f"""
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        import fanscope

        mine = TracerProvider(resource=Resource.create({{"service.name": "theirs"}}))
        trace.set_tracer_provider(mine)
        assert fanscope.configure(service_name="ours", trace_file={str(out)!r}) is mine

        @fanscope.traced
        async def step() -> int:
            return 1

        asyncio.run(step())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    requests = read_lines(out)
    attrs = requests[0]["resourceSpans"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "theirs"}} in attrs


def test_a_bad_protocol_is_one_clear_error() -> None:
    from fanscope.errors import ConfigurationError
    from fanscope.exporters.configure import configure

    with pytest.raises(ConfigurationError, match="otlp_protocol must be 'http/protobuf' or 'grpc'"):
        configure(otlp_protocol="udp")


def test_otlp_over_grpc_reaches_a_real_grpc_receiver() -> None:
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[ExportTraceServiceRequest] = []

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(
            self, request: ExportTraceServiceRequest, context: object
        ) -> trace_service_pb2.ExportTraceServiceResponse:
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        run_app(
            "trace_file=False",
            env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
        )
    finally:
        server.stop(grace=None)
    names = sorted(
        s.name
        for r in received
        for rs in r.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    )
    assert names == ["fan-in lookup", "lookup", "lookup", "lookup", "map lookup"]
