"""Trace files: OTLP JSON lines, the format the OpenTelemetry Collector's file exporter writes.

Each ``export()`` call appends one line holding one ``ExportTraceServiceRequest`` in the
OTLP/JSON encoding, written by :mod:`fanscope.otlp_json` (the one module that owns the wire
format): strings that cannot be encoded as UTF-8 (a lone surrogate) are written replaced, so
one bad value never costs its span or the rest of its batch.

The exporter never raises into the application: a file that cannot be written is reported
through the ``fanscope`` logger, once per kind of failure, and the spans of that batch are
counted as failed. A line is written whole or not at all: when a write fails part of the way
(a full disk, the file size limit), the bytes of that line already written are taken back,
so the file never holds a torn line that a reader would have to skip, and every span is
either in the file or counted as dropped, never both. A path that is not a regular file (a
FIFO nobody reads, a device) is refused: it is opened without blocking and checked, so a
FIFO can never hang the process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from fanscope import otlp_json

log = logging.getLogger("fanscope")


class NotARegularFile(OSError):
    """The trace file path names a FIFO, a device or a socket."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not a regular file")


class OTLPJsonFileExporter(SpanExporter):
    """Appends spans to a file as OTLP JSON lines.

    Args:
        path: the file; its directory is created if missing. The file is opened on the first
            export and appended to, so several runs can share one file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._failures: set[tuple[str, int | None]] = set()

    def _open(self) -> int:
        if self._fd is None:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            # O_NONBLOCK: opening a FIFO that nobody reads fails at once instead of hanging
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0)
            try:
                fd = os.open(self.path, flags, 0o644)
            except OSError as exc:  # ENXIO: a FIFO with no reader
                if os.path.exists(self.path) and not os.path.isfile(self.path):
                    raise NotARegularFile(self.path) from exc
                raise
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise NotARegularFile(self.path)
                if hasattr(os, "set_blocking"):
                    os.set_blocking(fd, True)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        return self._fd

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        request, unreadable = otlp_json.sdk_request(spans)
        if unreadable:
            log.warning(
                "fanscope: %d span(s) could not be encoded and are dropped; the other %d of "
                "the batch are written",
                unreadable,
                len(spans) - unreadable,
            )
        try:
            data = (otlp_json.dumps(request) + "\n").encode("utf-8")
            with self._lock:
                self._append(self._open(), data)
        except (OSError, ValueError, TypeError) as exc:
            self._report(exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    @staticmethod
    def _append(fd: int, data: bytes) -> None:
        """Append ``data`` (one line) whole; on a failure part of the way, take it back."""
        start = os.fstat(fd).st_size  # O_APPEND: the line goes at the end
        view, written = memoryview(data), 0
        try:
            while written < len(data):
                written += os.write(fd, view[written:])
        except OSError:
            # unless another process appended meanwhile (its line would be cut too)
            with contextlib.suppress(OSError):
                if written and os.fstat(fd).st_size == start + written:
                    os.ftruncate(fd, start)
            raise

    def _report(self, exc: BaseException) -> None:
        """One warning per kind of failure (a full disk after a permission problem is news)."""
        kind = (type(exc).__name__, getattr(exc, "errno", None))
        if kind in self._failures:
            return
        self._failures.add(kind)
        if isinstance(exc, NotARegularFile):
            advice = "pass a regular file, or trace_file=False for none"
        elif isinstance(exc, OSError):
            advice = "check the path, its permissions and free space"
        else:
            advice = "this is a bug in fanscope; please report it"
        log.warning(
            "fanscope: cannot write trace file %s (%s); its spans are dropped and counted, the "
            "program goes on; %s",
            self.path,
            exc,
            advice,
        )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is written by then (no buffer of our own)

    def shutdown(self) -> None:
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None
