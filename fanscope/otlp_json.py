"""The OTLP JSON wire format, both ways: the one place that knows how spans look on the wire.

The trace-file exporter writes with it, the analyzer's readers and ``fanscope convert`` read and
write with it. The encoding is OTLP/JSON
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): camelCase keys, trace and
span ids as lowercase hex (not base64, which is what protobuf's ``json_format`` would write),
64-bit integers (timestamps, ``intValue``) as decimal strings, enums as integers, and doubles
that are not finite as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.

Strings on the wire are valid UTF-8, whatever the program put into a span: a lone surrogate
(``"bad\\udc80"``, what ``os.fsdecode`` makes of an undecodable file name) is written as U+FFFD,
and a surrogate pair left split in a ``str`` is joined into its character. One bad value
costs that value's characters, never its span or the other spans of its batch.

Decoding is lenient the way readers must be with files from other tools: hex or base64 ids,
enum names (``"SPAN_KIND_CLIENT"``, ``"STATUS_CODE_ERROR"``) or numbers, ``intValue`` as a
string or a number, and the old ``instrumentationLibrarySpans`` key. A record that cannot be
read raises one of :data:`DAMAGE`; the caller skips it and counts it.

This module imports nothing else from fanscope and nothing from OpenTelemetry: the exporters
and the analysis both import it, never the other way round.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: OTLP ``Span.SpanKind`` numbers and their lowercase names (also Jaeger's ``span.kind`` tag).
KIND_NAMES = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
KIND_CODES = {name: code for code, name in KIND_NAMES.items()}
_KIND_ENUM = {f"SPAN_KIND_{name.upper()}": code for code, name in KIND_NAMES.items()}

#: OTLP ``Status.StatusCode`` numbers and the analyzer's names for them.
STATUS_NAMES = {0: "unset", 1: "ok", 2: "error"}
STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}
_STATUS_ENUM = {f"STATUS_CODE_{name.upper()}": name for name in STATUS_CODES}

#: What a damaged record can raise while it is decoded; the record is skipped and counted.
DAMAGE = (ValueError, TypeError, AttributeError, KeyError, OverflowError, RecursionError)

NO_PARENT = "0" * 16
_LOWER_HEX = "0123456789abcdef"


# --------------------------------------------------------------------------------- encoding


def valid_utf8(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD and split pairs joined.

    Returns ``text`` itself (no copy) when it is already encodable, the common case.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def any_value(value: Any) -> dict[str, Any]:
    """One attribute value as an OTLP ``AnyValue``."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        text = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        return {"doubleValue": text}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"stringValue": value.decode("utf-8", "replace")}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": key_values(value)}}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def key_values(attrs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Attributes as OTLP ``KeyValue`` records (``None`` values left out)."""
    return [
        {"key": str(k), "value": any_value(v)} for k, v in (attrs or {}).items() if v is not None
    ]


def span_record(
    trace_id: str,
    span_id: str,
    parent_id: str | None,
    name: str,
    kind: int,
    start: int,
    end: int,
    attributes: Mapping[str, Any] | None = None,
    status: str = "unset",
    status_message: str = "",
    events: Iterable[tuple[int, str, Mapping[str, Any] | None]] = (),
    links: Iterable[tuple[str, str, Mapping[str, Any] | None]] = (),
) -> dict[str, Any]:
    """One OTLP ``Span`` from plain values: hex ids, nanosecond times, a status name."""
    out: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "attributes": key_values(attributes),
        "status": {"code": STATUS_CODES.get(status, 0)},
    }
    if parent_id:
        out["parentSpanId"] = parent_id
    if status_message:
        out["status"]["message"] = status_message
    encoded_events = [
        {"timeUnixNano": str(t), "name": n, "attributes": key_values(a)} for t, n, a in events
    ]
    if encoded_events:
        out["events"] = encoded_events
    encoded_links = []
    for t, s, a in links:
        link: dict[str, Any] = {"traceId": t, "spanId": s}
        if a:
            link["attributes"] = key_values(a)
        encoded_links.append(link)
    if encoded_links:
        out["links"] = encoded_links
    return out


def sdk_span_record(span: Any) -> dict[str, Any]:
    """One OpenTelemetry SDK ``ReadableSpan`` as an OTLP ``Span``."""
    ctx = span.context
    parent = span.parent
    status = span.status
    return span_record(
        f"{ctx.trace_id:032x}",
        f"{ctx.span_id:016x}",
        f"{parent.span_id:016x}" if parent is not None else None,
        span.name,
        span.kind.value + 1,  # SpanKind.INTERNAL is 0 in the API, 1 on the wire
        span.start_time or 0,
        span.end_time or span.start_time or 0,
        span.attributes,
        STATUS_NAMES.get(status.status_code.value, "unset"),
        status.description or "",
        ((e.timestamp, e.name, e.attributes) for e in span.events),
        (
            (f"{ln.context.trace_id:032x}", f"{ln.context.span_id:016x}", ln.attributes)
            for ln in span.links
        ),
    )


def resource_spans(
    resource: Mapping[str, Any] | None, scopes: Iterable[tuple[str, str, list[dict[str, Any]]]]
) -> dict[str, Any]:
    """One ``ResourceSpans``: a resource's attributes and ``(scope, version, spans)`` groups."""
    scope_spans = []
    for name, version, spans in scopes:
        scope: dict[str, Any] = {"name": name}
        if version:
            scope["version"] = version
        scope_spans.append({"scope": scope, "spans": spans})
    return {"resource": {"attributes": key_values(resource)}, "scopeSpans": scope_spans}


def sdk_request(spans: Sequence[Any]) -> tuple[dict[str, Any], int]:
    """SDK spans as one ``ExportTraceServiceRequest``, grouped by resource and scope.

    Returns the request and how many spans could not be encoded at all (left out, each on
    its own: the others of the batch are kept).
    """
    by_resource: dict[int, tuple[Any, dict[tuple[str, str], list[dict[str, Any]]]]] = {}
    dropped = 0
    for span in spans:
        try:
            record = sdk_span_record(span)
        except Exception:  # a span object we cannot read: lose it, not its batch
            dropped += 1
            continue
        resource = span.resource
        entry = by_resource.setdefault(id(resource), (resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version or "") if scope is not None else ("", "")
        entry[1].setdefault(key, []).append(record)
    request = {
        "resourceSpans": [
            resource_spans(
                resource.attributes if resource is not None else None,
                ((name, version, records) for (name, version), records in scopes.items()),
            )
            for resource, scopes in by_resource.values()
        ]
    }
    return request, dropped


def dumps(document: Any, indent: int | None = None) -> str:
    """``document`` as JSON text that is valid UTF-8 (one line unless ``indent`` is given)."""
    text = json.dumps(
        document,
        ensure_ascii=False,
        allow_nan=False,
        indent=indent,
        separators=(",", ":") if indent is None else None,
    )
    # Lone surrogates can only sit inside JSON strings: replacing them in the text is
    # replacing them in each string, and costs one check when there are none.
    return valid_utf8(text)


# --------------------------------------------------------------------------------- decoding


def hex_id(value: object, length: int) -> str | None:
    """An id of ``length`` hex digits, from hex (any case) or base64; ``None`` if neither."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == length:
        if not value.strip(_LOWER_HEX):
            return value
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


def to_int(value: object) -> int:
    """An int64 field: a decimal string (the OTLP/JSON way) or a JSON number."""
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


TIME_LIMIT = 2**64
"""Past this many nanoseconds either way a time is damage: OTLP times are 64-bit, and a
difference of two larger ones (a Jaeger duration of 1e308 microseconds) is no float."""


def to_time(value: object, scale: int = 1) -> int:
    """A time in nanoseconds (a Jaeger time in microseconds, ``scale=1000``), within 64 bits."""
    time = to_int(value) * scale
    if not -TIME_LIMIT < time < TIME_LIMIT:
        raise ValueError(f"a time past 64 bits of nanoseconds: {value!r:.40}")
    return time


def decode_any_value(value: object) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value (``None`` when unreadable)."""
    if type(value) is dict and len(value) == 1:  # the common case, straight to the point
        if "stringValue" in value:
            return value["stringValue"]
        if "intValue" in value:
            return to_int(value["intValue"])
    if not isinstance(value, Mapping):
        return None
    for key, item in value.items():
        if key == "stringValue":
            return item
        if key == "intValue":
            return to_int(item)
        if key == "doubleValue":
            return float(item)
        if key == "boolValue":
            return bool(item)
        if key == "arrayValue":
            values = item.get("values", []) if isinstance(item, Mapping) else []
            return [decode_any_value(v) for v in values]
        if key == "kvlistValue":
            values = item.get("values", []) if isinstance(item, Mapping) else []
            return {kv.get("key"): decode_any_value(kv.get("value")) for kv in values}
        if key == "bytesValue":
            return item
    return None


def decode_key_values(items: object) -> dict[str, Any]:
    """OTLP ``KeyValue`` records as a dict; records that are not ``{key, value}`` left out."""
    out: dict[str, Any] = {}
    if type(items) is list:
        for kv in items:
            if type(kv) is dict:
                key = kv.get("key")
                if type(key) is str:
                    out[key] = decode_any_value(kv.get("value"))
    return out


def decode_status(status: object) -> tuple[str, str]:
    """An OTLP ``Status`` as ``(name, message)``: ``"unset"``, ``"ok"`` or ``"error"``."""
    if not isinstance(status, Mapping):
        return "unset", ""
    code = status.get("code", 0)
    if isinstance(code, str):
        name = _STATUS_ENUM.get(code)
        if name is None:
            try:
                name = STATUS_NAMES.get(int(code), "unset")
            except ValueError:
                name = "unset"
    else:
        name = STATUS_NAMES.get(code if isinstance(code, int) else 0, "unset")
    return name, str(status.get("message", "") or "")


def decode_kind(kind: object) -> int:
    """An OTLP span kind (number or enum name) as its number; internal when unknown."""
    if type(kind) is int:
        return kind
    return _KIND_ENUM.get(kind, 1) if isinstance(kind, str) else 1


_UNSET = {"code": 0}

#: Trace ids already read, each to its one string object: most spans share a few trace ids,
#: so this saves a validation per span and 80 bytes per span of a million.
TraceIds = dict[object, str]

#: What :func:`decode_span` passes to its ``make`` callable, in this order.
SPAN_FIELDS = (
    "trace_id", "span_id", "parent_id", "name", "start", "end", "attributes", "events",
    "status", "status_message", "kind", "service", "scope", "resource", "links",
)  # fmt: skip


def decode_span(
    raw: Any,
    make: Callable[..., T],
    service: str,
    scope: str,
    resource: dict[str, Any],
    trace_ids: TraceIds,
) -> T | None:
    """One OTLP ``Span`` record, built with ``make(*fields)`` (see :data:`SPAN_FIELDS`).

    Returns ``None`` for a record without usable ids; raises one of :data:`DAMAGE` for other
    damage. ``make`` receives ``events`` as ``(time_ns, name, attributes)`` and ``links`` as
    ``(trace_id, span_id)``.
    """
    # The hot loop of reading a million spans: dict lookups and type checks kept to the
    # minimum for a well-formed record; anything unusual goes through the careful helpers.
    get = raw.get
    raw_trace_id = get("traceId")
    trace_id = trace_ids.get(raw_trace_id) if type(raw_trace_id) is str else None
    if trace_id is None:
        trace_id = hex_id(raw_trace_id, 32)
        if trace_id is None:
            return None
        trace_ids[raw_trace_id] = trace_id
    span_id = get("spanId")
    if not (type(span_id) is str and len(span_id) == 16 and not span_id.strip(_LOWER_HEX)):
        span_id = hex_id(span_id, 16)
        if span_id is None:
            return None
    parent_id = get("parentSpanId")
    if parent_id:
        if not (type(parent_id) is str and len(parent_id) == 16) or parent_id.strip(_LOWER_HEX):
            parent_id = hex_id(parent_id, 16)
        if parent_id == NO_PARENT:
            parent_id = None
    else:
        parent_id = None
    start = get("startTimeUnixNano", 0)
    start = int(start) if type(start) is str else to_int(start)
    end = get("endTimeUnixNano", start)
    end = int(end) if type(end) is str else to_int(end)
    if not (-TIME_LIMIT < start < TIME_LIMIT and -TIME_LIMIT < end < TIME_LIMIT):
        raise ValueError("a time past 64 bits of nanoseconds")
    status = get("status")
    if not status or status == _UNSET:
        status, message = "unset", ""
    else:
        status, message = decode_status(status)
    events = []
    for event in get("events") or ():
        if type(event) is dict:
            events.append(
                (
                    to_time(event.get("timeUnixNano", 0)),
                    str(event.get("name", "")),
                    decode_key_values(event.get("attributes")),
                )
            )
    links = []
    for link in get("links") or ():
        if type(link) is dict:
            lt, ls = hex_id(link.get("traceId"), 32), hex_id(link.get("spanId"), 16)
            if lt and ls:
                links.append((lt, ls))
    name = get("name", "")
    return make(
        trace_id,
        span_id,
        parent_id,
        name if type(name) is str else str(name),
        start,
        end,
        decode_key_values(get("attributes")),
        events,
        status,
        message,
        decode_kind(get("kind", 1)),
        service,
        scope,
        resource,
        links,
    )
