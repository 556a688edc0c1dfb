"""Where spans go: building exporters the way OpenTelemetry's auto-configuration does, and
recognising the ones a provider already has, so ``configure()`` never adds a second exporter
to a destination that already gets every span.

A destination is a ``(kind, where)`` pair: ``("otlp", "http://127.0.0.1:4318/v1/traces")``,
``("file", "/abs/path/traces.jsonl")``, ``("console", "stdout")``; an exporter we cannot
read is ``("other", class name)`` and never counts as a duplicate.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from fanscope.errors import ConfigurationError

log = logging.getLogger("fanscope")

Destination = tuple[str, str]


def env(*names: str) -> str | None:
    """The first of these variables that is set to something other than blanks."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def describe(destination: Destination) -> str:
    kind, where = destination
    return {"otlp": "OTLP", "file": "file", "console": "console"}.get(kind, kind) + f" {where}"


def _same_host(host: str) -> str:
    return "127.0.0.1" if host in ("localhost", "::1", "[::1]") else host


def normal_url(url: str) -> str:
    """An endpoint in one spelling: scheme, loopback names, default ports and a trailing slash
    do not make two endpoints different."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower() or "http"
    host = _same_host((parts.hostname or "").lower())
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def of_exporter(exporter: object) -> Destination:
    """The destination an exporter writes to, as far as it can be read."""
    own = getattr(exporter, "destination", None)
    if isinstance(own, tuple) and len(own) == 2:
        return (str(own[0]), str(own[1]))
    module = type(exporter).__module__
    endpoint = getattr(exporter, "_endpoint", None)
    if module.startswith("opentelemetry.exporter.otlp") and isinstance(endpoint, str):
        return ("otlp", normal_url(endpoint))
    if isinstance(exporter, ConsoleSpanExporter):
        out = getattr(exporter, "out", None)
        return ("console", "stderr" if out is sys.stderr else "stdout")
    return ("other", type(exporter).__qualname__)


def attached(provider: TracerProvider) -> list[tuple[Destination, bool]]:
    """The destinations of a provider's span processors, each with whether fanscope added it.

    Reads the SDK's processor list (``_active_span_processor``), which has no public
    accessor; a provider we cannot read has no known destinations.
    """
    found: list[tuple[Destination, bool]] = []
    multi = getattr(provider, "_active_span_processor", None)
    for processor in getattr(multi, "_span_processors", ()) or ():
        ours = getattr(processor, "destination_key", None)
        if isinstance(ours, tuple):
            found.append((ours, True))
            continue
        exporter = getattr(processor, "span_exporter", None)
        if exporter is None:
            batch = getattr(processor, "_batch_processor", None)
            exporter = getattr(batch, "_exporter", None)
        if exporter is not None:
            found.append((of_exporter(exporter), False))
    return found


def check_endpoint(endpoint: object, protocol: str, name: str) -> None:
    """Refuse, in one line with the fix, an OTLP endpoint no exporter could send to: it would
    fail on every export, and the exit summary would name a destination it never was."""
    example = "http://localhost:4317" if protocol == "grpc" else "http://localhost:4318"

    def fix(url: str) -> str:
        return f"set {name}={url}" if name.isupper() else f"pass {name}={url!r}"

    if not isinstance(endpoint, str):
        raise ConfigurationError(f"{name} must be a URL", endpoint, fix(example))
    text = endpoint.strip()
    if protocol == "grpc" and "://" not in text:
        text = "http://" + text  # the gRPC exporter takes host:port alone
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        raise ConfigurationError(
            f"{name} has a port outside 1-65535", endpoint, fix(example)
        ) from None
    if "://" not in text or parts.scheme not in ("http", "https"):
        bare = re.fullmatch(r"(?:[a-z]+://)?([\w.-]+(?::\d+)?(?:/(?!/)\S*)?)", text, re.IGNORECASE)
        guess = "http://" + bare.group(1) if bare else example
        raise ConfigurationError(
            f"{name} must start with http:// or https://", endpoint, fix(guess)
        )
    if any(c.isspace() for c in text):
        raise ConfigurationError(f"{name} has a space in it", endpoint, fix(example))
    if not parts.hostname:
        raise ConfigurationError(f"{name} names no host", endpoint, fix(example))


def otlp_exporter(endpoint: str | None, protocol: str) -> SpanExporter:
    """The official OTLP exporter; ``endpoint=None`` lets it read the ``OTEL_*`` variables."""
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter() if endpoint is None else GrpcExporter(endpoint=endpoint)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )
    except ImportError as exc:
        raise ConfigurationError(
            "the OTLP exporter is not installed",
            protocol,
            "install it with: pip install 'fanscope[otlp]'",
        ) from exc
    if endpoint is None:
        return HttpExporter()
    if not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint)


def named_exporter(name: str) -> SpanExporter | None:
    """An exporter registered under ``opentelemetry_traces_exporter`` (as auto-configuration
    finds ``zipkin``, ``jaeger_thrift``...), or None with one warning when there is none."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="opentelemetry_traces_exporter", name=name):
        try:
            made: Any = ep.load()()
        except Exception as exc:
            log.warning("fanscope: OTEL_TRACES_EXPORTER=%s could not be created (%s)", name, exc)
            return None
        return made if isinstance(made, SpanExporter) else None
    log.warning(
        "fanscope: OTEL_TRACES_EXPORTER names %r, which no installed package provides; "
        "ignored (known here: none, console, otlp)",
        name,
    )
    return None
