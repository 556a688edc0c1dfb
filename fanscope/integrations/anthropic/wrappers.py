"""The patches: thin wrapt hooks on the ``anthropic`` client, one GenAI span per Messages call.

Each hook only follows the call through the SDK and hands what it sees to the two modules that
decide: ``mapping.py`` (the call's GenAI attributes and cost, plain functions over plain data)
and ``ownership.py`` (which span the call writes to: the SDK's own CLIENT span while its
telemetry is on and goes where fanscope's spans go, else fanscope's own; and when it ends).

* ``create`` (sync and async, ``stream=True`` too) and ``messages.stream()`` (the request is
  made when its manager is entered) begin a call; the SDK's ``start_api_call_span`` and
  ``record_response`` (``finish_api_call_span`` before anthropic 2.6) are where the SDK's span
  is borrowed and given the answer before the SDK ends it (``client_hooks.py``).
* Streams are followed event by event (``Stream.__stream__``): the first text delta sets the
  time to first token, ``tool_use`` blocks are rebuilt from their ``input_json_delta`` pieces,
  ``message_start`` gives the partial usage and ``message_delta`` the final one. The call ends
  when the stream is consumed, closed or dropped.
* The hooks on the SDK's own call span and on the client's retries and answers are in
  ``client_hooks.py``; the table of patches, and what a user loses when a hook is missing, in
  ``instrumentor.py``.
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
from fanscope.integrations.anthropic.mapping import Call, message_of
from fanscope.integrations.anthropic.others import quiet_others
from fanscope.integrations.anthropic.ownership import (
    Tracked,
    current,
    follow,
    followed,
    sdk_traces_on,
    start_own,
)
from fanscope.sdk import callsite, content, cost
from fanscope.sdk import hedge as hedging

log = logging.getLogger("fanscope.integrations.anthropic")


def capture_content() -> bool:
    """Whether prompt and completion text go on spans (off unless asked: ``sdk/content.py``)."""
    return content.capture()


def set_capture_content(value: bool | None) -> None:
    content.set_capture(value)


def safely(hook: Callable[[], None]) -> None:
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
    safely(lambda: tracked.call.site.update(callsite.here()))
    if not sdk_traces_on(instance):
        safely(lambda: start_own(tracked))
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
    if is_stream(result):
        follow(result, tracked, safely)
        return result

    def take() -> None:
        message = message_of(result)
        if message is not None:
            tracked.call.take_message(message)

    safely(take)
    tracked.finish()
    return result


def is_stream(value: Any) -> bool:
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
    safely(lambda: tracked.call.site.update(callsite.here()))
    tracked.own = not sdk_traces_on(instance)
    with contextlib.suppress(AttributeError):
        manager._fanscope_call = tracked
    return manager


def _drop_request(manager: Any) -> None:
    """Close the request coroutine an async stream manager holds, unawaited (no warning)."""
    for name, value in vars(manager).items():
        if name.endswith("__api_request") and hasattr(value, "close"):
            safely(value.close)


def _entering(manager: Any) -> tuple[Tracked | None, contextvars.Token[Tracked | None] | None]:
    tracked: Tracked | None = getattr(manager, "_fanscope_call", None)
    if tracked is None:
        return None, None
    call = tracked.call
    call.started, call.started_ns = time.monotonic(), time.time_ns()  # the request starts now
    if tracked.own:
        safely(lambda: start_own(tracked))
    return tracked, current.set(tracked)


def _entered(tracked: Tracked, stream: Any) -> Any:
    raw = getattr(stream, "_raw_stream", None)
    if raw is not None:
        follow(raw, tracked, safely)
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
            safely(lambda e=event: _take(tracked, e))  # type: ignore[misc]
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
            safely(lambda e=event: _take(tracked, e))  # type: ignore[misc]
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
        safely(tracked.record_response)
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
