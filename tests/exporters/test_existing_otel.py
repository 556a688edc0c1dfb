"""configure() in apps that already have OpenTelemetry, and the OTEL_* variables.

A real OTLP/HTTP receiver on loopback counts what arrives; each app is a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.exporters.test_configure import otlp_receiver  # noqa: F401 - a fixture

Received = tuple[str, list[ExportTraceServiceRequest]]

APP_WITH_ITS_OWN_EXPORTER = textwrap.dedent(
    """
    import asyncio, os
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    import fanscope

    mine = TracerProvider(resource=Resource.create({"service.name": "theirs"}))
    mine.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["APP_ENDPOINT"]))
    )
    trace.set_tracer_provider(mine)
    assert fanscope.configure(service_name="ours", **KWARGS) is mine

    @fanscope.parallel(max_concurrency=2)
    async def lookup(source: str) -> str:
        return source

    async def main() -> None:
        with trace.get_tracer("app").start_as_current_span("request"):
            await lookup.map(["news", "filings", "prices"])

    asyncio.run(main())
    """
)

SPANS = ["fan-in lookup", "lookup", "lookup", "lookup", "map lookup", "request"]


def run(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def names(received: list[ExportTraceServiceRequest]) -> list[str]:
    return sorted(
        s.name
        for r in received
        for rs in r.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    )


def fanscope_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("fanscope:")]


def test_an_app_with_its_own_otlp_exporter_gets_each_span_once(
    otlp_receiver: Received,  # noqa: F811
    tmp_path: Path,
) -> None:
    endpoint, received = otlp_receiver
    done = run(
        APP_WITH_ITS_OWN_EXPORTER.replace("**KWARGS", ""),
        # the same endpoint, spelled as the variable spells it
        env={
            "APP_ENDPOINT": f"{endpoint}/v1/traces",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint.replace("127.0.0.1", "localhost") + "/",
        },
        cwd=tmp_path,
    )
    assert names(received) == SPANS
    said = fanscope_lines(done.stderr)
    assert len(said) == 1, done.stderr
    assert "kept the TracerProvider already installed (service.name='theirs'" in said[0]
    assert "not added, already attached: OTLP" in said[0]
    # it had an exporter: no default trace file is added next to it
    assert not (tmp_path / "traces.jsonl").exists()


def test_the_endpoint_argument_is_not_added_twice_either(
    otlp_receiver: Received,  # noqa: F811
    tmp_path: Path,
) -> None:
    endpoint, received = otlp_receiver
    out = tmp_path / "also.jsonl"
    run(
        APP_WITH_ITS_OWN_EXPORTER.replace(
            "**KWARGS", f"otlp_endpoint={endpoint!r}, trace_file={str(out)!r}"
        ),
        env={"APP_ENDPOINT": f"{endpoint}/v1/traces"},
        cwd=tmp_path,
    )
    assert names(received) == SPANS
    assert out.exists(), "an explicit trace file is added next to the app's exporter"


APP = textwrap.dedent(
    """
    import asyncio
    import fanscope

    fanscope.configure(service_name="agent", **KWARGS)

    @fanscope.parallel(max_concurrency=2)
    async def lookup(source: str) -> str:
        return source

    print(asyncio.run(lookup.map(["news", "filings"])))
    """
)


def test_otel_traces_exporter_none_writes_nothing(
    otlp_receiver: Received,  # noqa: F811
    tmp_path: Path,
) -> None:
    endpoint, received = otlp_receiver
    done = run(
        APP.replace("**KWARGS", ""),
        env={"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
        cwd=tmp_path,
    )
    assert done.stdout.strip() == "['news', 'filings']"
    assert list(tmp_path.iterdir()) == []
    assert received == []


def test_otel_traces_exporter_console_prints_spans_and_writes_no_file(tmp_path: Path) -> None:
    done = run(APP.replace("**KWARGS", ""), env={"OTEL_TRACES_EXPORTER": "console"}, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert '"name": "map lookup"' in done.stdout
    assert done.stdout.count('"name": "lookup"') == 2


def test_otel_traces_exporter_otlp_sends_and_writes_no_file(
    otlp_receiver: Received,  # noqa: F811
    tmp_path: Path,
) -> None:
    endpoint, received = otlp_receiver
    run(
        APP.replace("**KWARGS", ""),
        env={
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{endpoint}/v1/traces",
        },
        cwd=tmp_path,
    )
    assert names(received) == ["fan-in lookup", "lookup", "lookup", "map lookup"]
    assert list(tmp_path.iterdir()) == []


def test_an_argument_wins_over_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "asked.jsonl"
    run(
        APP.replace("**KWARGS", f"trace_file={str(out)!r}"),
        env={"OTEL_TRACES_EXPORTER": "none"},
        cwd=tmp_path,
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert (
        sum(len(ss["spans"]) for r in lines for rs in r["resourceSpans"] for ss in rs["scopeSpans"])
        == 4
    )


def test_an_unknown_exporter_name_is_one_warning(tmp_path: Path) -> None:
    done = run(
        APP.replace("**KWARGS", "trace_file=False"),
        env={"OTEL_TRACES_EXPORTER": "zipkin_typo"},
        cwd=tmp_path,
    )
    said = fanscope_lines(done.stderr)
    assert len(said) == 1 and "'zipkin_typo'" in said[0], done.stderr
    assert done.stdout.strip() == "['news', 'filings']"
