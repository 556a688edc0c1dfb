"""For tests that run the real ``anthropic`` client under fanscope's instrumentation and read
the spans it made: the instrumentation with the price table as shipped, and the GenAI spans
(model calls) under a span."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace import ReadableSpan

from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.integrations.anthropic import semconv as G
from fanscope.sdk import prices


@contextmanager
def instrumented_anthropic() -> Iterator[None]:
    """Calls of the ``anthropic`` client traced by fanscope, priced by the table alone (no
    user prices left over from another test), for the block."""
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    prices.set_prices(None)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def is_genai(span: ReadableSpan) -> bool:
    """A model call's span."""
    return G.OPERATION_NAME in (span.attributes or {})


def descendants(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """Every span of ``spans`` under ``span``."""
    children: dict[int, list[ReadableSpan]] = {}
    for s in spans:
        if s.parent is not None:
            children.setdefault(s.parent.span_id, []).append(s)
    found, todo = [], [span.context.span_id]  # type: ignore[union-attr]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.context.span_id)  # type: ignore[union-attr]
    return found


def calls_under(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """The model calls under ``span``."""
    return [s for s in descendants(span, spans) if is_genai(s)]
