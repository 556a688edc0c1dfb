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

import base64
import binascii
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fanscope.analysis.model import Span
from fanscope.errors import TraceReadError

_STATUS = {0: "unset", 1: "ok", 2: "error"}
_UNSET = {"code": 0}
_STATUS_NAMES = {"STATUS_CODE_UNSET": "unset", "STATUS_CODE_OK": "ok", "STATUS_CODE_ERROR": "error"}


@dataclass
class ReadResult:
    """Spans read from one or more sources, and what was wrong with them."""

    spans: list[Span] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)


#: What a damaged record can raise while it is decoded; the record is skipped and counted.
_DAMAGE = (ValueError, TypeError, AttributeError, KeyError, OverflowError, RecursionError)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _hex_id(value: object, length: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if len(value) == length:
        try:
            int(value, 16)
        except ValueError:
            pass
        else:
            if value.isalnum():  # int() also accepts "0x", "_" and spaces
                return value.lower()
    try:  # protobuf's JSON mapping writes bytes fields as base64
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) * 2 == length:
        return raw.hex()
    return None


def _int(value: object) -> int:
    if type(value) is str:
        return int(value)
    if isinstance(value, bool):
        raise ValueError("boolean where a number was expected")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        return int(value)
    raise ValueError(f"not a number: {value!r}")


def _any_value(value: object) -> Any:
    if type(value) is dict and len(value) == 1:  # the common case, straight to the point
        if "stringValue" in value:
            return value["stringValue"]
        if "intValue" in value:
            return _int(value["intValue"])
    if not isinstance(value, Mapping):
        return None
    for key, item in value.items():
        if key == "stringValue":
            return item
        if key == "intValue":
            return _int(item)
        if key == "doubleValue":
            return float(item)
        if key == "boolValue":
            return bool(item)
        if key == "arrayValue":
            values = item.get("values", []) if isinstance(item, Mapping) else []
            return [_any_value(v) for v in values]
        if key == "kvlistValue":
            values = item.get("values", []) if isinstance(item, Mapping) else []
            return {kv.get("key"): _any_value(kv.get("value")) for kv in values}
        if key == "bytesValue":
            return item
    return None


def _key_values(items: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if type(items) is list:
        for kv in items:
            if type(kv) is dict:
                key = kv.get("key")
                if type(key) is str:
                    out[key] = _any_value(kv.get("value"))
    return out


def _otlp_status(status: object) -> tuple[str, str]:
    if not isinstance(status, Mapping):
        return "unset", ""
    code = status.get("code", 0)
    if isinstance(code, str):
        name = _STATUS_NAMES.get(code)
        if name is None:
            try:
                name = _STATUS.get(int(code), "unset")
            except ValueError:
                name = "unset"
    else:
        name = _STATUS.get(code if isinstance(code, int) else 0, "unset")
    return name, str(status.get("message", "") or "")


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
            resource = _key_values(_mapping(rs.get("resource")).get("attributes"))
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
                    span = _otlp_span(raw, service, scope_name, resource, trace_ids)
                except _DAMAGE:
                    span = None
                if span is None:
                    bad += 1
                    continue
                yield span
    if bad:
        warnings.append(f"{where}: {bad} malformed span record(s) skipped")


_LOWER_HEX = "0123456789abcdef"
_NO_PARENT = "0" * 16
_KIND_NAMES = {
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}


def _fast_id(value: object, length: int) -> str | None:
    """``_hex_id`` with the common case (lowercase hex of the right length) first."""
    if type(value) is str and len(value) == length and not value.strip(_LOWER_HEX):
        return value
    return _hex_id(value, length)


#: Trace ids already read, each to its one string object: most spans share a few trace ids,
#: so this saves a validation per span and 80 bytes per span of a million.
_TraceIds = dict[object, str]


def _otlp_span(
    raw: Any, service: str, scope: str, resource: dict[str, Any], trace_ids: _TraceIds
) -> Span | None:
    # The hot loop of reading a million spans: dict lookups and type checks kept to the
    # minimum for a well-formed record; anything unusual goes through the careful helpers.
    get = raw.get
    raw_trace_id = get("traceId")
    trace_id = trace_ids.get(raw_trace_id) if type(raw_trace_id) is str else None
    if trace_id is None:
        trace_id = _hex_id(raw_trace_id, 32)
        if trace_id is None:
            return None
        trace_ids[raw_trace_id] = trace_id
    span_id = get("spanId")
    if not (type(span_id) is str and len(span_id) == 16 and not span_id.strip(_LOWER_HEX)):
        span_id = _hex_id(span_id, 16)
        if span_id is None:
            return None
    parent_id = get("parentSpanId")
    if parent_id:
        parent_id = _fast_id(parent_id, 16)
        if parent_id == _NO_PARENT:
            parent_id = None
    else:
        parent_id = None
    start = get("startTimeUnixNano", 0)
    start = int(start) if type(start) is str else _int(start)
    end = get("endTimeUnixNano", start)
    end = int(end) if type(end) is str else _int(end)
    status = get("status")
    if not status or status == _UNSET:
        status, message = "unset", ""
    else:
        status, message = _otlp_status(status)
    events = []
    for event in get("events") or ():
        if type(event) is dict:
            events.append(
                (
                    _int(event.get("timeUnixNano", 0)),
                    str(event.get("name", "")),
                    _key_values(event.get("attributes")),
                )
            )
    links = []
    for link in get("links") or ():
        if type(link) is dict:
            lt, ls = _hex_id(link.get("traceId"), 32), _hex_id(link.get("spanId"), 16)
            if lt and ls:
                links.append((lt, ls))
    kind = get("kind", 1)
    if type(kind) is not int:
        kind = _KIND_NAMES.get(kind, 1) if isinstance(kind, str) else 1
    name = get("name", "")
    return Span(
        trace_id,
        span_id,
        parent_id,
        name if type(name) is str else str(name),
        start,
        end,
        _key_values(get("attributes")),
        events,
        status,
        message,
        kind,
        service,
        scope,
        resource,
        links,
    )


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
    for tag in raw.get("tags") or []:
        if isinstance(tag, Mapping) and isinstance(tag.get("key"), str):
            attrs[tag["key"]] = _jaeger_value(tag)
    status = "unset"
    code = attrs.pop("otel.status_code", None)
    message = str(attrs.pop("otel.status_description", "") or "")
    if code == "ERROR" or attrs.get("error") is True:
        status = "error"
    elif code == "OK":
        status = "ok"
    attrs.pop("error", None) if status == "error" and attrs.get("error") is True else None
    kind_name = attrs.pop("span.kind", None)
    kinds = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
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
        kind=kinds.get(str(kind_name).lower(), 1) if kind_name else 1,
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
        status = {0: "unset", 1: "ok", 2: "error"}.get(s.status.status_code.value, "unset")
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
