"""Hooks on the client around a Messages call: the SDK's own call span (borrowed while the SDK's
telemetry is on, given the answer before the SDK ends it) and the client's own retries and
answers (a ``fanscope.genai.retry`` event per HTTP attempt retried; rate-limit headers handed to
the limiters in force). Like every hook, none may break a call: each swallows its own errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fanscope.integrations.anthropic import permits as P
from fanscope.integrations.anthropic import semconv as G
from fanscope.integrations.anthropic.mapping import message_of
from fanscope.integrations.anthropic.ownership import borrow, current
from fanscope.integrations.anthropic.wrappers import is_stream, safely
from fanscope.sdk import attributes as A

# -- hooks into the SDK's own call span -------------------------------------------------------


def sdk_span_started(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    span = wrapped(*args, **kwargs)
    tracked = current.get()
    if tracked is not None and not tracked.own and tracked.span is None:
        safely(lambda: borrow(tracked, span))
    return span


def _enrich_sdk_span(span: Any, outcome: Any) -> None:
    """Add the answer of the call (an ``ApiCallResult``) to the SDK's span of the current call,
    before the SDK ends it: the message, or what the call cost when it failed."""
    tracked = current.get()

    def enrich() -> None:
        borrowed = tracked.span if tracked is not None else None
        if tracked is None or borrowed is None or span is not borrowed:
            return
        error = getattr(outcome, "error", None)
        if error is not None:
            call = tracked.call
            borrowed.set_attributes(call.cost_attributes(call.charge(error)))
            P.settle(tracked, error)  # while the SDK's span is open: its permit events
            return
        data = getattr(outcome, "data", None)
        message = None if data is None or is_stream(data) else message_of(data)
        if message is not None:
            tracked.call.take_message(message)
            tracked.record_response()
            P.settle(tracked, None)

    safely(enrich)


def sdk_record_response(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """``anthropic._tracing.record_response(span, result)`` (anthropic 2.6 and later)."""
    result = wrapped(*args, **kwargs)
    _enrich_sdk_span(
        args[0] if args else kwargs.get("span"), args[1] if len(args) > 1 else kwargs.get("result")
    )
    return result


def sdk_finish_call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """``anthropic._base_client.finish_api_call_span(client, span, result)``, which ends the
    span: the hook for the answer where ``record_response`` does not exist (before 2.6)."""
    _enrich_sdk_span(
        args[1] if len(args) > 1 else kwargs.get("span"),
        args[2] if len(args) > 2 else kwargs.get("result"),
    )
    return wrapped(*args, **kwargs)


# -- the client's own retries ------------------------------------------------------------------


def _retry_event(instance: Any, kwargs: Any, started: int, slept: float) -> None:
    tracked = current.get()
    if tracked is None or tracked.span is None or not tracked.span.is_recording():
        return
    tracked.call.resends += 1
    attrs: dict[str, Any] = {A.RETRY_ATTEMPT: int(kwargs.get("retries_taken", 0)) + 1}
    attrs[A.RETRY_DELAY] = slept
    response = kwargs.get("response")
    if response is not None:
        attrs[G.HTTP_STATUS] = int(response.status_code)
        after = P.retry_after_of(response.headers)
        if after is not None:
            attrs[A.RETRY_AFTER] = after
    tracked.span.add_event(G.EVENT_CLIENT_RETRY, attrs, timestamp=started)


def client_sleep_for_retry(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """The sync client waits before retrying an attempt: note it on the call's span."""
    started, clock = time.time_ns(), time.monotonic()
    safely(lambda: P.retried(current.get(), kwargs.get("response")))
    try:
        return wrapped(*args, **kwargs)
    finally:
        safely(lambda: _retry_event(instance, kwargs, started, time.monotonic() - clock))


async def aclient_sleep_for_retry(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """The async client waits before retrying an attempt: note it on the call's span."""
    started, clock = time.time_ns(), time.monotonic()
    safely(lambda: P.retried(current.get(), kwargs.get("response")))
    try:
        return await wrapped(*args, **kwargs)
    finally:
        safely(lambda: _retry_event(instance, kwargs, started, time.monotonic() - clock))


def client_response(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """A successful HTTP answer (the sync client): keep its rate-limit headers for the call."""
    safely(lambda: P.heard(current.get(), kwargs.get("response")))
    return wrapped(*args, **kwargs)


async def aclient_response(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """A successful HTTP answer (the async client): keep its rate-limit headers for the call."""
    safely(lambda: P.heard(current.get(), kwargs.get("response")))
    return await wrapped(*args, **kwargs)
