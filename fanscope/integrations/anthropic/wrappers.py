"""The patches: thin wrapt hooks on the ``anthropic`` client, one GenAI span per Messages call.

Each hook only follows the call through the SDK and hands what it sees to the two modules that
decide: ``mapping.py`` (the call's GenAI attributes and cost, plain functions over plain data)
and ``ownership.py`` (which span the call writes to: the SDK's own CLIENT span while its
telemetry is on and goes where fanscope's spans go, else fanscope's own; and when it ends).

* ``create`` (sync and async, ``stream=True`` too) and ``messages.stream()`` (the request is
  made when its manager is entered) begin a call; the SDK's ``start_api_call_span`` and
  ``record_response`` (``finish_api_call_span`` before anthropic 2.6) are where the SDK's span
  is borrowed and given the answer before the SDK ends it.
* Streams are followed event by event (``Stream.__stream__``): the first text delta sets the
  time to first token, ``tool_use`` blocks are rebuilt from their ``input_json_delta`` pieces,
  ``message_start`` gives the partial usage and ``message_delta`` the final one. The call ends
  when the stream is consumed, closed or dropped.
* The client's ``_sleep_for_retry`` adds a ``fanscope.genai.retry`` event per HTTP attempt the
  client retries (status, retry-after, the delay it slept); on our own span
  ``http.request.resend_count`` counts them, as the SDK does on its span.
* While a call runs, other Anthropic instrumentations inside ours are kept quiet
  (``others.py``).

Nothing here may break a call: every hook swallows its own errors (and logs them at debug
level), and one-shot iterables in the arguments are made lists before anything reads them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from fanscope.integrations.anthropic import permits as P
from fanscope.integrations.anthropic import semconv as G
from fanscope.integrations.anthropic.mapping import Call, message_of
from fanscope.integrations.anthropic.others import quiet_others
from fanscope.integrations.anthropic.ownership import (
    Tracked,
    borrow,
    current,
    follow,
    followed,
    sdk_traces_on,
    start_own,
)
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, content, cost
from fanscope.sdk import hedge as hedging

log = logging.getLogger("fanscope.integrations.anthropic")


def capture_content() -> bool:
    """Whether prompt and completion text go on spans (off unless asked: ``sdk/content.py``)."""
    return content.capture()


def set_capture_content(value: bool | None) -> None:
    content.set_capture(value)


def _safely(hook: Callable[[], None]) -> None:
    try:
        hook()
    except Exception:
        log.debug("fanscope anthropic hook failed; the call goes on", exc_info=True)


# -- wrappers of the Messages methods ----------------------------------------------------------


def _materialize(kwargs: dict[str, Any]) -> None:
    """Turn one-shot iterables the SDK accepts (a generator of messages) into lists, in the
    call's own arguments: reading them for the span must not leave the request empty."""
    for key in ("messages", "system"):
        value = kwargs.get(key)
        if isinstance(value, Iterable) and not isinstance(value, list | tuple | str | Mapping):
            kwargs[key] = list(value)


def _begin(
    instance: Any, kwargs: Any, reservation: Any = None
) -> tuple[Tracked, contextvars.Token[Tracked | None]]:
    tracked = Tracked(Call(dict(kwargs)), tally=cost.current(), reservation=reservation)
    hedging.note_model(tracked.tally, kwargs.get("model"))  # a hedged attempt learns its model
    _safely(lambda: tracked.call.site.update(callsite.here()))
    if not sdk_traces_on(instance):
        _safely(lambda: start_own(tracked))
    return tracked, current.set(tracked)


def _own_span_current(tracked: Tracked) -> contextlib.AbstractContextManager[Any]:
    if tracked.own and tracked.span is not None:
        return trace.use_span(tracked.span, end_on_exit=False)
    return contextlib.nullcontext()


def create_sync(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    _materialize(kwargs)
    # the worst case against the limiters and budgets in force (may wait; may refuse)
    tracked, token = _begin(instance, kwargs, P.reserve_sync(kwargs))
    quiet = quiet_others(instance, "create", create_sync)
    try:
        with _own_span_current(tracked):
            result = wrapped(*args, **kwargs)
    except BaseException as error:
        tracked.finish(error)
        raise
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
        current.reset(token)
    return _after(tracked, result)


async def create_async(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    _materialize(kwargs)
    tracked, token = _begin(instance, kwargs, await P.reserve(kwargs))
    quiet = quiet_others(instance, "create", create_async)
    try:
        with _own_span_current(tracked):
            result = await wrapped(*args, **kwargs)
    except BaseException as error:
        tracked.finish(error)
        raise
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
        current.reset(token)
    return _after(tracked, result)


def _after(tracked: Tracked, result: Any) -> Any:
    """A complete message ends the call now; a stream is followed until it ends."""
    if _is_stream(result):
        follow(result, tracked, _safely)
        return result

    def take() -> None:
        message = message_of(result)
        if message is not None:
            tracked.call.take_message(message)

    _safely(take)
    tracked.finish()
    return result


def _is_stream(value: Any) -> bool:
    from anthropic import AsyncStream, Stream

    return isinstance(value, Stream | AsyncStream)


def stream_manager(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """``messages.stream(...)``: the request is made when the manager is entered."""
    _materialize(kwargs)
    quiet = quiet_others(instance, "stream", stream_manager)
    try:
        manager = wrapped(*args, **kwargs)
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
    tracked = Tracked(Call(dict(kwargs, stream=True)), tally=cost.current())
    _safely(lambda: tracked.call.site.update(callsite.here()))
    tracked.own = not sdk_traces_on(instance)
    with contextlib.suppress(AttributeError):
        manager._fanscope_call = tracked
    return manager


def _drop_request(manager: Any) -> None:
    """Close the request coroutine an async stream manager holds, unawaited (no warning)."""
    for name, value in vars(manager).items():
        if name.endswith("__api_request") and hasattr(value, "close"):
            _safely(value.close)


def _entering(manager: Any) -> tuple[Tracked | None, contextvars.Token[Tracked | None] | None]:
    tracked: Tracked | None = getattr(manager, "_fanscope_call", None)
    if tracked is None:
        return None, None
    call = tracked.call
    call.started, call.started_ns = time.monotonic(), time.time_ns()  # the request starts now
    if tracked.own:
        _safely(lambda: start_own(tracked))
    return tracked, current.set(tracked)


def _entered(tracked: Tracked, stream: Any) -> Any:
    raw = getattr(stream, "_raw_stream", None)
    if raw is not None:
        follow(raw, tracked, _safely)
    return stream


def manager_enter(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    held: Tracked | None = getattr(instance, "_fanscope_call", None)
    if held is not None:  # the request is made now: its permits first
        held.reservation = P.reserve_sync(held.call.kwargs)
    tracked, token = _entering(instance)
    if tracked is None or token is None:
        return wrapped(*args, **kwargs)
    quiet = quiet_others(instance, "__enter__", manager_enter)
    try:
        return _entered(tracked, wrapped(*args, **kwargs))
    except BaseException as error:
        tracked.finish(error)
        raise
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
        current.reset(token)


async def manager_aenter(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    held: Tracked | None = getattr(instance, "_fanscope_call", None)
    if held is not None:
        try:
            held.reservation = await P.reserve(held.call.kwargs)
        except BaseException:
            _drop_request(instance)  # refused: the request the manager holds is never sent
            raise
    tracked, token = _entering(instance)
    if tracked is None or token is None:
        return await wrapped(*args, **kwargs)
    quiet = quiet_others(instance, "__aenter__", manager_aenter)
    try:
        return _entered(tracked, await wrapped(*args, **kwargs))
    except BaseException as error:
        tracked.finish(error)
        raise
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
        current.reset(token)


# -- following streams -------------------------------------------------------------------------


def _take(tracked: Tracked, event: Any) -> None:
    if tracked.call.take_event(event):
        tracked.record_response()


def stream_events(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    tracked = followed(instance)
    if tracked is None:
        yield from wrapped(*args, **kwargs)
        return
    error: BaseException | None = None
    try:
        for event in wrapped(*args, **kwargs):
            _safely(lambda e=event: _take(tracked, e))  # type: ignore[misc]
            yield event
    except BaseException as exc:
        error = exc if not isinstance(exc, GeneratorExit) else None
        raise
    finally:
        tracked.finish(error)


async def astream_events(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    tracked = followed(instance)
    if tracked is None:
        async for event in wrapped(*args, **kwargs):
            yield event
        return
    error: BaseException | None = None
    try:
        async for event in wrapped(*args, **kwargs):
            _safely(lambda e=event: _take(tracked, e))  # type: ignore[misc]
            yield event
    except BaseException as exc:
        error = exc if not isinstance(exc, GeneratorExit) else None
        raise
    finally:
        tracked.finish(error)


def _closing(stream: Any) -> Tracked | None:
    """A stream is closed: show what the call has said so far on a span the SDK is about to
    end (a stream closed before its end keeps its partial usage)."""
    tracked = followed(stream)
    if tracked is not None and not tracked.finished and not tracked.own:
        _safely(tracked.record_response)
    return tracked


def stream_close(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    tracked = _closing(instance)
    try:
        return wrapped(*args, **kwargs)
    finally:
        if tracked is not None:
            tracked.finish()


async def astream_close(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    tracked = _closing(instance)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        if tracked is not None:
            tracked.finish()


# -- hooks into the SDK's own call span -------------------------------------------------------


def sdk_span_started(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    span = wrapped(*args, **kwargs)
    tracked = current.get()
    if tracked is not None and not tracked.own and tracked.span is None:
        _safely(lambda: borrow(tracked, span))
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
        message = None if data is None or _is_stream(data) else message_of(data)
        if message is not None:
            tracked.call.take_message(message)
            tracked.record_response()
            P.settle(tracked, None)

    _safely(enrich)


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


def _retry_after(headers: Any) -> float | None:
    """The wait the answer asked for, read as the client reads it (``retry-after-ms`` first)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name)) * scale)
        except (TypeError, ValueError):
            continue
    return None


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
        after = _retry_after(response.headers)
        if after is not None:
            attrs[A.RETRY_AFTER] = after
    tracked.span.add_event(G.EVENT_CLIENT_RETRY, attrs, timestamp=started)


def client_sleep_for_retry(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """The sync client waits before retrying an attempt: note it on the call's span."""
    started, clock = time.time_ns(), time.monotonic()
    _safely(lambda: P.retried(current.get(), kwargs.get("response")))
    try:
        return wrapped(*args, **kwargs)
    finally:
        _safely(lambda: _retry_event(instance, kwargs, started, time.monotonic() - clock))


async def aclient_sleep_for_retry(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """The async client waits before retrying an attempt: note it on the call's span."""
    started, clock = time.time_ns(), time.monotonic()
    _safely(lambda: P.retried(current.get(), kwargs.get("response")))
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _safely(lambda: _retry_event(instance, kwargs, started, time.monotonic() - clock))


def client_response(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """A successful HTTP answer (the sync client): keep its rate-limit headers for the call."""
    _safely(lambda: P.heard(current.get(), kwargs.get("response")))
    return wrapped(*args, **kwargs)


async def aclient_response(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """A successful HTTP answer (the async client): keep its rate-limit headers for the call."""
    _safely(lambda: P.heard(current.get(), kwargs.get("response")))
    return await wrapped(*args, **kwargs)


# -- hooks that the installed anthropic does not have --------------------------------------------

# What a user loses when the hook a wrapper goes on cannot be found (the SDK renamed or moved a
# private method): said once, by name, rather than skipped in silence.
LOSSES: dict[Callable[..., Any], str] = {
    create_sync: "messages.create() calls get no fanscope GenAI span or attributes (no "
    "data-flow fingerprints, so the analyzer cannot link one call to the next)",
    stream_manager: "messages.stream() calls get no fanscope GenAI span or attributes",
    manager_enter: "messages.stream() calls get no fanscope GenAI span or attributes",
    stream_events: "streamed calls get no finish reason, token usage, time to first token or "
    "output fingerprints",
    stream_close: "a stream closed before it was read ends fanscope's span only when it is "
    "garbage-collected, so the span is too long",
    sdk_span_started: "while the SDK's own telemetry is on (its default), its span of each call "
    "gets none of fanscope's additions (no data-flow fingerprints, so the analyzer cannot link "
    "one call to the next); turning it off (ANTHROPIC_OPEN_TELEMETRY=false) gives fanscope's "
    "own span instead",
    sdk_record_response: "while the SDK's own telemetry is on (its default), its span of each "
    "call gets no finish reasons, GenAI token usage or output fingerprints; turning it off "
    "(ANTHROPIC_OPEN_TELEMETRY=false) gives fanscope's own span instead",
    client_sleep_for_retry: "retries the client makes inside a call are not recorded (no "
    "fanscope.genai.retry events, no http.request.resend_count on fanscope's span)",
}
LOSSES[client_response] = (
    "limiters do not hear the rate-limit headers of successful answers (no pacing to what the "
    "provider says remains)"
)
LOSSES[aclient_response] = LOSSES[client_response]
LOSSES[sdk_finish_call] = LOSSES[sdk_record_response]
LOSSES[create_async] = LOSSES[create_sync]
LOSSES[manager_aenter] = LOSSES[manager_enter]
LOSSES[astream_events] = LOSSES[stream_events]
LOSSES[astream_close] = LOSSES[stream_close]
LOSSES[aclient_sleep_for_retry] = LOSSES[client_sleep_for_retry]

_warned_missing: set[str] = set()


def warn_missing(missing: Iterable[tuple[str, str, Callable[..., Any]]]) -> str | None:
    """Log one warning naming each hook of ``missing`` (module, attribute path, wrapper) and what
    is lost without it; hooks already named in this process are not named again. Returns the
    message, or ``None`` when there was nothing new to say."""
    lost: dict[str, list[str]] = {}
    for module, path, wrapper in missing:
        hook = f"{module}.{path}"
        if hook in _warned_missing:
            continue
        _warned_missing.add(hook)
        lost.setdefault(LOSSES.get(wrapper, "fanscope's additions to these calls"), []).append(hook)
    if not lost:
        return None
    try:
        from importlib.metadata import version

        which = f"anthropic {version('anthropic')}"
    except Exception:
        which = "the installed anthropic"
    parts = "; ".join(f"{', '.join(hooks)} not found: {loss}" for loss, hooks in lost.items())
    message = (
        f"fanscope: {which} lacks hooks fanscope's Anthropic instrumentation patches, so some "
        f"of what it records is missing ({parts}). Calls still work; pin an anthropic version "
        f"that has them (see docs/anthropic.md) or upgrade fanscope"
    )
    log.warning("%s", message)
    return message
