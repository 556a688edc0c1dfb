"""Trace documents walked as they stream in: OTLP JSON and Jaeger JSON, one span at a time.

:func:`read_stream` reads every JSON value of a source (one per line, or one document over
many lines, or several documents in a JSON array) with :class:`~.jsonstream.JsonStream`,
walks each by hand down to its spans, and decodes one span at a time: a file of a million
spans never sits in memory as text or as parsed JSON, only as the analyzer's
:class:`~fanscope.analysis.model.Span` records.

The shapes recognised, whatever the order of members within an object:

* OTLP: ``{"resourceSpans": [{"resource", "scopeSpans": [{"scope", "spans": [...]}]}]}``
  (and the older ``instrumentationLibrarySpans`` / ``instrumentationLibrary``);
* Jaeger: ``{"data": [{"traceID", "spans": [...], "processes": {...}}]}``, or one trace
  object by itself.

The first value of a source decides whether it is a trace file at all: input that does not
start like JSON, or whose first value breaks before it names one of the members above, is
refused at once (a gigabyte of junk costs a few kilobytes of reading). After that, damage is
normal: a broken line is skipped to the next line that starts a JSON value, and counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fanscope import otlp_json
from fanscope.analysis import jaeger
from fanscope.analysis.jsonstream import JsonDamage, JsonStream, TooDeep
from fanscope.analysis.model import Span
from fanscope.errors import TraceReadError

_DAMAGE = otlp_json.DAMAGE


Emit = Callable[[list[Span]], None]


@dataclass
class Sink:
    """Where the spans of one source go, and what was found wrong with them.

    Spans gather in ``spans`` while their container (a ``ResourceSpans``, a Jaeger trace) is
    read, since members that complete them may come after them; then they are passed on.
    """

    emit: Emit
    spans: list[Span] = field(default_factory=list)
    malformed: int = 0
    kinds: set[str] = field(default_factory=set)
    identified: bool = False  # a trace member was seen: damage from now on is skipped
    trace_ids: otlp_json.TraceIds = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    processes: jaeger.Processes = field(default_factory=jaeger.Processes)

    def resource(self, value: object) -> dict[str, Any]:
        """An OTLP ``Resource`` as its attributes, one dict per distinct resource."""
        try:
            attrs = value.get("attributes") if isinstance(value, Mapping) else None
            resource = otlp_json.decode_key_values(attrs)
        except _DAMAGE:
            self.malformed += 1
            return {}
        key = json.dumps(resource, sort_keys=True, default=str)
        return self.resources.setdefault(key, resource)

    def flush(self) -> None:
        if self.spans:
            self.emit(self.spans)
            self.spans = []


def _skip(stream: JsonStream, sink: Sink) -> None:
    """Pass over a value of the wrong type where a container was expected, and count it."""
    stream.value()
    sink.malformed += 1


def _scope_spans(stream: JsonStream, sink: Sink, service: str, resource: dict[str, Any]) -> None:
    spans = sink.spans
    first = len(spans)
    scope = ""
    seen_spans = False
    trace_ids = sink.trace_ids
    decode = otlp_json.decode_span
    span: Span | None
    for name in stream.members():
        if name in ("scope", "instrumentationLibrary"):
            value = stream.value()
            scope = str(value.get("name", "") or "") if isinstance(value, Mapping) else ""
            if seen_spans:  # the scope came after its spans
                for span in spans[first:]:
                    span.scope = scope
        elif name == "spans" and stream.peek() == "[":
            seen_spans = True
            append = spans.append
            for raw in stream.values():
                try:
                    span = decode(raw, Span, service, scope, resource, trace_ids)
                except _DAMAGE:
                    span = None
                if span is None:
                    sink.malformed += 1
                else:
                    append(span)
        elif name == "spans":
            _skip(stream, sink)
        else:
            stream.value()


def _resource_spans(stream: JsonStream, sink: Sink) -> None:
    spans = sink.spans
    first = len(spans)
    resource: dict[str, Any] = {}
    service = ""
    for name in stream.members():
        if name == "resource":
            resource = sink.resource(stream.value())
            service = str(resource.get("service.name", "") or "")
            for span in spans[first:]:  # the resource came after (some of) its spans
                span.resource, span.service = resource, service
        elif name in ("scopeSpans", "instrumentationLibrarySpans") and stream.peek() == "[":
            for _ in stream.items():
                if stream.peek() == "{":
                    _scope_spans(stream, sink, service, resource)
                else:
                    _skip(stream, sink)
        elif name in ("scopeSpans", "instrumentationLibrarySpans"):
            _skip(stream, sink)
        else:
            stream.value()
    sink.flush()


class _JaegerTrace:
    """One Jaeger trace object, whose ``processes`` may come after its ``spans``."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.processes: dict[str, dict[str, Any]] = {}
        self.pending: list[tuple[Span, str]] = []

    def member(self, stream: JsonStream, name: str) -> None:
        sink = self.sink
        if name == "spans" and stream.peek() == "[":
            append = sink.spans.append
            processes, shared, pending = self.processes, sink.processes, self.pending
            for raw in stream.values():
                try:
                    found = jaeger.decode_span(raw, processes, shared)
                except _DAMAGE:
                    found = None
                if found is None:
                    sink.malformed += 1
                    continue
                span, pid = found
                append(span)
                if pid and pid not in processes:
                    pending.append(found)
        elif name == "processes":
            value = stream.value()
            if isinstance(value, Mapping):
                shared = self.sink.processes
                self.processes.update((str(k), shared.resource(v)) for k, v in value.items())
                self.resolve()
        else:
            stream.value()

    def resolve(self) -> None:
        still = []
        for span, pid in self.pending:
            resource = self.processes.get(pid)
            if resource is None:
                still.append((span, pid))
            else:
                span.resource = resource
                span.service = str(resource.get("service.name", ""))
        self.pending = still


def _jaeger_traces(stream: JsonStream, sink: Sink) -> None:
    for _ in stream.items():
        if stream.peek() != "{":
            _skip(stream, sink)
            continue
        trace = _JaegerTrace(sink)
        for name in stream.members():
            trace.member(stream, name)
        sink.flush()


_JAEGER_TRACE = ("spans", "processes", "traceID")


def _object(stream: JsonStream, sink: Sink) -> str | None:
    """One document; its kind (``"otlp"``, ``"jaeger"``) or ``None`` for an unknown shape."""
    kind = None
    trace: _JaegerTrace | None = None
    for name in stream.members():
        if name == "resourceSpans":
            sink.identified, kind = True, "otlp"
            if stream.peek() == "[":
                for _ in stream.items():
                    if stream.peek() == "{":
                        _resource_spans(stream, sink)
                    else:
                        _skip(stream, sink)
            else:
                _skip(stream, sink)
        elif name == "data" and stream.peek() == "[":
            sink.identified, kind = True, "jaeger"
            _jaeger_traces(stream, sink)
        elif name in _JAEGER_TRACE:
            if name == "spans":
                sink.identified, kind = True, "jaeger"
            trace = trace or _JaegerTrace(sink)
            trace.member(stream, name)
        else:
            stream.value()
    return kind


def _document(stream: JsonStream, sink: Sink) -> str | None:
    if stream.peek() != "[":
        return _object(stream, sink)
    kind = None
    for _ in stream.items():
        found = stream.peek()
        if found == "[":
            stream.value()  # nested too deeply raises TooDeep here
            raise stream.damage("an array of arrays; expected trace documents")
        if found != "{":
            raise stream.damage("an array of something else than trace documents")
        kind = _object(stream, sink) or kind
    return kind


_UNKNOWN = "neither OTLP JSON ('resourceSpans') nor Jaeger JSON ('data')"


def read_stream(stream: JsonStream, where: str, emit: Emit) -> tuple[list[str], list[str]]:
    """Pass the spans of every document in ``stream`` to ``emit``, a list at a time.

    Returns the formats found and the warnings (damage skipped, records malformed).

    Raises:
        TraceReadError: the source is empty, is not JSON, is not trace JSON, or holds
            nothing readable.
    """
    sink = Sink(emit)
    first_char = stream.leading()
    if not first_char:
        raise TraceReadError(where, "the file is empty; write traces with fanscope.configure()")
    if first_char == "\ufffd":
        raise TraceReadError(where, "not UTF-8 text; is this a trace file?")
    if first_char not in "[{":
        raise TraceReadError(
            where, "not JSON; expected OTLP JSON lines or Jaeger JSON (see docs/analysis.md)"
        )
    good = damaged = unknown = 0
    first_problem = problem = ""
    found = first_char
    while found:
        start = stream.offset()
        try:
            if found not in "[{":
                raise stream.damage(f"not JSON (starts with {found!r})")
            kind = _document(stream, sink)
        except TooDeep as exc:
            if not sink.identified:
                raise TraceReadError(where, exc.reason) from None
            kind, problem = "", str(exc)
        except JsonDamage as exc:
            if not sink.identified:
                raise TraceReadError(where, f"not a trace file ({exc})") from None
            kind, problem = "", str(exc)
        sink.flush()  # what was read before any damage is kept
        if kind == "":  # damaged: skip to where the next line may start
            damaged += 1
            first_problem = first_problem or problem[:120]
            if not stream.resync(start):
                break
        elif kind is None:
            unknown += 1
            first_problem = first_problem or f"line {stream.line()}: {_UNKNOWN}"
        else:
            good += 1
            sink.kinds.add(kind)
        found = stream.peek()
    if not good:
        if unknown and not damaged:
            raise TraceReadError(where, f"JSON of an unknown shape: {_UNKNOWN}")
        raise TraceReadError(where, f"no readable trace data ({first_problem or 'no values'})")
    warnings = []
    if damaged or unknown:
        skipped = f"{damaged} damaged line(s)" if damaged else ""
        if unknown:
            skipped += (" and " if skipped else "") + f"{unknown} value(s) of another shape"
        warnings.append(
            f"{where}: {skipped} skipped (first: {first_problem}); a truncated file keeps "
            f"what comes before the damage"
        )
    if sink.malformed:
        warnings.append(f"{where}: {sink.malformed} malformed span record(s) skipped")
    return sorted(sink.kinds), warnings
