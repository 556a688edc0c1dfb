"""Trace readers: OTLP JSON (lines or one body), Jaeger JSON, and spans in memory.

The format is detected from the content, not the file name:

* **OTLP JSON lines**: one ``{"resourceSpans": [...]}`` per line, as ``fanscope.configure()``
  and the OpenTelemetry Collector's file exporter write them;
* **an OTLP/HTTP JSON body**: one such object, possibly pretty-printed over many lines;
* **Jaeger JSON**: ``{"data": [{"traceID", "spans", "processes"}]}``, what Jaeger UI's
  "Download JSON" and its ``/api/traces`` query API return (also one such object per line).

Damaged input is normal. A line that is not JSON (a truncated last line, say) or a span
missing its ids is skipped with a warning; only a file with nothing readable at all raises
:class:`~fanscope.errors.TraceReadError`, whose message names the file and the problem.
Ids are read as hex; base64 ids (what protobuf's ``json_format`` writes) are converted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fanscope import otlp_json
from fanscope.analysis.model import Span
from fanscope.errors import TraceReadError
from fanscope.sdk import attributes as A


@dataclass
class ReadResult:
    """Spans read from one or more sources, and what was wrong with them."""

    spans: list[Span] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)


_DAMAGE = otlp_json.DAMAGE
_hex_id = otlp_json.hex_id
_int = otlp_json.to_int
_TraceIds = otlp_json.TraceIds


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _otlp_spans(
    request: Mapping[str, Any], warnings: list[str], where: str, trace_ids: _TraceIds
) -> Iterator[Span]:
    resource_spans = request.get("resourceSpans")
    if not isinstance(resource_spans, list):
        warnings.append(f"{where}: 'resourceSpans' is not a list; skipped")
        return
    bad = 0
    for rs in resource_spans:
        if not isinstance(rs, Mapping):
            bad += 1
            continue
        try:
            resource = otlp_json.decode_key_values(_mapping(rs.get("resource")).get("attributes"))
        except _DAMAGE:
            resource = {}
            bad += 1
        service = str(resource.get("service.name", "") or "")
        scope_spans = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []
        for ss in scope_spans if isinstance(scope_spans, list) else [None]:
            if not isinstance(ss, Mapping):
                bad += 1
                continue
            scope = _mapping(ss.get("scope") or ss.get("instrumentationLibrary"))
            scope_name = str(scope.get("name", "") or "")
            raws = ss.get("spans") or []
            for raw in raws if isinstance(raws, list) else [None]:
                try:
                    span = otlp_json.decode_span(
                        raw, Span, service, scope_name, resource, trace_ids
                    )
                except _DAMAGE:
                    span = None
                if span is None:
                    bad += 1
                    continue
                yield span
    if bad:
        warnings.append(f"{where}: {bad} malformed span record(s) skipped")


def _jaeger_value(tag: Mapping[str, Any]) -> Any:
    kind = str(tag.get("type", "string")).lower()
    value = tag.get("value")
    if kind in ("int64", "int"):
        return _int(value)
    if kind in ("float64", "float"):
        return float(value)  # type: ignore[arg-type]
    if kind in ("bool", "boolean"):
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:  # our converter writes arrays as JSON strings; read them back as lists
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, list) else value
    return value


def _jaeger_spans(doc: Mapping[str, Any], warnings: list[str], where: str) -> Iterator[Span]:
    traces = doc.get("data")
    if not isinstance(traces, list):
        traces = [doc] if isinstance(doc.get("spans"), list) else []
    bad = 0
    for trace_doc in traces:
        if not isinstance(trace_doc, Mapping):
            bad += 1
            continue
        processes = _mapping(trace_doc.get("processes"))
        raws = trace_doc.get("spans") or []
        for raw in raws if isinstance(raws, list) else [None]:
            try:
                span = _jaeger_span(raw, processes)
            except _DAMAGE:
                span = None
            if span is None:
                bad += 1
                continue
            yield span
    if bad:
        warnings.append(f"{where}: {bad} malformed span record(s) skipped")


def _jaeger_span(raw: Any, processes: Mapping[str, Any]) -> Span | None:
    trace_id = _hex_id(str(raw.get("traceID", "")).rjust(32, "0"), 32)
    span_id = _hex_id(str(raw.get("spanID", "")).rjust(16, "0"), 16)
    if trace_id is None or span_id is None:
        return None
    # CHILD_OF wins over FOLLOWS_FROM whatever their order (Jaeger UI takes the first one)
    parent_id = None
    follows = None
    for ref in raw.get("references") or []:
        if not isinstance(ref, Mapping):
            continue
        ref_id = _hex_id(str(ref.get("spanID", "")).rjust(16, "0"), 16)
        if ref.get("refType") == "CHILD_OF" and parent_id is None:
            parent_id = ref_id
        elif ref.get("refType") == "FOLLOWS_FROM" and follows is None:
            follows = ref_id
    parent_id = parent_id or follows
    start = _int(raw.get("startTime", 0)) * 1000
    end = start + _int(raw.get("duration", 0)) * 1000
    attrs: dict[str, Any] = {}
    failed = False
    for tag in raw.get("tags") or []:
        if isinstance(tag, Mapping) and isinstance(tag.get("key"), str):
            value = _jaeger_value(tag)
            if tag["key"] == "error" and (value is True or value == "true"):
                failed = True  # Jaeger's mark of a failed span, as Jaeger UI reads it
                continue
            attrs[tag["key"]] = value
    status = "unset"
    code = attrs.pop("otel.status_code", None)
    message = str(attrs.pop("otel.status_description", "") or "")
    if code == "ERROR" or failed:
        status = "error"
    elif code == "OK":
        status = "ok"
    kind_name = attrs.pop("span.kind", None)
    events = []
    for log in raw.get("logs") or []:
        if isinstance(log, Mapping):
            fields = {
                f["key"]: _jaeger_value(f)
                for f in log.get("fields") or []
                if isinstance(f, Mapping) and isinstance(f.get("key"), str)
            }
            name = str(fields.pop("event", ""))
            events.append((_int(log.get("timestamp", 0)) * 1000, name, fields))
    process = processes.get(raw.get("processID", "")) or raw.get("process") or {}
    resource = {}
    if isinstance(process, Mapping):
        for tag in process.get("tags") or []:
            if isinstance(tag, Mapping) and isinstance(tag.get("key"), str):
                resource[tag["key"]] = _jaeger_value(tag)
        resource["service.name"] = process.get("serviceName", "")
    scope = str(attrs.pop("otel.scope.name", attrs.pop("otel.library.name", "")) or "")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=str(raw.get("operationName", "")),
        start=start,
        end=end,
        attributes=attrs,
        events=events,
        status=status,
        status_message=message,
        kind=otlp_json.KIND_CODES.get(str(kind_name).lower(), 1) if kind_name else 1,
        service=str(resource.get("service.name", "")),
        scope=scope,
        resource=resource,
    )


def _spans_of_document(
    doc: Any, warnings: list[str], where: str, trace_ids: _TraceIds | None = None
) -> tuple[str, list[Span]]:
    """The spans of one JSON document (or of a JSON array of documents)."""
    if trace_ids is None:
        trace_ids = {}
    if isinstance(doc, list):
        spans: list[Span] = []
        kind = "unknown"
        for item in doc:
            if isinstance(item, list):
                raise ValueError("an array of arrays; expected trace documents")
            kind, found = _spans_of_document(item, warnings, where, trace_ids)
            spans.extend(found)
        return kind, spans
    if not isinstance(doc, Mapping):
        raise ValueError("not a JSON object")
    if "resourceSpans" in doc:
        return "otlp", list(_otlp_spans(doc, warnings, where, trace_ids))
    if "data" in doc or ("spans" in doc and "traceID" in doc):
        return "jaeger", list(_jaeger_spans(doc, warnings, where))
    raise ValueError("neither OTLP JSON ('resourceSpans') nor Jaeger JSON ('data')")


def parse_text(text: str, where: str = "<text>") -> ReadResult:
    """Spans from the text of a trace file, in any supported format."""
    result = ReadResult()
    stripped = text.strip()
    if not stripped:
        raise TraceReadError(where, "the file is empty; write traces with fanscope.configure()")
    if stripped[0] not in "[{":
        raise TraceReadError(
            where, "not JSON; expected OTLP JSON lines or Jaeger JSON (see docs/analysis.md)"
        )
    try:
        doc = json.loads(stripped)
    except RecursionError:
        raise TraceReadError(where, "JSON nested too deeply to be a trace file") from None
    except ValueError:
        doc = None
    if doc is not None:
        try:
            kind, spans = _spans_of_document(doc, result.warnings, where)
        except ValueError as exc:
            raise TraceReadError(where, f"JSON of an unknown shape: {exc}") from None
        result.spans, result.formats = spans, [kind]
        return result
    kinds: set[str] = set()
    good = bad = 0
    first_problem = ""
    trace_ids: _TraceIds = {}
    for number, line in enumerate(stripped.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            kind, spans = _spans_of_document(doc, result.warnings, f"{where}:{number}", trace_ids)
        except (ValueError, RecursionError) as exc:
            bad += 1
            first_problem = first_problem or f"line {number}: {exc}"
            continue
        good += 1
        kinds.add(kind)
        result.spans.extend(spans)
    if not good:
        raise TraceReadError(where, f"no readable trace data ({first_problem or 'no lines'})")
    if bad:
        result.warnings.append(
            f"{where}: {bad} line(s) not readable and skipped (first: {first_problem}); "
            f"a truncated file keeps the lines before the damage"
        )
    result.formats = sorted(kinds)
    return result


def read_file(path: str | os.PathLike[str]) -> ReadResult:
    """Spans from one trace file.

    JSON lines are read one line at a time (a file of a million spans is never held as text
    in memory); a file whose first line is not a whole JSON document (pretty-printed JSON)
    is read as one document.

    ``-`` is standard input (``curl .../api/traces?... | fanscope analyze -``), read whole.

    Raises:
        TraceReadError: the file is missing, unreadable, not text, or holds nothing readable.
    """
    result = _read_file(path)
    take_drop_records(result, os.fspath(path))
    return result


def _read_file(path: str | os.PathLike[str]) -> ReadResult:
    where = os.fspath(path)
    if where == "-":
        return _read_stdin()
    try:
        handle = open(where, "rb")  # noqa: SIM115 - closed below, after a fallback decision
    except FileNotFoundError:
        raise TraceReadError(where, "no such file") from None
    except IsADirectoryError:
        raise TraceReadError(where, "is a directory; pass a trace file") from None
    except OSError as exc:
        raise TraceReadError(where, f"cannot be read ({exc.strerror or exc})") from None
    result = ReadResult()
    kinds: set[str] = set()
    good = bad = 0
    first_problem = ""
    trace_ids: _TraceIds = {}
    try:
        with handle:
            for number, raw in enumerate(handle, 1):
                line = raw.strip()
                if not line:
                    continue
                try:
                    doc = json.loads(line)
                    kind, spans = _spans_of_document(
                        doc, result.warnings, f"{where}:{number}", trace_ids
                    )
                except (ValueError, RecursionError) as exc:
                    if good == 0 and bad == 0:
                        return _read_whole(where)  # not JSON lines: one document, or not JSON
                    bad += 1
                    first_problem = first_problem or f"line {number}: {str(exc)[:80]}"
                    continue
                good += 1
                kinds.add(kind)
                result.spans.extend(spans)
    except OSError as exc:
        raise TraceReadError(where, f"cannot be read ({exc.strerror or exc})") from None
    if not good:
        return _read_whole(where)
    if bad:
        result.warnings.append(
            f"{where}: {bad} line(s) not readable and skipped (first: {first_problem}); "
            f"a truncated file keeps the lines before the damage"
        )
    result.formats = sorted(kinds)
    return result


def _read_whole(where: str) -> ReadResult:
    try:
        with open(where, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise TraceReadError(where, f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceReadError(where, "not UTF-8 text; is this a trace file?") from None
    return parse_text(text, where)


def _read_stdin() -> ReadResult:
    import sys

    try:
        data = sys.stdin.buffer.read()
    except (OSError, AttributeError, ValueError) as exc:
        raise TraceReadError("<stdin>", f"cannot be read ({exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceReadError("<stdin>", "not UTF-8 text; is this a trace file?") from None
    return parse_text(text, "<stdin>")


def expand(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Paths with each directory replaced by the ``*.jsonl`` and ``*.json`` files in it."""
    out: list[str] = []
    for path in paths:
        where = os.fspath(path)
        if os.path.isdir(where):
            found = sorted(
                os.path.join(where, name)
                for name in os.listdir(where)
                if name.endswith((".jsonl", ".json"))
            )
            if not found:
                raise TraceReadError(where, "is a directory with no .jsonl or .json trace files")
            out.extend(found)
        else:
            out.append(where)
    return out


def take_drop_records(result: ReadResult, where: str) -> None:
    """Turn drop records (``docs/conventions.md``) into one warning per destination: they
    are not traces. Every read of a file goes through here (``read_file``)."""
    if not any(s.attributes.get(A.ROLE) == A.ROLE_EXPORT for s in result.spans):
        return
    lost: dict[str, int] = {}
    kept = []
    for span in result.spans:
        if span.attributes.get(A.ROLE) != A.ROLE_EXPORT:
            kept.append(span)
            continue
        count = span.attributes.get(A.EXPORT_DROPPED)
        destination = str(span.attributes.get(A.EXPORT_DESTINATION, "") or "its destination")
        if isinstance(count, int) and count > 0:
            lost[destination] = lost.get(destination, 0) + count
    result.spans[:] = kept
    for destination, count in lost.items():
        result.warnings.append(
            f"{where}: partial traces: the exporter dropped {count:,} span(s) on their way to "
            f"{destination}; what is reported here may miss them"
        )


def read_files(paths: Iterable[str | os.PathLike[str]]) -> ReadResult:
    """Spans from several trace files (or folders of them), with every file's warnings."""
    result = ReadResult()
    for path in expand(paths):
        one = read_file(path)
        result.spans.extend(one.spans)
        result.warnings.extend(one.warnings)
        result.formats.extend(f for f in one.formats if f not in result.formats)
    return result


def from_readable_spans(spans: Iterable[Any]) -> list[Span]:
    """Spans from the OpenTelemetry SDK (``ReadableSpan``, e.g. an in-memory exporter's)."""
    out = []
    for s in spans:
        ctx = s.context
        if ctx is None:
            continue
        status = otlp_json.STATUS_NAMES.get(s.status.status_code.value, "unset")
        resource = dict(s.resource.attributes) if s.resource is not None else {}
        out.append(
            Span(
                trace_id=f"{ctx.trace_id:032x}",
                span_id=f"{ctx.span_id:016x}",
                parent_id=f"{s.parent.span_id:016x}" if s.parent is not None else None,
                name=s.name,
                start=s.start_time or 0,
                end=s.end_time or s.start_time or 0,
                attributes={
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in (s.attributes or {}).items()
                },
                events=[(e.timestamp, e.name, dict(e.attributes or {})) for e in s.events],
                status=status,
                status_message=s.status.description or "",
                kind=s.kind.value + 1 if hasattr(s.kind, "value") else 1,
                service=str(resource.get("service.name", "")),
                scope=s.instrumentation_scope.name if s.instrumentation_scope else "",
                resource=resource,
                links=[
                    (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}")
                    for link in s.links or ()
                    if link.context is not None
                ],
            )
        )
    return out
