"""The span processors ``configure()`` installs: nothing lost without a count, exit bounded.

* :class:`FileSpanProcessor` feeds a trace file. A burst of spans never overflows it: when its
  bounded queue is full, the thread that ends a span waits for the writer (back-pressure)
  instead of dropping, so every span of a 100,000-branch fan-out reaches the file. Only a
  writer that makes no progress at all for ``stall_s`` (a hung disk) makes it drop, and then
  it counts what it dropped.
* :class:`ExportSpanProcessor` feeds any other exporter (OTLP, console) through
  OpenTelemetry's own ``BatchSpanProcessor`` and its bounded queue, and counts the spans that
  never got through (queue full, refused, timed out).

Both stop within one process-wide bound at exit (:func:`shutdown_deadline`): what is still
queued then is dropped and counted, and one line says how many. When a processor has dropped
spans it writes a **drop record** to its destination when it can: a span named
``fanscope export`` in a trace of its own, with ``fanscope.role = export``,
``fanscope.export.dropped_spans`` and ``fanscope.export.destination``, which
``fanscope analyze`` turns into a warning that the traces are partial, and by how much.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags

from fanscope.exporters.destinations import Destination, describe
from fanscope.sdk import attributes as A

log = logging.getLogger("fanscope")

DEFAULT_SHUTDOWN_TIMEOUT = 5.0
"""Seconds that fanscope's exporters may add to process exit, all of them together."""

WAVE_GAP_S = 1.0
"""A shutdown that starts this long after the previous one ended, with none running, starts
a new wave with a bound of its own."""

_deadline: list[float] = []
_bound: list[float] = [DEFAULT_SHUTDOWN_TIMEOUT]
_wave_lock = threading.Lock()
_running = [0]  # processor shutdowns under way
_last_end = [float("-inf")]  # monotonic time the last one returned


def set_shutdown_timeout(seconds: float) -> None:
    _bound[0] = max(0.0, seconds)


def shutdown_timeout() -> float:
    return _bound[0]


def shutdown_deadline() -> float:
    """The monotonic time by which every fanscope processor has stopped.

    The first processor to stop sets it, and the others stopping in the same wave (the exit
    hook, a SIGTERM) share it: a wave is the shutdowns that overlap or follow one another
    within :data:`WAVE_GAP_S`. A shutdown that comes later (another provider, a second
    ``configure()`` a few seconds on) starts a new wave and gets the whole bound; it must not
    inherit a deadline that has just run out, which would leave it no time to write at all.
    """
    now = time.monotonic()
    with _wave_lock:
        if not _deadline or (_running[0] == 0 and now - _last_end[0] > WAVE_GAP_S):
            _deadline[:] = [now + _bound[0]]
        return _deadline[0]


@contextlib.contextmanager
def _stopping() -> Iterator[float]:
    """One processor's shutdown, within its wave: yields the seconds it may still wait."""
    deadline = shutdown_deadline()
    with _wave_lock:
        _running[0] += 1
    try:
        yield max(0.0, deadline - time.monotonic())
    finally:
        with _wave_lock:
            _running[0] -= 1
            _last_end[0] = time.monotonic()


@dataclass
class ExportStats:
    """What one destination received: spans ended, written or sent, and dropped."""

    destination: str
    ended: int = 0
    exported: int = 0
    dropped: int = 0


_all_stats: list[ExportStats] = []


def stats() -> list[ExportStats]:
    """Counts for every destination ``configure()`` set up in this process."""
    return list(_all_stats)


def drop_record(resource: Resource, destination: str, dropped: int) -> ReadableSpan:
    """The span that tells a reader ``dropped`` spans never reached ``destination``."""
    ids = RandomIdGenerator()
    now = time.time_ns()
    context = SpanContext(
        ids.generate_trace_id(),
        ids.generate_span_id(),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return ReadableSpan(
        name=A.EXPORT_SPAN_NAME,
        context=context,
        resource=resource,
        attributes={
            A.ROLE: A.ROLE_EXPORT,
            A.EXPORT_DROPPED: dropped,
            A.EXPORT_DESTINATION: destination,
        },
        start_time=now,
        end_time=now,
        instrumentation_scope=InstrumentationScope("fanscope"),
    )


def _sampled(span: ReadableSpan) -> bool:
    return span.context is not None and span.context.trace_flags.sampled


def _say_dropped(stats: ExportStats, why: str) -> None:
    log.warning(
        "fanscope: %s of %s spans did not reach %s (%s); the program's results are unaffected",
        f"{stats.dropped:,}",
        f"{stats.ended:,}",
        stats.destination,
        why,
    )


class FileSpanProcessor(SpanProcessor):
    """Writes ended spans to a file exporter from one thread, with back-pressure.

    Args:
        exporter: writes one batch (an OTLP JSON line).
        destination: where the exporter writes (``("file", path)``).
        resource: the provider's resource, for the drop record.
        max_queue: spans waiting to be written before ``on_end`` waits for the writer.
        batch: spans per line.
        stall_s: how long ``on_end`` waits for a writer that makes no progress before it
            starts dropping (and counting) instead.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        destination: Destination,
        resource: Resource,
        *,
        max_queue: int = 8192,
        batch: int = 1024,
        stall_s: float = 5.0,
    ) -> None:
        self.exporter = exporter
        self.destination_key = destination
        self.destination = describe(destination)
        self.stats = ExportStats(self.destination)
        _all_stats.append(self.stats)
        self._resource = resource
        self._max_queue = max_queue
        self._batch = batch
        self._stall_s = stall_s
        self._queue: deque[ReadableSpan] = deque()
        self._cond = threading.Condition()
        self._busy = 0  # spans taken by the writer and not yet written
        self._stopping = False
        self._stalled = False
        self._finished = False  # the writer has left its loop
        self._abandoned = False  # shutdown stopped waiting for the writer: it closes the file
        self._pid = os.getpid()
        self._thread = self._start_writer()

    def _start_writer(self) -> threading.Thread:
        thread = threading.Thread(target=self._write_loop, name="fanscope-file-writer", daemon=True)
        thread.start()
        return thread

    # -- the application's side ------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not _sampled(span):
            return
        if self._pid != os.getpid():
            self._after_fork()
        with self._cond:
            self.stats.ended += 1
            if self._stopping or (
                len(self._queue) >= self._max_queue and (self._stalled or not self._wait_for_room())
            ):
                self.stats.dropped += 1
                return
            self._queue.append(span)
            if len(self._queue) >= self._batch:
                self._cond.notify_all()

    def _after_fork(self) -> None:
        """A forked child: its own lock, queue and writer (the parent's thread is not here)."""
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._queue = deque()
        self._busy = 0
        self._finished = self._abandoned = False
        self._thread = self._start_writer()

    def _wait_for_room(self) -> bool:
        """Wait while the writer makes progress; False when it stalled (or we are stopping)."""
        while len(self._queue) >= self._max_queue and not self._stopping:
            written = self.stats.exported + self.stats.dropped
            self._cond.notify_all()
            self._cond.wait(self._stall_s)
            if len(self._queue) >= self._max_queue and written == (
                self.stats.exported + self.stats.dropped
            ):
                self._stalled = True
                log.warning(
                    "fanscope: writing %s made no progress for %.0f s; spans are dropped and "
                    "counted until it catches up",
                    self.destination,
                    self._stall_s,
                )
                return False
        return not self._stopping

    # -- the writer thread -----------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait(0.5)
                if not self._queue and self._stopping:
                    self._finished = True
                    abandoned = self._abandoned
                    self._cond.notify_all()
                    break
                count = min(self._batch, len(self._queue))
                batch = [self._queue.popleft() for _ in range(count)]
                self._busy = count
            self._write(batch)
            with self._cond:
                self._busy = 0
                self._stalled = False
                self._cond.notify_all()
        if abandoned:  # shutdown gave up waiting for us: the file is ours to close
            self.exporter.shutdown()

    def _write(self, batch: Sequence[ReadableSpan]) -> None:
        try:
            result = self.exporter.export(batch)
        except Exception:  # an exporter must not raise; if it does, the batch is lost
            log.debug("fanscope: trace file exporter raised", exc_info=True)
            result = SpanExportResult.FAILURE
        with self._cond:
            if self._abandoned:  # shutdown stopped waiting and counted this batch as dropped
                return
            if result is SpanExportResult.SUCCESS:
                self.stats.exported += len(batch)
            else:
                self.stats.dropped += len(batch)

    # -- flush and stop --------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        end = time.monotonic() + timeout_millis / 1000
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._busy:
                left = end - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def shutdown(self) -> None:
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            self._cond.notify_all()
        with _stopping() as left:
            self._thread.join(left)
        with self._cond:
            left_behind = len(self._queue) + self._busy
            self._queue.clear()
            self.stats.dropped += left_behind
            finished = self._finished
            self._abandoned = not finished
        if left_behind:
            why = f"still queued when the {shutdown_timeout():g} s exit bound ran out"
        else:
            why = "the file could not be written"
        if self.stats.dropped:
            _say_dropped(self.stats, why)
            if finished:  # the writer is done: say it in the file too
                record = drop_record(self._resource, self.destination, self.stats.dropped)
                with contextlib.suppress(Exception):
                    self.exporter.export([record])
        if finished:
            self.exporter.shutdown()


class _Counting(SpanExporter):
    """Passes batches on, counts what got through, and refuses all once stopped."""

    def __init__(self, inner: SpanExporter, stats: ExportStats) -> None:
        self.inner = inner
        self.stats = stats
        self.stopped = False
        self._lock = threading.Lock()
        self._shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.stopped:
            return SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        except Exception:
            log.debug("fanscope: exporter raised", exc_info=True)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            with self._lock:
                self.stats.exported += len(spans)
        return result

    def shutdown(self) -> None:
        with self._lock:
            if self._shut:
                return
            self._shut = True
        with contextlib.suppress(Exception):
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class ExportSpanProcessor(SpanProcessor):
    """OpenTelemetry's ``BatchSpanProcessor`` (and its bounded queue), counted and bounded.

    The ``OTEL_BSP_*`` variables configure the queue as usual.
    """

    def __init__(
        self, exporter: SpanExporter, destination: Destination, resource: Resource
    ) -> None:
        self.destination_key = destination
        self.destination = describe(destination)
        self.stats = ExportStats(self.destination)
        _all_stats.append(self.stats)
        self.exporter = exporter
        self._resource = resource
        self._counting = _Counting(exporter, self.stats)
        self._batch = BatchSpanProcessor(self._counting)
        self._lock = threading.Lock()
        self._done = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not _sampled(span):
            return
        with self._lock:
            self.stats.ended += 1
        self._batch.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send what is queued; False when ``timeout_millis`` ran out first (the SDK's own
        flush ignores its timeout, so a dead endpoint could hold the caller for long)."""
        flusher = threading.Thread(target=self._batch.force_flush, daemon=True)
        flusher.start()
        flusher.join(timeout_millis / 1000)
        return not flusher.is_alive()

    def _finish(self) -> None:
        self._batch.force_flush()
        dropped = self.stats.ended - self.stats.exported
        if dropped > 0 and not self._counting.stopped:  # sent what it could: say what it lost
            record = drop_record(self._resource, self.destination, dropped)
            with contextlib.suppress(Exception):
                self.exporter.export([record])
        self._batch.shutdown()  # type: ignore[no-untyped-call]

    def shutdown(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        worker = threading.Thread(target=self._finish, name="fanscope-export-stop", daemon=True)
        worker.start()
        with _stopping() as left:
            worker.join(left)
        timed_out = worker.is_alive()
        if timed_out:  # stop retries and further batches; an answer still awaited is abandoned
            self._counting.stopped = True
            self._counting.shutdown()
            worker.join(0.1)
        self.stats.dropped = max(0, self.stats.ended - self.stats.exported)
        if self.stats.dropped:
            why = (
                f"not sent when the {shutdown_timeout():g} s exit bound ran out"
                if timed_out
                else "dropped from the full queue, refused or timed out"
            )
            _say_dropped(self.stats, why)
