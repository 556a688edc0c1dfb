"""Jaeger JSON, both ways: what Jaeger UI's "Download JSON" and ``/api/traces`` hold.

A document is ``{"data": [trace, ...]}``; a trace is ``{"traceID", "spans", "processes"}``;
a span names its process by ``processID`` (or, in older files, holds it as ``process``).
Times are microseconds. Tags carry a type; Jaeger JSON has no array type, so arrays are
written as JSON strings (as the OpenTelemetry-to-Jaeger translation does) and read back as
lists. A failed span carries the tag ``error=true``: that tag, not ``otel.status_code``, is what
Jaeger UI shows and counts as an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from fanscope import otlp_json
from fanscope.analysis.model import Span


def _hex(value: object, length: int) -> str | None:
    return otlp_json.hex_id(str(value).rjust(length, "0") if value else "", length)


def tag_value(tag: Mapping[str, Any]) -> Any:
    """A Jaeger tag's value as a plain Python value."""
    kind = str(tag.get("type", "string")).lower()
    value = tag.get("value")
    if kind in ("int64", "int"):
        return otlp_json.to_int(value)
    if kind in ("float64", "float"):
        return float(value)  # type: ignore[arg-type]
    if kind in ("bool", "boolean"):
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:  # our converter writes arrays as JSON strings; read them back as lists
            decoded = json.loads(value)
        except (ValueError, RecursionError):  # not an array of ours: the string it is
            return value
        return decoded if isinstance(decoded, list) else value
    return value


def _tags(items: object, names: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for tag in items:
            if isinstance(tag, Mapping):
                key = tag.get("key")
                if isinstance(key, str):
                    out[names.setdefault(key, key)] = tag_value(tag)
    return out


class Processes:
    """The resources of one file's processes, each kept once however many spans name it."""

    def __init__(self) -> None:
        self._known: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}

    def resource(self, process: object) -> dict[str, Any]:
        """A process object as the resource attributes of its spans (``service.name`` too)."""
        if not isinstance(process, Mapping):
            return {}
        try:
            resource = _tags(process.get("tags"), self.names)
        except otlp_json.DAMAGE:  # a tag that cannot be read costs the tags, not the spans
            resource = {}
        resource["service.name"] = str(process.get("serviceName", "") or "")
        key = json.dumps(resource, sort_keys=True, default=str)
        return self._known.setdefault(key, resource)


def decode_span(
    raw: Any, processes: Mapping[str, dict[str, Any]], shared: Processes
) -> tuple[Span, str] | None:
    """One Jaeger span, and its ``processID`` (for a resource not known yet).

    Returns ``None`` for a record without usable ids; raises one of
    :data:`fanscope.otlp_json.DAMAGE` for other damage.
    """
    trace_id = _hex(raw.get("traceID"), 32)
    span_id = _hex(raw.get("spanID"), 16)
    if trace_id is None or span_id is None:
        return None
    # CHILD_OF wins over FOLLOWS_FROM whatever their order (Jaeger UI takes the first one)
    parent_id = None
    follows = None
    for ref in raw.get("references") or []:
        if not isinstance(ref, Mapping):
            continue
        ref_id = _hex(ref.get("spanID"), 16)
        if ref.get("refType") == "CHILD_OF" and parent_id is None:
            parent_id = ref_id
        elif ref.get("refType") == "FOLLOWS_FROM" and follows is None:
            follows = ref_id
    parent_id = parent_id or follows
    start = otlp_json.to_time(raw.get("startTime", 0), 1000)
    end = start + otlp_json.to_time(raw.get("duration", 0), 1000)
    names = shared.names
    attrs: dict[str, Any] = {}
    failed = False
    for tag in raw.get("tags") or []:
        if isinstance(tag, Mapping) and isinstance(tag.get("key"), str):
            key, value = tag["key"], tag_value(tag)
            if key == "error" and (value is True or value == "true"):
                failed = True  # Jaeger's mark of a failed span, as Jaeger UI reads it
                continue
            attrs[names.setdefault(key, key)] = value
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
            fields = _tags(log.get("fields"), names)
            name = str(fields.pop("event", ""))
            events.append((otlp_json.to_time(log.get("timestamp", 0), 1000), name, fields))
    pid = raw.get("processID", "")
    pid = pid if isinstance(pid, str) else ""
    resource = processes.get(pid)
    if resource is None:
        resource = shared.resource(raw.get("process")) if "process" in raw else {}
    scope = str(attrs.pop("otel.scope.name", attrs.pop("otel.library.name", "")) or "")
    name = str(raw.get("operationName", ""))
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=names.setdefault(name, name),
        start=start,
        end=end,
        attributes=attrs,
        events=events,
        status=status,
        status_message=message,
        kind=otlp_json.KIND_CODES.get(str(kind_name).lower(), 1) if kind_name else 1,
        service=str(resource.get("service.name", "")),
        scope=names.setdefault(scope, scope),
        resource=resource,
    )
    return span, pid


def tag(key: str, value: Any) -> dict[str, Any]:
    """One Jaeger tag."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"key": key, "type": "float64", "value": value}
        return {"key": key, "type": "string", "value": str(value)}  # JSON has no NaN
    if isinstance(value, list | dict):
        return {"key": key, "type": "string", "value": json.dumps(value, default=str)}
    return {"key": key, "type": "string", "value": "" if value is None else str(value)}


def encode_span(span: Span, process_id: str) -> dict[str, Any]:
    """One span as a Jaeger span of the process ``process_id``."""
    tags = [tag(k, v) for k, v in span.attributes.items()]
    if span.kind in otlp_json.KIND_NAMES and span.kind != 1:
        tags.append(tag("span.kind", otlp_json.KIND_NAMES[span.kind]))
    if span.status != "unset":
        tags.append(tag("otel.status_code", span.status.upper()))
    if span.status == "error":
        # Jaeger UI marks a span failed, and counts it in its trace list, by this tag
        tags.append(tag("error", True))
    if span.status_message:
        tags.append(tag("otel.status_description", span.status_message))
    if span.scope:
        tags.append(tag("otel.scope.name", span.scope))
    refs = []
    if span.parent_id:
        refs.append({"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_id})
    return {
        "traceID": span.trace_id,
        "spanID": span.span_id,
        "operationName": span.name,
        "references": refs,
        "startTime": span.start // 1000,
        # both ends floored to microseconds, so that reading back gives end // 1000
        "duration": span.end // 1000 - span.start // 1000,
        "tags": tags,
        "logs": [
            {
                "timestamp": t // 1000,
                "fields": [tag("event", name), *(tag(k, v) for k, v in attrs.items())],
            }
            for t, name, attrs in span.events
        ],
        "processID": process_id,
        "warnings": None,
    }


def encode_process(span: Span) -> dict[str, Any]:
    """The Jaeger process of a span's resource."""
    tags = [tag(k, v) for k, v in span.resource.items() if k != "service.name"]
    return {"serviceName": span.service, "tags": tags}
