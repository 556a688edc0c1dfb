"""Anthropic instrumentation: one GenAI span per Messages call, with fanscope's additions.

Usage::

    import fanscope
    fanscope.configure(service_name="agent")   # turns this on when ``anthropic`` is installed

    # or on its own, or through ``opentelemetry-instrument python app.py``
    # (entry point ``fanscope_anthropic``; others already register as ``anthropic``):
    from fanscope.integrations.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument()

What a user sees: exactly one CLIENT span per ``messages.create`` / ``messages.stream`` call,
named ``chat {model}``, whether the SDK's own telemetry is on (we enrich its span) or off (we
make the span). Attributes follow the OpenTelemetry GenAI semantic conventions (operation,
provider, request and response model, max tokens, temperature, top-p/k, stop sequences,
token usage including cache reads, finish reasons, response id, error type and HTTP status),
plus ``fanscope.dataflow.inputs`` / ``.outputs`` fingerprints and, for streams,
``gen_ai.response.time_to_first_chunk`` and ``fanscope.genai.time_to_first_token_s``.
Retries the client makes inside the call are ``fanscope.genai.retry`` events and
``http.request.resend_count``. Other Anthropic instrumentations wrapped inside ours are
silenced during the call (OpenTelemetry's suppress-instrumentation key).

Configuration: prompt and completion text are recorded only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is true (or ``span_only``), or
``configure(capture_content=True)`` / ``instrument(capture_content=True)`` asks. API keys and
request headers are never recorded. See ``docs/anthropic.md``.
"""

from __future__ import annotations

import gc
import logging

MISSING_EXTRA = (
    "fanscope: the Anthropic instrumentation needs opentelemetry-instrumentation, which is "
    "not installed, so anthropic calls get no fanscope spans; pip install 'fanscope[anthropic]'"
)

try:
    from fanscope.integrations.anthropic.instrumentor import AnthropicInstrumentor
except ImportError as missing:  # installed without the `anthropic` extra
    if (missing.name or "").split(".")[:2] != ["opentelemetry", "instrumentation"]:
        raise
    _missing: ImportError | None = missing
else:
    _missing = None

__all__ = ["AnthropicInstrumentor", "configure_from_fanscope"]

_instrumentor: AnthropicInstrumentor | None = None
_collected = False


def __getattr__(name: str) -> object:
    if name == "AnthropicInstrumentor" and _missing is not None:
        raise ImportError(MISSING_EXTRA) from _missing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def configure_from_fanscope(capture_content: bool | None = None) -> None:
    """What ``fanscope.configure()`` calls: instrument once, apply the content setting."""
    global _instrumentor
    if _missing is not None:
        logging.getLogger("fanscope.integrations.anthropic").warning(MISSING_EXTRA)
        return
    from fanscope.integrations.anthropic import wrappers
    from fanscope.sdk import prices

    wrappers.set_capture_content(capture_content)
    prices.load()  # now: not beside the first calls, nor inside the first priced call's span
    if _instrumentor is None:
        _instrumentor = AnthropicInstrumentor()
    if not _instrumentor.is_instrumented_by_opentelemetry:
        _instrumentor.instrument()
    warm_up()


def warm_up() -> None:
    """Once per process, collect the garbage of start-up (imports, the SDK, the price table)
    now, before the first model call: otherwise Python's first full collection of it falls
    inside the first calls' spans (measured in docs/anthropic.md, "The first call")."""
    global _collected
    if not _collected:
        _collected = True
        gc.collect()
