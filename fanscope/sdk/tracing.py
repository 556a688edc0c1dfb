"""Where fanscope gets its tracer, and the small span helpers the runtime shares.

Spans go to the global TracerProvider unless a provider is installed for the current
context with :func:`use_tracer_provider` (the pytest plugin does this to capture one test's
spans in isolation from whatever provider the application configured);
:func:`current_provider` says which one that is. The first span fanscope makes while no
provider is installed at all logs one warning that says to call ``fanscope.configure()``:
without it every span would be dropped without a word.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import (
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)
from opentelemetry.util.types import AttributeValue

from fanscope.sdk import attributes as A

SCOPE = "fanscope"
NO_PROVIDER = (
    "fanscope: spans are not recorded because no OpenTelemetry tracer provider is installed; "
    "call fanscope.configure() once at start-up, before the first traced call"
)
log = logging.getLogger("fanscope")
_override: contextvars.ContextVar[TracerProvider | None] = contextvars.ContextVar(
    "fanscope_tracer_provider", default=None
)


_global_tracer = trace.get_tracer(SCOPE)  # a proxy until a provider is installed, then its tracer
_tracers: dict[int, tuple[TracerProvider, Tracer]] = {}
_last: tuple[TracerProvider | None, Tracer] = (None, _global_tracer)  # the last one looked up


_captured: list[TracerProvider] = []  # set by capture(): wins over the global provider
_global_checked = False  # the global provider was looked at once (and warned about if missing)


def current_provider() -> TracerProvider:
    """The TracerProvider that fanscope's spans go to in the current context.

    The provider of :func:`use_tracer_provider` or :func:`capture` when one is in force, else
    the global one (OpenTelemetry's proxy when nothing was installed yet).
    """
    provider = _override.get()
    if provider is None and _captured:
        provider = _captured[-1]
    return provider if provider is not None else trace.get_tracer_provider()


def _check_global() -> None:
    """Warn once when fanscope makes spans that no provider will ever record."""
    global _global_checked
    _global_checked = True
    if isinstance(trace.get_tracer_provider(), ProxyTracerProvider | NoOpTracerProvider):
        log.warning(NO_PROVIDER)


def tracer() -> Tracer:
    """The tracer for fanscope spans in the current context.

    Tracers are cached: the SDK's ``get_tracer`` is far from free and runs per span otherwise.
    """
    global _last
    provider = _override.get()
    if provider is None and _captured:
        provider = _captured[-1]
    if provider is None:
        if not _global_checked:
            _check_global()
        return _global_tracer
    last = _last
    if last[0] is provider:  # the same provider as the last span's: every branch of a fan-out
        return last[1]
    cached = _tracers.get(id(provider))
    if cached is None or cached[0] is not provider:
        if len(_tracers) > 64:
            _tracers.clear()
        cached = (provider, provider.get_tracer(SCOPE))
        _tracers[id(provider)] = cached
    _last = cached
    return cached[1]


@contextmanager
def use_tracer_provider(provider: TracerProvider) -> Iterator[None]:
    """Send fanscope spans made in this context (and tasks it starts) to ``provider``."""
    token = _override.set(provider)
    try:
        yield
    finally:
        _override.reset(token)


@contextmanager
def capture(provider: TracerProvider) -> Iterator[None]:
    """Send every fanscope span of this process to ``provider`` while the block runs.

    Unlike :func:`use_tracer_provider` this does not depend on the context reaching the code
    (a test's event loop may run in a context of its own); the pytest plugin uses it.
    """
    _captured.append(provider)
    try:
        yield
    finally:
        _captured.remove(provider)


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception: its qualified class name."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def record_error(span: Span, exc: BaseException) -> None:
    """Mark ``span`` as failed with ``exc``: status, ``error.type`` and the exception event."""
    if not span.is_recording():
        return
    span.set_attribute(A.ERROR_TYPE, error_type(exc))
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500]))


def set_attributes(span: Span, attrs: Mapping[str, AttributeValue | None]) -> None:
    """Set the attributes whose value is not ``None``."""
    span.set_attributes({k: v for k, v in attrs.items() if v is not None})


def set_dataflow(span: Span, key: str, prints: Sequence[str]) -> None:
    if prints:
        span.set_attribute(key, list(prints))


def short_repr(value: Any, limit: int = 64) -> str:
    """A repr cut to ``limit`` characters, for attributes that describe a value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
