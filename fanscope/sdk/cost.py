"""What the work under a span cost: each GenAI call's charge, added up the span tree once.

Every branch, fan-out, fan-in and step span opens a :class:`Tally` in the OpenTelemetry
context it runs its work in (:func:`span_context`, :func:`tallied`). A model call (the
Anthropic integration) finds the innermost tally of the context it was made in, and when it
ends :func:`charge` adds what it cost to that tally and to each enclosing one: so a fan-out
holds its branches' calls, every attempt of each (retries, failed and cancelled ones
included), a step holds its fan-outs', and each call is counted once at each level. A span
writes its tally's attributes (``fanscope.cost.*``, ``docs/conventions.md``) when it ends.

The tally lives in the OpenTelemetry context rather than in a context variable of its own, so
it reaches every place the span's context reaches: tasks, the SDK's worker threads, and
thread pools under OpenTelemetry's threading instrumentation.

Cost on the hot path: a branch with no model call under it pays for one small object and one
context entry (about a microsecond); nothing is written to its span. Tallies are added to
under one lock, taken only when a call ends.

A call that ends after its span did (a sync attempt abandoned on its thread, a stream read
after the branch returned) still counts in the tallies that are open, but not on spans that
already ended; its own GenAI span always has its cost, and the analyzer sums those.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.sdk import attributes as A

_KEY = otel_context.create_key("fanscope-cost-tally")
_SPAN_KEY: str | None
try:  # the key trace.set_span_in_context uses: the branch's context is built in one copy
    from opentelemetry.trace.propagation import _SPAN_KEY as _span_key

    _SPAN_KEY = _span_key
except ImportError:  # pragma: no cover - a future API without it: two copies then
    _SPAN_KEY = None
_lock = threading.Lock()


class Tally:
    """The charges of the calls under one span (and the spans under it)."""

    __slots__ = ("calls", "estimated", "input_tokens", "output_tokens", "parent", "unpriced", "usd")

    def __init__(self, parent: Tally | None) -> None:
        self.parent = parent
        self.usd = 0.0
        self.calls = 0
        self.unpriced = 0
        self.estimated = 0
        self.input_tokens = 0
        self.output_tokens = 0

    def attributes(self) -> dict[str, Any]:
        """The span's ``fanscope.cost.*`` attributes (none when no call was made under it)."""
        if not self.calls:
            return {}
        attrs: dict[str, Any] = {
            A.COST_USD: self.usd,
            A.COST_CALLS: self.calls,
            A.COST_INPUT_TOKENS: self.input_tokens,
            A.COST_OUTPUT_TOKENS: self.output_tokens,
        }
        if self.unpriced:
            attrs[A.COST_UNPRICED_CALLS] = self.unpriced
        if self.estimated:
            attrs[A.COST_ESTIMATED_CALLS] = self.estimated
        return attrs

    def __repr__(self) -> str:
        return f"Tally(usd={self.usd!r}, calls={self.calls}, unpriced={self.unpriced})"


KEY = _KEY  # where a context keeps its innermost tally


def with_tally(base: Context, tally: Tally) -> Context:
    """``base`` with ``tally`` as its innermost tally (a part of a span's work counted apart)."""
    return otel_context.set_value(_KEY, tally, base)


def span_context(span: Span, parent: Context | None = None) -> tuple[Context, Tally]:
    """The context to run ``span``'s work in (``span`` current, under ``parent`` or the
    current context) with a new tally under the parent's; and that tally.

    One copy of the context, not two: this runs for every branch.
    """
    base = parent if parent is not None else otel_context.get_current()
    tally = Tally(base.get(_KEY))  # type: ignore[arg-type]
    if _SPAN_KEY is not None:
        return Context({**base, _SPAN_KEY: span, _KEY: tally}), tally
    return otel_context.set_value(_KEY, tally, trace.set_span_in_context(span, base)), tally


@contextmanager
def tallied(span: Span) -> Iterator[Tally]:
    """Run the block with ``span`` current and a tally of its own; write the tally's
    attributes on ``span`` when the block ends (the caller ends the span)."""
    ctx, tally = span_context(span)
    token = otel_context.attach(ctx)
    try:
        yield tally
    finally:
        otel_context.detach(token)
        record(span, tally)


def record(span: Span, tally: Tally) -> None:
    """Write ``tally``'s attributes on ``span`` (nothing when no call was made under it)."""
    if tally.calls and span.is_recording():
        span.set_attributes(tally.attributes())


def current() -> Tally | None:
    """The innermost tally of the current context: where a call made now is charged."""
    found = otel_context.get_value(_KEY)
    return found if isinstance(found, Tally) else None


def charge(
    tally: Tally | None,
    usd: float | None,
    input_tokens: int,
    output_tokens: int,
    *,
    estimated: bool = False,
) -> None:
    """Add one call's cost (``None``: unknown) to ``tally`` and every tally enclosing it."""
    with _lock:
        while tally is not None:
            tally.calls += 1
            if usd is None:
                tally.unpriced += 1
            else:
                tally.usd += usd
            if estimated:
                tally.estimated += 1
            tally.input_tokens += input_tokens
            tally.output_tokens += output_tokens
            tally = tally.parent
