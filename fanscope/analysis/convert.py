"""Convert trace files between OTLP JSON lines and Jaeger JSON.

Jaeger UI's "upload JSON" renders Jaeger JSON by itself but turns OTLP JSON into Jaeger JSON by
calling a running Jaeger backend, so a CI artifact meant to be dropped into Jaeger UI must be
Jaeger JSON. Both directions keep every span, parent, attribute, event and status. Jaeger JSON
has no array type: arrays are written as JSON strings (as the OpenTelemetry-to-Jaeger
translation does) and read back as lists. Links are not written to Jaeger JSON, whose only
reference types (CHILD_OF, FOLLOWS_FROM) would read as parents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fanscope import otlp_json
from fanscope.analysis.model import Span


def _tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, list | dict):
        return {"key": key, "type": "string", "value": json.dumps(value)}
    return {"key": key, "type": "string", "value": "" if value is None else str(value)}


def to_jaeger(spans: Iterable[Span]) -> dict[str, Any]:
    """A Jaeger JSON document (``{"data": [...]}``) with one entry per trace."""
    traces: dict[str, dict[str, Any]] = {}
    for span in spans:
        doc = traces.setdefault(
            span.trace_id, {"traceID": span.trace_id, "spans": [], "processes": {}}
        )
        processes = doc["processes"]
        key = json.dumps(sorted((k, str(v)) for k, v in span.resource.items()))
        pid = next((p for p, proc in processes.items() if proc["_key"] == key), None)
        if pid is None:
            pid = f"p{len(processes) + 1}"
            tags = [_tag(k, v) for k, v in span.resource.items() if k != "service.name"]
            processes[pid] = {"serviceName": span.service, "tags": tags, "_key": key}
        tags = [_tag(k, v) for k, v in span.attributes.items()]
        if span.kind in otlp_json.KIND_NAMES and span.kind != 1:
            tags.append(_tag("span.kind", otlp_json.KIND_NAMES[span.kind]))
        if span.status != "unset":
            tags.append(_tag("otel.status_code", span.status.upper()))
        if span.status == "error":
            # Jaeger UI marks a span failed, and counts it in its trace list, by this tag
            tags.append(_tag("error", True))
        if span.status_message:
            tags.append(_tag("otel.status_description", span.status_message))
        if span.scope:
            tags.append(_tag("otel.scope.name", span.scope))
        refs = []
        if span.parent_id:
            refs.append({"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_id})
        doc["spans"].append(
            {
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
                        "fields": [_tag("event", name), *(_tag(k, v) for k, v in attrs.items())],
                    }
                    for t, name, attrs in span.events
                ],
                "processID": pid,
                "warnings": None,
            }
        )
    for doc in traces.values():
        for proc in doc["processes"].values():
            proc.pop("_key", None)
    return {"data": list(traces.values()), "total": 0, "limit": 0, "offset": 0, "errors": None}


def to_otlp_lines(spans: Iterable[Span]) -> list[str]:
    """OTLP JSON lines, one ``ExportTraceServiceRequest`` per trace."""
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    lines = []
    for members in by_trace.values():
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        resources: dict[str, dict[str, Any]] = {}
        for s in members:
            key = json.dumps(s.resource, sort_keys=True, default=str)
            resources.setdefault(key, s.resource)
            groups.setdefault((key, s.scope), []).append(
                otlp_json.span_record(
                    s.trace_id,
                    s.span_id,
                    s.parent_id,
                    s.name,
                    s.kind,
                    s.start,
                    s.end,
                    s.attributes,
                    s.status,
                    s.status_message,
                    s.events,
                    ((t, i, None) for t, i in s.links),
                )
            )
        request = {
            "resourceSpans": [
                otlp_json.resource_spans(resources[key], [(scope, "", records)])
                for (key, scope), records in groups.items()
            ]
        }
        lines.append(otlp_json.dumps(request))
    return lines
