"""Trace files: OTLP JSON lines, the format the OpenTelemetry Collector's file exporter writes.

Each ``export()`` call appends one line holding one ``ExportTraceServiceRequest`` in the
OTLP/JSON encoding, written by :mod:`fanscope.otlp_json` (the one module that owns the wire
format): strings that cannot be encoded as UTF-8 (a lone surrogate) are written replaced, so
one bad value never costs its span or the rest of its batch.

The exporter never raises into the application: a file that cannot be written is reported
once through the ``fanscope`` logger and the spans of that batch are counted as failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import IO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from fanscope import otlp_json

log = logging.getLogger("fanscope")


class OTLPJsonFileExporter(SpanExporter):
    """Appends spans to a file as OTLP JSON lines.

    Args:
        path: the file; its directory is created if missing. The file is opened on the first
            export and appended to, so several runs can share one file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._failed = False

    def _open(self) -> IO[str]:
        if self._file is None:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        return self._file

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
            line = otlp_json.dumps(request)
            with self._lock:
                handle = self._open()
                handle.write(line + "\n")
                handle.flush()
        except (OSError, ValueError, TypeError) as exc:
            if not self._failed:
                log.warning(
                    "fanscope: cannot write trace file %s (%s); spans are dropped, the program "
                    "goes on; check the path and free space",
                    self.path,
                    exc,
                )
                self._failed = True
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                except OSError:
                    return False
        return True

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None
