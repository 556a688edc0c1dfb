"""``fanscope.configure()``: one call that sets up OpenTelemetry tracing for an application.

Where spans go (``docs/configure.md`` has the whole table; arguments win over variables):

1. ``otlp_endpoint=``: the official OTLP exporter to that endpoint.
2. ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``, or another registered exporter,
   comma-separated), read as OpenTelemetry's auto-configuration reads it, with the
   ``OTEL_EXPORTER_OTLP_*`` variables for the OTLP exporter. When it is not set, OTLP is used
   when an ``OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT`` is.
3. ``trace_file=`` (or ``FANSCOPE_TRACE_FILE``): OTLP JSON lines that ``fanscope analyze``
   reads. When nothing above chose a destination, ``OTEL_TRACES_EXPORTER`` is not set and no
   exporter is attached yet, spans go to ``traces.jsonl`` in the current directory, so a first
   run always leaves something to analyse; ``trace_file=False`` turns the file off.

An SDK ``TracerProvider`` that the application (or ``opentelemetry-instrument``) installed is
kept, with its resource and exporters; a destination one of its exporters already sends to is
not added a second time. ``configure()`` says in one line what it did (a warning when it found
a provider of the application's, so it is seen; at info level otherwise).

At exit, fanscope's exporters stop within ``shutdown_timeout`` seconds all together (default
5, ``FANSCOPE_SHUTDOWN_TIMEOUT``); spans still queued then are dropped and counted in one line.
On SIGTERM, when the application installed no handler of its own, ended spans are written
(within the same bound) before the process ends as SIGTERM would have ended it.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from fanscope.errors import ConfigurationError
from fanscope.exporters import destinations as D
from fanscope.exporters import processors as P
from fanscope.exporters.files import OTLPJsonFileExporter
from fanscope.integrations import install
from fanscope.sdk import content, fingerprint
from fanscope.sdk.arguments import check_flag, checked

if TYPE_CHECKING:
    from fanscope.sdk.prices import Price

log = logging.getLogger("fanscope")

DEFAULT_TRACE_FILE = "traces.jsonl"
Protocol = Literal["grpc", "http/protobuf"]

_ours: list[TracerProvider] = []  # providers configure() created


def _provider(service_name: str | None) -> tuple[TracerProvider, bool]:
    """The provider to use, and whether it is one the application installed."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current, not any(current is mine for mine in _ours)
    attrs: dict[str, Any] = {}
    if service_name is not None and not os.environ.get("OTEL_SERVICE_NAME"):
        attrs[SERVICE_NAME] = service_name
    provider = TracerProvider(resource=Resource.create(attrs))
    trace.set_tracer_provider(provider)
    installed = trace.get_tracer_provider()
    if installed is not provider and isinstance(installed, TracerProvider):
        return installed, True  # someone else won the race to install one
    _ours.append(provider)
    return provider, False


def _wanted(
    otlp_endpoint: str | None, protocol: str, otlp_off: bool = False
) -> tuple[list[tuple[D.Destination, SpanExporter]], str | None]:
    """Exporters the arguments and ``OTEL_*`` variables ask for (not the trace file), and the
    ``OTEL_TRACES_EXPORTER`` value when it is set."""
    chosen = D.env("OTEL_TRACES_EXPORTER")
    names = [n.strip().lower() for n in (chosen or "").split(",") if n.strip()]
    if chosen is None and D.env(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        names = ["otlp"]
    out: list[tuple[D.Destination, SpanExporter]] = []
    if otlp_endpoint:
        made = D.otlp_exporter(otlp_endpoint, protocol)
        out.append((D.of_exporter(made), made))
    for name in names:
        exporter: SpanExporter | None
        if name == "none":
            continue
        if name == "otlp":
            if otlp_endpoint or otlp_off:
                continue  # the argument says where OTLP goes, or the variables are unusable
            exporter = D.otlp_exporter(None, protocol)
        elif name == "console":
            exporter = ConsoleSpanExporter()
        else:
            exporter = D.named_exporter(name)
        if exporter is not None:
            out.append((D.of_exporter(exporter), exporter))
    return out, chosen


def _check_endpoint(otlp_endpoint: object, protocol: str) -> bool:
    """Refuse an endpoint argument no exporter could send to, before configure() changes
    anything. An unusable endpoint variable (set by the environment, perhaps for every
    program) is one warning instead, and no OTLP export: True."""
    if otlp_endpoint is not None and otlp_endpoint != "":
        D.check_endpoint(otlp_endpoint, protocol, "otlp_endpoint")
        return False
    chosen = D.env("OTEL_TRACES_EXPORTER")
    if chosen is not None and "otlp" not in [n.strip().lower() for n in chosen.split(",")]:
        return False
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if D.env(variable):
            try:
                D.check_endpoint(D.env(variable), protocol, variable)
            except ConfigurationError as exc:
                log.warning("fanscope: %s; spans are not sent over OTLP", exc)
                return True
            return False
    return False


def _trace_file(
    trace_file: str | os.PathLike[str] | Literal[False] | None, default: bool
) -> str | None:
    if trace_file is False:
        return None
    if trace_file is not None:
        return os.fspath(trace_file)
    return D.env("FANSCOPE_TRACE_FILE") or (DEFAULT_TRACE_FILE if default else None)


def _regular_or_absent(path: str) -> bool:
    """False, with one warning, for a path that exists and is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True
    if stat.S_ISREG(mode):
        return True
    log.warning(
        "fanscope: trace file %s is not a regular file (a FIFO, device or folder); no trace "
        "file is written; pass a regular file, or trace_file=False for none",
        path,
    )
    return False


@checked("fanscope.configure()")
def configure(
    service_name: str | None = None,
    *,
    trace_file: str | os.PathLike[str] | Literal[False] | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: Protocol | None = None,
    shutdown_timeout: float | None = None,
    fingerprints: bool = True,
    fingerprint_key: bytes | str | None = None,
    capture_content: bool | None = None,
    instrument_anthropic: bool = True,
    instrument_threads: bool = True,
    prices: Mapping[str, Price | Mapping[str, Any]] | None = None,
) -> TracerProvider:
    """Set up tracing for this process and return the provider in use.

    Args:
        service_name: the ``service.name`` resource attribute of a new provider
            (``OTEL_SERVICE_NAME`` wins, as in OpenTelemetry).
        trace_file: where to append OTLP JSON lines; ``False`` for no file. Default: the
            ``FANSCOPE_TRACE_FILE`` variable, else ``traces.jsonl`` when no other destination
            is chosen or attached.
        otlp_endpoint: an OTLP collector or backend (Jaeger, Tempo). Default: the standard
            ``OTEL_TRACES_EXPORTER`` and ``OTEL_EXPORTER_OTLP_*`` variables.
        otlp_protocol: ``"http/protobuf"`` (default) or ``"grpc"``.
        shutdown_timeout: seconds fanscope's exporters may add to process exit, all together
            (default: ``FANSCOPE_SHUTDOWN_TIMEOUT``, else 5).
        fingerprints: record data-flow fingerprints (keyed hashes, never content) so the
            analyzer can tell dependent steps from independent ones. ``False`` turns them off.
        fingerprint_key: a fixed key for the fingerprints (to compare them across processes).
        capture_content: record prompt and completion text on GenAI spans, and the answers a
            vote counted on its fan-in span (else keyed hashes). Default: the
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` variable (off).
        instrument_anthropic: turn on the Anthropic instrumentation when the application
            imports ``anthropic`` (now, if it did already); ``configure()`` never imports it.
        instrument_threads: carry the current span into ``threading.Thread`` and
            ``ThreadPoolExecutor`` work (OpenTelemetry's threading instrumentation), and
            record waiting for a pool worker as a ``queue wait`` span.
        prices: model prices of your own, over the price table's (USD per million tokens):
            ``{"my-model": {"input": 3.0, "output": 15.0, "priority": {"input": 5.0}}}`` or
            ``fanscope.Price`` values; ``[tool.fanscope.prices]`` in the nearest
            ``pyproject.toml`` is read too, and these win over it (``docs/cost.md``).

    Returns:
        The SDK ``TracerProvider`` that fanscope's spans go to.

    Raises:
        ConfigurationError: a bad service name, trace file, endpoint, protocol, timeout or
            price, or the OTLP extra is missing.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``prices``.
    """
    from fanscope.sdk import prices as price_table

    if service_name is not None and (not isinstance(service_name, str) or not service_name):
        raise ConfigurationError(
            "service_name must be a name", service_name, "pass e.g. service_name='research-agent'"
        )
    if trace_file not in (None, False) and (
        not isinstance(trace_file, str | os.PathLike) or not os.fspath(trace_file)
    ):
        raise ConfigurationError(
            "trace_file must be a path, or False for no file",
            trace_file,
            "pass e.g. trace_file='traces.jsonl'",
        )
    for flag, value in (
        ("fingerprints", fingerprints),
        ("instrument_anthropic", instrument_anthropic),
        ("instrument_threads", instrument_threads),
    ):
        check_flag(flag, value)
    check_flag("capture_content", capture_content, none=True)
    if fingerprint_key is not None and (
        not isinstance(fingerprint_key, str | bytes) or not fingerprint_key
    ):
        raise ConfigurationError(
            "fingerprint_key must be a non-empty str or bytes",
            fingerprint_key,
            "pass the same secret in every process, e.g. fingerprint_key=os.environ['TRACE_KEY']",
        )
    protocol = otlp_protocol or D.env(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = protocol or "http/protobuf"
    if protocol not in ("grpc", "http/protobuf"):
        raise ConfigurationError(
            "otlp_protocol must be 'http/protobuf' or 'grpc'",
            protocol,
            "set otlp_protocol='http/protobuf' (or OTEL_EXPORTER_OTLP_PROTOCOL)",
        )
    otlp_off = _check_endpoint(otlp_endpoint, protocol)
    price_table.set_prices(prices, pyproject=price_table.find_pyproject())
    P.set_shutdown_timeout(_timeout(shutdown_timeout))
    fingerprint.set_enabled(fingerprints)
    if fingerprint_key is not None:
        fingerprint.set_key(fingerprint_key)

    provider, theirs = _provider(service_name)
    present = D.attached(provider)
    known = {destination for destination, _ in present}
    foreign = [destination for destination, ours in present if not ours]
    wanted, chosen = _wanted(otlp_endpoint, protocol, otlp_off)
    path = _trace_file(trace_file, default=not wanted and chosen is None and not foreign)
    if path is not None and _regular_or_absent(path):
        where = str(Path(path).resolve())
        wanted.append((("file", where), OTLPJsonFileExporter(path)))

    added, skipped = [], []
    for destination, exporter in wanted:
        if destination in known and destination[0] != "other":
            skipped.append(destination)
            exporter.shutdown()
            continue
        processor: P.FileSpanProcessor | P.ExportSpanProcessor
        if destination[0] == "file":
            processor = P.FileSpanProcessor(exporter, destination, provider.resource)
        else:
            processor = P.ExportSpanProcessor(exporter, destination, provider.resource)
        provider.add_span_processor(processor)
        known.add(destination)
        added.append(destination)
    _say(provider, theirs, foreign, added, skipped, chosen)

    _flush_on_sigterm(provider)
    content.set_capture(capture_content)  # GenAI messages and the answers votes count
    if instrument_anthropic:
        install.anthropic_on_import(capture_content)
    if instrument_threads:
        install.threads()
        from fanscope.sdk import callsite

        callsite.install_thread_hook()  # pool work keeps the line that submitted it (code.*)
    return provider


def _timeout(argument: float | None) -> float:
    raw: Any = argument if argument is not None else D.env("FANSCOPE_SHUTDOWN_TIMEOUT")
    if raw is None:
        return P.DEFAULT_SHUTDOWN_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigurationError(
            "shutdown_timeout must be a number of seconds, 0 or more",
            str(raw),
            "pass shutdown_timeout=5 (or set FANSCOPE_SHUTDOWN_TIMEOUT=5)",
        )
    return value


def _say(
    provider: TracerProvider,
    theirs: bool,
    foreign: list[D.Destination],
    added: list[D.Destination],
    skipped: list[D.Destination],
    chosen: str | None,
) -> None:
    """One line: which provider, what was added, what was not and why."""
    name = provider.resource.attributes.get(SERVICE_NAME)
    parts = []
    if theirs:
        had = ", ".join(D.describe(d) for d in foreign) or "no exporter"
        parts.append(f"kept the TracerProvider already installed (service.name={name!r}, {had})")
    else:
        parts.append(f"tracing service.name={name!r}")
    parts.append("added " + (", ".join(D.describe(d) for d in added) or "no exporter"))
    if skipped:
        parts.append("not added, already attached: " + ", ".join(D.describe(d) for d in skipped))
    if chosen is not None:
        parts.append(f"OTEL_TRACES_EXPORTER={chosen}")
    line = "fanscope: " + "; ".join(parts)
    if theirs and (added or skipped):
        log.warning(line)
    else:
        log.info(line)


_sigterm: list[bool] = []


def _flush_on_sigterm(provider: TracerProvider) -> None:
    """On SIGTERM, write the spans that ended, then end as SIGTERM would have.

    Only when the application has no SIGTERM handler of its own (and from the main thread,
    the only one that may install one). Spans still open when the signal comes are lost.
    """
    if _sigterm or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_sigterm(signum: int, frame: object) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            stopper = threading.Thread(target=provider.shutdown, daemon=True)
            stopper.start()
            stopper.join(P.shutdown_timeout() + 0.5)
            os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
        _sigterm.append(True)
    except (ValueError, OSError, AttributeError):  # no signals here (an embedded interpreter)
        return


def shutdown() -> None:
    """Write what fanscope's exporters hold and stop them, within the exit bound.

    Safe to call more than once; after it, spans are no longer exported.
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        stopper = threading.Thread(target=provider.shutdown, daemon=True)
        stopper.start()
        stopper.join(P.shutdown_timeout() + 0.5)
