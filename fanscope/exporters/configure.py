"""``fanscope.configure()``: one call that sets up OpenTelemetry tracing for an application.

Where spans go, in order of precedence:

1. ``otlp_endpoint=`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
   ``OTEL_EXPORTER_OTLP_ENDPOINT``): the official OTLP exporter, over HTTP/protobuf unless
   ``otlp_protocol="grpc"`` (or ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL``) says otherwise.
   Needs the ``otlp`` extra: ``pip install 'fanscope[otlp]'``.
2. ``trace_file=`` (or ``FANSCOPE_TRACE_FILE``): OTLP JSON lines that ``fanscope analyze``
   reads. When no OTLP endpoint is set at all, spans go to ``traces.jsonl`` in the current
   directory, so a first run always leaves something to analyse; ``trace_file=False`` turns
   the file off.

An SDK ``TracerProvider`` that the application (or ``opentelemetry-instrument``) already
installed is kept: fanscope adds its exporters to it and does not replace it, so nothing
the application set up is lost (its resource, and so its service name, stays as it was).
Otherwise fanscope creates one with ``service.name`` = ``service_name`` (or
``OTEL_SERVICE_NAME``) and installs it globally. Calling ``configure()`` again with the same
destinations adds nothing twice. Spans are flushed when the process exits (the SDK
provider's exit hook), and :func:`shutdown` flushes on demand.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from fanscope.errors import ConfigurationError
from fanscope.exporters.files import OTLPJsonFileExporter
from fanscope.integrations import install
from fanscope.sdk import fingerprint

log = logging.getLogger("fanscope")

DEFAULT_TRACE_FILE = "traces.jsonl"
Protocol = Literal["grpc", "http/protobuf"]

_installed: set[tuple[int, str, str]] = set()


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _otlp_exporter(endpoint: str | None, from_env: bool, protocol: str) -> SpanExporter:
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter() if from_env else GrpcExporter(endpoint=endpoint)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )
    except ImportError as exc:
        raise ConfigurationError(
            "the OTLP exporter is not installed",
            protocol,
            "install it with: pip install 'fanscope[otlp]'",
        ) from exc
    if from_env:
        return HttpExporter()
    assert endpoint is not None
    if not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint)


def _provider(service_name: str | None) -> TracerProvider:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        name = current.resource.attributes.get(SERVICE_NAME)
        if service_name is not None and name not in (service_name, None):
            log.info(
                "fanscope: keeping the TracerProvider already installed (service.name=%r); "
                "service_name=%r is not applied to it",
                name,
                service_name,
            )
        return current
    attrs: dict[str, Any] = {}
    if service_name is not None and not os.environ.get("OTEL_SERVICE_NAME"):
        attrs[SERVICE_NAME] = service_name
    provider = TracerProvider(resource=Resource.create(attrs))
    trace.set_tracer_provider(provider)
    installed = trace.get_tracer_provider()
    if installed is not provider and isinstance(installed, TracerProvider):
        return installed  # someone else won the race to install one
    return provider


def _add(provider: TracerProvider, kind: str, where: str, make: Any) -> bool:
    key = (id(provider), kind, where)
    if key in _installed:
        return False
    provider.add_span_processor(BatchSpanProcessor(make()))
    _installed.add(key)
    return True


def configure(
    service_name: str | None = None,
    *,
    trace_file: str | os.PathLike[str] | Literal[False] | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: Protocol | None = None,
    fingerprints: bool = True,
    fingerprint_key: bytes | str | None = None,
    capture_content: bool | None = None,
    instrument_anthropic: bool = True,
) -> TracerProvider:
    """Set up tracing for this process and return the provider in use.

    Args:
        service_name: the ``service.name`` resource attribute of a new provider.
        trace_file: where to append OTLP JSON lines; ``False`` for no file. Default: the
            ``FANSCOPE_TRACE_FILE`` variable, else ``traces.jsonl`` when no OTLP endpoint is set.
        otlp_endpoint: an OTLP collector or backend (Jaeger, Tempo). Default: the standard
            ``OTEL_EXPORTER_OTLP_*`` variables.
        otlp_protocol: ``"http/protobuf"`` (default) or ``"grpc"``.
        fingerprints: record data-flow fingerprints (keyed hashes, never content) so the
            analyzer can tell dependent steps from independent ones. ``False`` turns them off.
        fingerprint_key: a fixed key for the fingerprints (to compare them across processes).
        capture_content: record prompt and completion text on GenAI spans. Default: the
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` variable (off).
        instrument_anthropic: turn on the Anthropic instrumentation when the application
            imports ``anthropic`` (now, if it did already); ``configure()`` never imports it.

    Returns:
        The SDK ``TracerProvider`` that fanscope's spans go to.

    Raises:
        ConfigurationError: a bad protocol, or the OTLP extra is missing.

    .. versionadded:: 0.1
    """
    protocol = otlp_protocol or _env(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = protocol or "http/protobuf"
    if protocol not in ("grpc", "http/protobuf"):
        raise ConfigurationError(
            "otlp_protocol must be 'http/protobuf' or 'grpc'",
            protocol,
            "set otlp_protocol='http/protobuf' (or OTEL_EXPORTER_OTLP_PROTOCOL)",
        )
    fingerprint.set_enabled(fingerprints)
    if fingerprint_key is not None:
        fingerprint.set_key(fingerprint_key)

    provider = _provider(service_name)
    env_endpoint = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    endpoint = otlp_endpoint or env_endpoint
    if endpoint:
        from_env = otlp_endpoint is None
        _add(provider, "otlp", endpoint, lambda: _otlp_exporter(endpoint, from_env, protocol))

    path: str | None
    if trace_file is False:
        path = None
    elif trace_file is not None:
        path = os.fspath(trace_file)
    else:
        path = _env("FANSCOPE_TRACE_FILE") or (None if endpoint else DEFAULT_TRACE_FILE)
    if path is not None:
        where = str(Path(path).resolve())
        _add(provider, "file", where, lambda: OTLPJsonFileExporter(path))

    if instrument_anthropic:
        install.anthropic_on_import(capture_content)
    return provider


def shutdown() -> None:
    """Flush and stop the exporters ``configure()`` installed (safe to call more than once)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()
