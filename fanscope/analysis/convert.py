"""Convert trace files between OTLP JSON lines and Jaeger JSON, as a stream.

Jaeger UI's "upload JSON" renders Jaeger JSON by itself but turns OTLP JSON into Jaeger JSON by
calling a running Jaeger backend, so a CI artifact meant to be dropped into Jaeger UI must be
Jaeger JSON. Both directions keep every span, parent, attribute, event and status; failed spans
get Jaeger's ``error=true`` tag, which is what Jaeger UI shows and counts. Links are not written
to Jaeger JSON, whose only reference types (CHILD_OF, FOLLOWS_FROM) would read as parents.

Memory stays flat whatever the size of the file: spans are converted as they are read. OTLP
lines are written as the spans come (:class:`OtlpLinesWriter`); Jaeger JSON groups spans by
trace, so :class:`JaegerWriter` keeps each converted span in a temporary file and only its
place in memory, then writes the traces one after another.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from typing import Any, Protocol

from fanscope import otlp_json
from fanscope.analysis import jaeger
from fanscope.analysis.model import Span


class Out(Protocol):
    """Where converted text goes (a text file, standard output)."""

    def write(self, text: str, /) -> int: ...


#: Spans per OTLP JSON line (one ``ExportTraceServiceRequest``).
SPANS_PER_LINE = 1000


class OtlpLinesWriter:
    """Spans to OTLP JSON lines, written as they come."""

    def __init__(self, out: Out) -> None:
        self.out = out

    def add(self, spans: list[Span]) -> None:
        for at in range(0, len(spans), SPANS_PER_LINE):
            self.out.write(_otlp_line(spans[at : at + SPANS_PER_LINE]) + "\n")

    def finish(self) -> None:
        """Nothing is held back: every line is written by :meth:`add`."""


def _otlp_line(spans: Iterable[Span]) -> str:
    """One ``ExportTraceServiceRequest``, spans grouped by resource and scope."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    resources: dict[int, dict[str, Any]] = {}
    for s in spans:
        resources.setdefault(id(s.resource), s.resource)
        groups.setdefault((id(s.resource), s.scope), []).append(
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
    by_resource: dict[int, list[tuple[str, str, list[dict[str, Any]]]]] = {}
    for (rid, scope), records in groups.items():
        by_resource.setdefault(rid, []).append((scope, "", records))
    request = {
        "resourceSpans": [
            otlp_json.resource_spans(resources[rid], scopes) for rid, scopes in by_resource.items()
        ]
    }
    return otlp_json.dumps(request)


class _Trace:
    __slots__ = ("pieces", "processes")

    def __init__(self) -> None:
        self.pieces: list[list[int]] = []  # [start, end) byte ranges in the spool
        self.processes: dict[int, tuple[str, dict[str, Any]]] = {}  # resource -> pid, process


class JaegerWriter:
    """Spans to one Jaeger JSON document, ``{"data": [trace, ...]}``, one entry per trace."""

    def __init__(self, out: Out) -> None:
        self.out = out
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish()
        self._size = 0
        self._traces: dict[str, _Trace] = {}
        self._resources: list[dict[str, Any]] = []  # keeps ids in _Trace.processes valid

    def add(self, spans: list[Span]) -> None:
        traces, spool = self._traces, self._spool
        for span in spans:
            trace = traces.get(span.trace_id)
            if trace is None:
                trace = traces[span.trace_id] = _Trace()
            known = trace.processes.get(id(span.resource))
            if known is None:
                pid = f"p{len(trace.processes) + 1}"
                known = trace.processes[id(span.resource)] = (pid, jaeger.encode_process(span))
                self._resources.append(span.resource)
            data = (otlp_json.dumps(jaeger.encode_span(span, known[0])) + ",\n").encode()
            spool.write(data)
            start, self._size = self._size, self._size + len(data)
            if trace.pieces and trace.pieces[-1][1] == start:
                trace.pieces[-1][1] = self._size  # contiguous with the last one: one read
            else:
                trace.pieces.append([start, self._size])

    def finish(self) -> None:
        """Write the document (every trace, in the order their first span came)."""
        out, spool = self.out, self._spool
        out.write('{"data": [\n')
        for number, (trace_id, trace) in enumerate(self._traces.items()):
            out.write(f'{"," if number else ""}{{"traceID": "{trace_id}", "spans": [\n')
            last = trace.pieces[-1]
            for piece in trace.pieces:
                spool.seek(piece[0])
                data = spool.read(piece[1] - piece[0])
                if piece is last:
                    data = data[:-2]  # the last span's ",\n"
                out.write(data.decode())
            processes = {pid: process for pid, process in trace.processes.values()}
            out.write(f'\n], "processes": {otlp_json.dumps(processes)}, "warnings": null}}\n')
        out.write('], "total": 0, "limit": 0, "offset": 0, "errors": null}\n')
        spool.close()


def to_jaeger(spans: Iterable[Span]) -> dict[str, Any]:
    """A Jaeger JSON document (``{"data": [...]}``) with one entry per trace, in memory."""
    import io

    text = io.StringIO()
    writer = JaegerWriter(text)
    writer.add(list(spans))
    writer.finish()
    document: dict[str, Any] = json.loads(text.getvalue())
    return document


def to_otlp_lines(spans: Iterable[Span]) -> list[str]:
    """OTLP JSON lines, in memory."""
    spans = list(spans)
    return [
        _otlp_line(spans[at : at + SPANS_PER_LINE]) for at in range(0, len(spans), SPANS_PER_LINE)
    ]
