"""Trace readers: OTLP JSON (lines or one body), Jaeger JSON, and spans in memory.

The format is detected from the content, not the file name:

* **OTLP JSON lines**: one ``{"resourceSpans": [...]}`` per line, as ``fanscope.configure()``
  and the OpenTelemetry Collector's file exporter write them;
* **an OTLP/HTTP JSON body**: one such object, possibly pretty-printed over many lines;
* **Jaeger JSON**: ``{"data": [{"traceID", "spans", "processes"}]}``, what Jaeger UI's
  "Download JSON" and its ``/api/traces`` query API return (also one such object per line).

Every source is read as a stream (:mod:`fanscope.analysis.documents`): memory holds the
spans read, never the file. Input that does not start like a trace file is refused after
its first bytes.

Damaged input is normal. A line that is not JSON (a truncated last line, say) or a span
missing its ids is skipped with a warning; only a file with nothing readable at all raises
:class:`~fanscope.errors.TraceReadError`, whose message names the file and the problem.
Ids are read as hex; base64 ids (what protobuf's ``json_format`` writes) are converted.

What can be read:

* a regular file;
* ``-``: standard input (``curl .../api/traces?... | fanscope analyze -``);
* a pipe with a writer, such as bash's ``<(command)``; a named pipe that nothing writes to
  is refused at once instead of waiting for a writer that may never come;
* a character device is read like a file (``/dev/zero`` is refused by its first byte);
* a folder: its ``*.jsonl`` and ``*.json`` regular files (anything else in it, a named pipe
  say, is passed over with a warning). A file of the folder that cannot be read (empty,
  some other JSON) is skipped with a warning, unless ``strict=True``.
"""

from __future__ import annotations

import codecs
import errno
import fcntl
import io
import os
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from fanscope import otlp_json
from fanscope.analysis.documents import Emit, read_stream
from fanscope.analysis.jsonstream import JsonStream
from fanscope.analysis.model import Span
from fanscope.errors import TraceReadError
from fanscope.sdk import attributes as A

#: Bytes per read.
CHUNK = 1 << 20


@dataclass
class ReadResult:
    """Spans read from one or more sources, and what was wrong with them."""

    spans: list[Span] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    def _add(self, formats: Iterable[str], warnings: Iterable[str]) -> None:
        self.formats.extend(f for f in formats if f not in self.formats)
        self.warnings.extend(warnings)


def _text_reader(handle: IO[bytes], where: str, first: bytes = b"") -> Callable[[int], str]:
    """``read(n)`` of text decoded as UTF-8 from ``handle`` (undecodable bytes as U+FFFD).

    ``first``: bytes already read from ``handle``, read again first.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    done = False

    def read(size: int) -> str:
        nonlocal done, first
        if first:
            text, first = decoder.decode(first), b""
            if text:
                return text
        while not done:
            try:
                data = handle.read(max(size, 1))
            except OSError as exc:
                raise TraceReadError(where, f"cannot be read ({exc.strerror or exc})") from None
            if not data:
                done = True
                return decoder.decode(b"", final=True)
            text = decoder.decode(data)
            if text:
                return text
        return ""

    return read


def _read_from(
    handle: IO[bytes], where: str, result: ReadResult, emit: Emit | None, first: bytes = b""
) -> None:
    stream = JsonStream(_text_reader(handle, where, first), chunk=CHUNK)
    formats, warnings = read_stream(stream, where, emit or result.spans.extend)
    result._add(formats, warnings)


def parse_text(text: str, where: str = "<text>") -> ReadResult:
    """Spans from the text of a trace file, in any supported format."""
    result = ReadResult()
    formats, warnings = read_stream(JsonStream(io.StringIO(text).read), where, result.spans.extend)
    result._add(formats, warnings)
    return result


def _open_pipe(where: str) -> tuple[IO[bytes], bytes]:
    """A named pipe opened for reading, if something writes to it (never waits for one),
    and the bytes read to find out."""
    fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK)
    try:
        first = os.read(fd, CHUNK)
    except BlockingIOError:  # a writer is there, with nothing written yet
        first = None
    except OSError:
        os.close(fd)
        raise
    if first == b"":
        os.close(fd)
        raise TraceReadError(
            where,
            "a named pipe with nothing writing to it; start the writer first, or pipe the "
            "traces into 'fanscope analyze -'",
        )
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
    return os.fdopen(fd, "rb"), first or b""


def read_file(path: str | os.PathLike[str], emit: Emit | None = None) -> ReadResult:
    """Spans from one trace file (``-`` for standard input), read as a stream.

    Drop records (``docs/conventions.md``) are taken out on every reading path and become
    one warning per destination: the traces are partial.

    Args:
        emit: when given, spans are passed to it a list at a time as they are read (a
            trace or a batch of the file), and the result holds none of them.

    Raises:
        TraceReadError: the file is missing, unreadable, not text, or holds nothing readable.
    """
    where = os.fspath(path)
    result = ReadResult()
    drops = _DropRecords()
    sink = emit or result.spans.extend
    _read_source(where, result, lambda spans: sink(drops.take(spans)))
    result.warnings.extend(drops.warnings("<stdin>" if where == "-" else where))
    return result


def _read_source(where: str, result: ReadResult, emit: Emit) -> None:
    if where == "-":
        try:
            stdin = sys.stdin.buffer
        except (AttributeError, ValueError) as exc:
            raise TraceReadError("<stdin>", f"cannot be read ({exc})") from None
        _read_from(stdin, "<stdin>", result, emit)
        return
    first = b""
    try:
        mode = os.stat(where).st_mode
        if stat.S_ISDIR(mode):
            raise TraceReadError(where, "is a directory; pass a trace file")
        if stat.S_ISFIFO(mode):
            handle, first = _open_pipe(where)
        else:
            handle = open(where, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise TraceReadError(
            where,
            "no such file; fanscope.configure() writes traces.jsonl in the program's working "
            "directory unless told otherwise (docs/configure.md)",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket
            raise TraceReadError(where, "is a socket, not a trace file") from None
        raise TraceReadError(where, f"cannot be read ({exc.strerror or exc})") from None
    with handle:
        _read_from(handle, where, result, emit, first)


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _folder(where: str, warnings: list[str]) -> list[str]:
    """The trace files of a folder, in name order; other entries warned about."""
    found = []
    try:
        entries = sorted(os.scandir(where), key=lambda e: e.name)
    except OSError as exc:
        raise TraceReadError(where, f"cannot be listed ({exc.strerror or exc})") from None
    for entry in entries:
        if not entry.name.endswith((".jsonl", ".json")):
            continue
        try:
            mode = entry.stat().st_mode
        except OSError as exc:
            warnings.append(f"{entry.path}: skipped: {exc.strerror or exc}")
            continue
        if stat.S_ISREG(mode):
            found.append(entry.path)
        elif not stat.S_ISDIR(mode):
            warnings.append(f"{entry.path}: skipped: {_kind_of(mode)}, not a trace file")
    if not found:
        raise TraceReadError(where, "is a directory with no .jsonl or .json trace files")
    return found


class _DropRecords:
    """Drop records (``docs/conventions.md``) taken out of the spans read: they are not traces,
    they count spans the exporter lost on their way."""

    def __init__(self) -> None:
        self.lost: dict[str, int] = {}

    def take(self, spans: list[Span]) -> list[Span]:
        role, export = A.ROLE, A.ROLE_EXPORT
        if not any(s.attributes.get(role) == export for s in spans):
            return spans
        kept = []
        for span in spans:
            if span.attributes.get(role) != export:
                kept.append(span)
                continue
            count = span.attributes.get(A.EXPORT_DROPPED)
            destination = str(span.attributes.get(A.EXPORT_DESTINATION, "") or "its destination")
            if isinstance(count, int) and count > 0:
                self.lost[destination] = self.lost.get(destination, 0) + count
        return kept

    def warnings(self, where: str) -> list[str]:
        """One warning per destination that lost spans."""
        return [
            f"{where}: partial traces: the exporter dropped {count:,} span(s) on their way to "
            f"{destination}; what is reported here may miss them"
            for destination, count in self.lost.items()
        ]


def read_files(
    paths: Iterable[str | os.PathLike[str]],
    strict: bool = False,
    origins: dict[str, str] | None = None,
) -> ReadResult:
    """Spans from several trace files (or folders of them), with every file's warnings.

    A file named in ``paths`` must be readable. A file found in a folder that cannot be read
    (empty, not JSON, some other JSON) is skipped with a warning, unless ``strict``; a folder
    none of whose files can be read raises.

    Args:
        origins: when given, filled with each trace id's file (the first file it appears in).
    """
    result = ReadResult()

    def add(one: ReadResult, where: str) -> None:
        if origins is not None:
            for span in one.spans:
                origins.setdefault(span.trace_id, where)
        result.spans.extend(one.spans)
        result._add(one.formats, one.warnings)

    for path in paths:
        where = os.fspath(path)
        if where == "-" or not os.path.isdir(where):
            add(read_file(where), where)
            continue
        files = _folder(where, result.warnings)
        problems = []
        for name in files:
            try:
                one = read_file(name)
            except TraceReadError as exc:
                if strict:
                    raise
                problems.append(str(exc))
                continue
            add(one, name)
        if len(problems) == len(files):
            raise TraceReadError(where, f"no readable trace file in this folder ({problems[0]})")
        result.warnings.extend(f"skipped {p}" for p in problems)
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
