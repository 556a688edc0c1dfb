"""Threads keep their parents, and waiting for a pool worker is waiting in line.

Context propagation is OpenTelemetry's own ``opentelemetry-instrumentation-threading``: work
started with ``threading.Thread`` or ``threading.Timer``, or submitted to any
``concurrent.futures.ThreadPoolExecutor``, runs with the context of the code that started or
submitted it, so its spans nest under the span that was current there.

That instrumentation attaches the context in ``Thread.run``, which a subclass overriding
``run`` never calls: fanscope carries the context into such a thread too, and into the jobs
of a ``multiprocessing.pool.ThreadPool`` (whose workers start once, with the context of the
code that made the pool).

On top of it fanscope adds one thing that instrumentation does not do: a job submitted while
every worker of its pool is busy (its ``max_workers`` is the pool's cap) waits in the pool's
queue, and that wait becomes a ``queue wait`` span (``fanscope.role = queue``,
``fanscope.queue.reason = pool``), child of the submitting span, from the submission to the
moment a worker picked the job up. A job that found a free worker gets no span. Pools that
account for their own waiting (fanscope's own, or any marked with :func:`exempt`) get none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from fanscope.sdk import attributes as A
from fanscope.sdk import callsite
from fanscope.sdk.tracing import tracer

EXEMPT = "_fanscope_exempt"
_IN_FLIGHT = "_fanscope_in_flight"
_lock = threading.Lock()
_wrapped: list[bool] = []


def exempt(executor: ThreadPoolExecutor) -> ThreadPoolExecutor:
    """Record no ``queue wait`` spans for this pool (it records its own waiting in line)."""
    setattr(executor, EXEMPT, True)
    return executor


def instrument() -> None:
    """Turn on context propagation into threads and the pool-wait spans (idempotent)."""
    from opentelemetry.instrumentation.threading import ThreadingInstrumentor

    instrumentor = ThreadingInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
    if not _wrapped:
        import wrapt

        # Wrapped after OpenTelemetry's own wrapper, so it runs first, in the submitting
        # context; the job it hands on is then wrapped by OpenTelemetry's for propagation.
        wrapt.wrap_function_wrapper(ThreadPoolExecutor, "submit", _submit)
        wrapt.wrap_function_wrapper(threading.Thread, "start", _start)
        wrapt.wrap_function_wrapper(threading.Thread, "__init__", _made)
        wrapt.register_post_import_hook(_wrap_thread_pool, "multiprocessing.pool")
        _wrapped.append(True)


def _wrap_thread_pool(module: Any) -> None:
    """``multiprocessing.pool.ThreadPool`` starts its workers once, with the context of the
    code that made the pool (none, for a pool made at import): each job now runs with the
    context of the code that submitted it, as ``ThreadPoolExecutor`` jobs do."""
    import wrapt

    for name in ("apply_async", "_map_async", "imap", "imap_unordered"):
        wrapt.wrap_function_wrapper(module.ThreadPool, name, _pool_job)


def _pool_job(
    wrapped: Callable[..., Any],
    pool: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    if not args or not callable(args[0]):
        return wrapped(*args, **kwargs)
    parent = otel_context.get_current()
    if not trace.get_current_span(parent).get_span_context().is_valid:
        return wrapped(*args, **kwargs)
    fn = args[0]

    def job(*a: Any, **kw: Any) -> Any:
        token = otel_context.attach(parent)
        try:
            return fn(*a, **kw)
        finally:
            otel_context.detach(token)

    return wrapped(job, *args[1:], **kwargs)


_STARTED = "_fanscope_started"


def _made(
    wrapped: Callable[..., None],
    thread: threading.Thread,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Note the line of user code that made the thread, for the calls it will make."""
    wrapped(*args, **kwargs)
    try:
        site = callsite.started_here()
    except Exception:  # never break a thread
        site = None
    if site is not None:
        setattr(thread, _STARTED, site)


def _start(
    wrapped: Callable[..., None],
    thread: threading.Thread,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Carry the starting context into a subclass that overrides ``run``.

    OpenTelemetry's instrumentation attaches the context in ``Thread.run`` (and
    ``Timer.run``); a subclass with its own ``run`` (``class Worker(threading.Thread)``, state
    on ``self``) never calls them, so its spans lost their parent and became traces of their
    own. Such a thread gets its own ``run`` wrapped, on the instance, before it starts.
    """
    owner = next(c for c in type(thread).__mro__ if "run" in vars(c))
    if owner not in (threading.Thread, threading.Timer) and "run" not in vars(thread):
        parent = otel_context.get_current()
        own_run = thread.run

        def run(*a: Any, **kw: Any) -> Any:
            token = otel_context.attach(parent)
            try:
                return own_run(*a, **kw)
            finally:
                otel_context.detach(token)

        thread.run = run  # type: ignore[method-assign]
    site = vars(thread).pop(_STARTED, None)  # the thread holds its parent span no longer
    if site is not None:
        inner = thread.run

        def run_at_site(*a: Any, **kw: Any) -> Any:
            return callsite.run_started(site, lambda: inner(*a, **kw))

        thread.run = run_at_site  # type: ignore[method-assign]
    wrapped(*args, **kwargs)


def _in_flight(executor: ThreadPoolExecutor, delta: int) -> int:
    """Add ``delta`` to the pool's jobs submitted and not finished; the count before."""
    with _lock:
        before: int = getattr(executor, _IN_FLIGHT, 0)
        setattr(executor, _IN_FLIGHT, before + delta)
    return before


def _submit(
    wrapped: Callable[..., Future[Any]],
    executor: ThreadPoolExecutor,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Future[Any]:
    if not args or getattr(executor, EXEMPT, False):
        return wrapped(*args, **kwargs)
    parent = otel_context.get_current()
    if not trace.get_current_span(parent).get_span_context().is_valid:
        return wrapped(*args, **kwargs)
    fn, rest = args[0], args[1:]
    workers = int(getattr(executor, "_max_workers", 0) or 0)
    waits = _in_flight(executor, 1) >= workers > 0
    submitted = time.time_ns()

    def job(*a: Any, **kw: Any) -> Any:
        try:
            if waits:
                _record_wait(executor, parent, submitted, workers)
            return fn(*a, **kw)
        finally:
            _in_flight(executor, -1)

    try:
        return wrapped(job, *rest, **kwargs)
    except BaseException:
        _in_flight(executor, -1)
        raise


def _record_wait(
    executor: ThreadPoolExecutor, parent: otel_context.Context, submitted: int, workers: int
) -> None:
    picked_up = time.time_ns()
    span = tracer().start_span(
        A.QUEUE_SPAN_NAME,
        context=parent,
        start_time=submitted,
        attributes={
            A.ROLE: A.ROLE_QUEUE,
            A.QUEUE_REASON: A.QUEUE_REASON_POOL,
            A.QUEUE_LIMITER: str(getattr(executor, "_thread_name_prefix", "") or "pool"),
            A.QUEUE_MAX_WORKERS: workers,
        },
    )
    span.end(end_time=picked_up)
