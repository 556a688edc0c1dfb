"""Which span a call's attributes go on, and when that span ends.

One GenAI span per call, whatever the SDK's own telemetry setting:

* When the SDK's telemetry is on and its spans go where fanscope's go, the call *borrows* the
  SDK's CLIENT span (:func:`sdk_traces_on`): fanscope renames it and adds what it lacks, and
  the SDK ends it.
* Otherwise (telemetry off, a no-op provider, fanscope's spans captured elsewhere) the call
  *owns* a span of its own (:func:`start_own`), made with fanscope's tracer, and ends it when
  the call ends: the message returned, the stream consumed, closed or dropped, or an error.

Either way :meth:`Tracked.finish` runs once per call: it charges what the call cost to the
tallies of the spans above it (:mod:`fanscope.sdk.cost`) and settles the permits the call
took under limiters and budgets (:mod:`fanscope.integrations.anthropic.permits`).
"""

from __future__ import annotations

import contextvars
import logging
import weakref
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from fanscope.integrations.anthropic import semconv as G
from fanscope.integrations.anthropic.mapping import Call, error_attributes
from fanscope.integrations.anthropic.permits import settle as settle_permits
from fanscope.sdk import cost, tracing
from fanscope.sdk.tracing import tracer

log = logging.getLogger("fanscope.integrations.anthropic")


@dataclass
class Tracked:
    """A call and the span it writes to, while it runs."""

    call: Call
    span: Span | None = None  # the GenAI span: the SDK's or ours
    own: bool = False  # whether we made the span (and so end it)
    finished: bool = False
    tally: cost.Tally | None = None  # where the call is charged: the innermost open tally
    reservation: Any = None  # permits held under limiters and budgets (permits.py)
    heard: Any = None  # the headers of the call's successful answer, for its limiters

    def record_response(self) -> None:
        """Put what the response said so far on the span (the SDK's, or ours)."""
        span = self.span
        if span is not None and span.is_recording():
            attrs = self.call.response_attributes()
            if self.own and self.call.first_token is not None:
                # the SDK's span measures its own, from the start of its call
                attrs[G.TIME_TO_FIRST_CHUNK] = self.call.first_token
            span.set_attributes(attrs)

    def finish(self, error: BaseException | None = None) -> None:
        """The call ended (``error``: how; a cancellation is an outcome, not an error): charge
        its cost once, and end our own span (the SDK ends its own)."""
        if self.finished:
            return
        self.finished = True
        span = self.span
        try:
            if self.reservation is not None:  # before our span ends: its permit events
                settle_permits(self, error)
            charged = self.call.charge(error)
            cost.charge(
                self.tally,
                charged.usd,
                charged.input_tokens,
                charged.output_tokens,
                estimated=charged.estimated,
            )
            if not self.own or span is None:
                return
            if self.call.resends:
                span.set_attribute(G.RESEND_COUNT, self.call.resends)
            if isinstance(error, Exception):
                record_call_error(span, error)
            elif error is None:
                self.record_response()
                span.set_status(Status(StatusCode.OK))
            # else a cancellation (or an interrupt): the caller stopped the call; an outcome,
            # not an error, so the status stays unset, as on the SDK's own span
            span.set_attributes(self.call.cost_attributes(charged))
        except Exception:
            log.debug("fanscope could not record a call on its span", exc_info=True)
        finally:
            if self.own and span is not None:
                span.end()


def record_call_error(span: Span, error: BaseException) -> None:
    span.set_attributes(error_attributes(error))
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))


current: contextvars.ContextVar[Tracked | None] = contextvars.ContextVar(
    "fanscope_anthropic_call", default=None
)
# Keyed by the stream's HTTP response: the SDK iterates a copy of the Stream object.
_streams: weakref.WeakKeyDictionary[Any, Tracked] = weakref.WeakKeyDictionary()


def follow(stream: Any, tracked: Tracked, safely: Any) -> None:
    """Follow ``stream`` (a ``Stream``/``AsyncStream``) as the rest of ``tracked``'s call."""
    response = getattr(stream, "response", None)
    if response is not None:
        _streams[response] = tracked
        # a stream dropped unread and unclosed still ends the call (and our span)
        weakref.finalize(response, safely, tracked.finish)


def followed(stream: Any) -> Tracked | None:
    response = getattr(stream, "response", None)
    return _streams.get(response) if response is not None else None


def sdk_traces_on(resource: Any) -> bool:
    """Whether to enrich the SDK's span rather than make ours: its telemetry is on, and its
    spans go where fanscope's go. When fanscope's spans go elsewhere (the pytest plugin's
    capture, ``use_tracer_provider``) while the SDK's go to the global provider (or to a
    ``tracer_provider`` of their own), the GenAI span that belongs under fanscope's branch
    spans is ours; the SDK's span stays as it is, in its own provider."""
    try:
        options = resource._client.open_telemetry
        if not options["traces"]["enabled"]:
            return False
        sdk_provider = options.get("tracer_provider")
    except Exception:
        return False
    return tracing.current_provider() is (sdk_provider or trace.get_tracer_provider())


def start_own(tracked: Tracked) -> None:
    """Make the call's own span (fanscope's tracer: where fanscope's spans go)."""
    call = tracked.call
    tracked.span = tracer().start_span(
        f"chat {call.model}",
        kind=SpanKind.CLIENT,
        attributes=call.request_attributes(),
        start_time=call.started_ns,
    )
    tracked.own = True


def borrow(tracked: Tracked, span: Any) -> None:
    """The SDK started its span for the call: write to it, or make ours when it records
    nothing (a no-op provider, or another provider than fanscope's)."""
    if span is None or not span.is_recording():
        start_own(tracked)
        return
    tracked.span = span
    span.update_name(f"chat {tracked.call.model}")
    span.set_attributes(tracked.call.request_attributes())
