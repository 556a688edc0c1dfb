"""The patches: one GenAI span per Messages call, whatever the SDK's own telemetry setting.

* With the SDK's telemetry on (its default), the SDK makes the call's CLIENT span. We do not
  make a second one: the patched ``start_api_call_span`` renames the SDK's span to
  ``"chat {model}"`` and adds what it lacks (temperature and other request settings, data-flow
  fingerprints, content when asked), and the patched ``record_response`` adds the finish
  reasons, token usage in the conventions' terms and output fingerprints before the SDK ends
  it (the SDK keeps its retries inside its span and sets ``http.request.resend_count``).
* With it off, the ``create`` wrapper makes the span itself, with the same names. So it does
  when the SDK's span would not be recorded (its tracer provider is not fanscope's, or is a
  no-op one): a call is never left without a span fanscope can see.
* Either way, the patched ``_sleep_for_retry`` of the client adds a ``fanscope.genai.retry``
  event per HTTP attempt the client retries (status, retry-after, the delay it slept), and on
  our own span ``http.request.resend_count`` counts them, as the SDK does on its span.
* While a call runs, OpenTelemetry's "suppress instrumentation" context key is set, so another
  Anthropic instrumentation that honours it (as the OpenTelemetry contrib ones do) and that
  wraps the method inside ours makes no second span. One that wraps outside ours cannot be
  silenced from here; the first such call logs a warning naming the other wrapper.

Streams (``create(stream=True)`` and ``messages.stream()``) are followed event by event: the
first text delta sets the time to first token, ``tool_use`` blocks are rebuilt from their
``input_json_delta`` pieces, the final events give the finish reason and usage; our own span
ends when the stream is consumed, closed or dropped. Data-flow fingerprints cover the prompt
(system, message text, tool results) and the answer (text, and the inputs of the tools it
calls), so an agent loop's model -> tool -> model links are seen. Nothing here may break a
call: every hook swallows its own errors (and logs them at debug level), and one-shot
iterables in the arguments are made lists before anything reads them.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from fanscope.integrations.anthropic import semconv as G
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, content, fingerprint, tracing
from fanscope.sdk.tracing import tracer

log = logging.getLogger("fanscope.integrations.anthropic")


def capture_content() -> bool:
    """Whether prompt and completion text go on spans (off unless asked: ``sdk/content.py``)."""
    return content.capture()


def set_capture_content(value: bool | None) -> None:
    content.set_capture(value)


def _text(content: Any) -> str:
    """The text of a message's content: text blocks, and the text of tool results (what a
    tool step returned and the agent passes back, so its data flow is seen)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            kind = _field(block, "type")
            if kind == "text":
                parts.append(str(_field(block, "text") or ""))
            elif kind == "tool_result":
                parts.append(_text(_field(block, "content")))
        return "\n".join(p for p in parts if p)
    return ""


def _tool_calls(content: Any) -> list[Any]:
    """The ``tool_use`` blocks of a response's content."""
    if not isinstance(content, list):
        return []
    return [b for b in content if _field(b, "type") == "tool_use"]


def _field(value: Any, name: str) -> Any:
    """A field of a model, or of the decoded JSON body of a raw response."""
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def _message_of(value: Any) -> Any:
    """The ``Message`` a call returned: the model, or the read body of a raw response
    (``messages.with_raw_response.create``); ``None`` for anything else."""
    if getattr(value, "type", None) == "message":
        return value
    raw = getattr(value, "http_response", None)
    if raw is None or not getattr(raw, "is_closed", False):
        return None  # a stream, or a body the application has yet to read
    body = raw.json()
    return body if isinstance(body, Mapping) and body.get("type") == "message" else None


@dataclass
class Call:
    """One Messages call, while it runs."""

    kwargs: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    started_ns: int = field(default_factory=time.time_ns)
    span: Span | None = None  # the GenAI span: the SDK's or ours
    own: bool = False  # whether we made the span (and so end it)
    text: list[str] = field(default_factory=list)
    first_token: float | None = None
    finish: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    response_id: str | None = None
    response_model: str | None = None
    finished: bool = False
    resends: int = 0  # HTTP attempts the client retried inside this call
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # name, id, input
    site: dict[str, Any] = field(default_factory=dict)  # code.* of the calling line
    _tool_json: dict[int, tuple[dict[str, Any], list[str]]] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return str(self.kwargs.get("model", ""))

    def request_attributes(self) -> dict[str, Any]:
        kw = self.kwargs
        attrs: dict[str, Any] = {
            G.OPERATION_NAME: "chat",
            G.PROVIDER_NAME: "anthropic",
            G.REQUEST_MODEL: self.model,
            **self.site,
        }
        for key, name, kind in (
            (G.REQUEST_MAX_TOKENS, "max_tokens", int),
            (G.REQUEST_TEMPERATURE, "temperature", float),
            (G.REQUEST_TOP_P, "top_p", float),
            (G.REQUEST_TOP_K, "top_k", int),
        ):
            value = kw.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attrs[key] = kind(value)
        stops = kw.get("stop_sequences")
        if isinstance(stops, list) and all(isinstance(s, str) for s in stops):
            attrs[G.REQUEST_STOP_SEQUENCES] = stops
        if kw.get("stream") is True:
            attrs[G.REQUEST_STREAM] = True
        messages = kw.get("messages")
        if not isinstance(messages, list | tuple):
            messages = []
        texts = [_text(m.get("content")) for m in messages if isinstance(m, Mapping)]
        system = _text(kw.get("system"))
        if fingerprint.is_enabled():
            prints = fingerprint.inputs_of(tuple(t for t in (system, *texts) if t), {})
            if prints:
                attrs[A.DATAFLOW_INPUTS] = prints
        if capture_content():
            attrs[G.INPUT_MESSAGES] = json.dumps(
                [{"role": m.get("role"), "parts": [{"type": "text", "content": t}]}
                 for m, t in zip(messages, texts, strict=False)]
            )  # fmt: skip
            if system:
                attrs[G.SYSTEM_INSTRUCTIONS] = json.dumps([{"type": "text", "content": system}])
        return attrs

    def take_message(self, message: Any) -> None:
        """Read what a complete ``Message`` says about the response."""
        self.response_id = _field(message, "id")
        self.response_model = _field(message, "model")
        self.finish = _field(message, "stop_reason")
        self.take_usage(_field(message, "usage"))
        content = _field(message, "content")
        self.text = [_text(content)]
        self.tool_calls = [
            {"id": _field(b, "id"), "name": _field(b, "name"), "input": _field(b, "input")}
            for b in _tool_calls(content)
        ]

    def take_usage(self, usage: Any) -> None:
        """Keep the token counts ``usage`` gives (a ``message_delta`` repeats them, final)."""
        for key in USAGE_FIELDS:
            value = _field(usage, key)
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[key] = value

    def take_event(self, event: Any) -> None:
        """Read one stream event."""
        kind = getattr(event, "type", None)
        if kind == "message_start":
            self.take_message(getattr(event, "message", None))
            self.text = []
        elif kind == "content_block_start":
            block = getattr(event, "content_block", None)
            if getattr(block, "type", None) == "tool_use":
                call = {"id": getattr(block, "id", None), "name": getattr(block, "name", None)}
                self._tool_json[int(getattr(event, "index", 0))] = (call, [])
        elif kind == "content_block_delta":
            delta = getattr(event, "delta", None)
            delta_kind = getattr(delta, "type", None)
            if delta_kind == "text_delta":
                if self.first_token is None:
                    self.first_token = time.monotonic() - self.started
                self.text.append(str(getattr(delta, "text", "")))
            elif delta_kind == "input_json_delta":
                _, pieces = self._tool_json.get(int(getattr(event, "index", 0)), ({}, []))
                pieces.append(str(getattr(delta, "partial_json", "")))
        elif kind == "content_block_stop":
            started = self._tool_json.pop(int(getattr(event, "index", 0)), None)
            if started is not None:
                call, pieces = started
                call["input"] = json.loads("".join(pieces) or "{}")
                self.tool_calls.append(call)
        elif kind == "message_delta":
            self.finish = getattr(getattr(event, "delta", None), "stop_reason", None) or self.finish
            self.take_usage(getattr(event, "usage", None))
        if kind in ("message_delta", "message_stop") and self.span is not None:
            self.record_response(self.span)

    def response_attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.finish:
            attrs[G.RESPONSE_FINISH_REASONS] = [self.finish]
        if self.response_id:
            attrs[G.RESPONSE_ID] = self.response_id
        if self.response_model:
            attrs[G.RESPONSE_MODEL] = self.response_model
        usage = self.usage
        if "input_tokens" in usage:
            # The conventions count every input token in gen_ai.usage.input_tokens, cached ones
            # included; Anthropic's input_tokens leaves out cache reads and writes (the SDK's
            # own span sums them the same way).
            cached = usage.get("cache_read_input_tokens", 0)
            cached += usage.get("cache_creation_input_tokens", 0)
            attrs[G.USAGE_INPUT_TOKENS] = usage["input_tokens"] + cached
        for key, name in (
            ("output_tokens", G.USAGE_OUTPUT_TOKENS),
            ("cache_read_input_tokens", G.USAGE_CACHE_READ),
            ("cache_creation_input_tokens", G.USAGE_CACHE_CREATION),
        ):
            if key in usage:
                attrs[name] = usage[key]
        if self.first_token is not None:
            attrs[G.TIME_TO_FIRST_TOKEN] = self.first_token
            if self.own:  # the SDK's span measures its own, from the start of its call
                attrs[G.TIME_TO_FIRST_CHUNK] = self.first_token
        text = "".join(self.text)
        if (text or self.tool_calls) and fingerprint.is_enabled():
            # the answer's text, and the inputs of the tools it asks for: a tool step that
            # is run with them is seen as depending on this call
            inputs = [c.get("input") for c in self.tool_calls]
            prints = fingerprint.outputs_of((text, *inputs) if inputs else text, scalars=True)
            if prints:
                attrs[A.DATAFLOW_OUTPUTS] = prints
        if (text or self.tool_calls) and capture_content():
            parts: list[dict[str, Any]] = [{"type": "text", "content": text}] if text else []
            parts += [
                {"type": "tool_call", "id": c.get("id"), "name": c.get("name"),
                 "arguments": c.get("input")}
                for c in self.tool_calls
            ]  # fmt: skip
            attrs[G.OUTPUT_MESSAGES] = json.dumps(
                [{"role": "assistant", "parts": parts, "finish_reason": self.finish}]
            )
        return attrs

    def record_response(self, span: Span | None) -> None:
        if span is not None and span.is_recording():
            span.set_attributes(self.response_attributes())

    def finish_own(self, error: BaseException | None = None) -> None:
        """End our own span (no-op for the SDK's, which the SDK ends)."""
        if self.finished or not self.own or self.span is None:
            return
        self.finished = True
        span = self.span
        try:
            if self.resends:
                span.set_attribute(G.RESEND_COUNT, self.resends)
            if isinstance(error, Exception):
                record_call_error(span, error)
            elif error is None:
                self.record_response(span)
                span.set_status(Status(StatusCode.OK))
            # else a cancellation (or an interrupt): the caller stopped the call; an outcome,
            # not an error, so the status stays unset, as on the SDK's own span
        except Exception:
            log.debug("fanscope could not record a call on its span", exc_info=True)
        finally:
            span.end()


def error_type(error: BaseException) -> str:
    """``error.type`` with the SDK's own values, so both settings name an error alike: the
    API's error type (``rate_limit_error``), ``client_timeout_error``, ``connection_error``,
    the HTTP status, else the exception's class."""
    body = getattr(error, "body", None)
    kind = body.get("error", {}).get("type") if isinstance(body, dict) else None
    if isinstance(kind, str):
        return kind
    names = {cls.__name__ for cls in type(error).__mro__}
    if "APITimeoutError" in names:
        return "client_timeout_error"
    if "APIConnectionError" in names:
        return "connection_error"
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return str(status)
    return type(error).__qualname__


def record_call_error(span: Span, error: BaseException) -> None:
    status = getattr(error, "status_code", None)
    attrs: dict[str, Any] = {G.ERROR_TYPE: error_type(error)}
    if isinstance(status, int):
        attrs[G.HTTP_STATUS] = status
    span.set_attributes(attrs)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))


USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)

current: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "fanscope_anthropic_call", default=None
)
# Keyed by the stream's HTTP response: the SDK iterates a copy of the Stream object.
_streams: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()


def _follow(stream: Any, call: Call) -> None:
    response = getattr(stream, "response", None)
    if response is not None:
        _streams[response] = call
        if call.own:  # a stream dropped unread and unclosed still ends our span
            weakref.finalize(response, _safely, call.finish_own)


def _followed(stream: Any) -> Call | None:
    response = getattr(stream, "response", None)
    return _streams.get(response) if response is not None else None


def _sdk_traces_on(resource: Any) -> bool:
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


def _start_own(call: Call) -> None:
    # fanscope's tracer: the same provider as the fanscope spans (and the pytest capture)
    call.span = tracer().start_span(
        f"chat {call.model}",
        kind=SpanKind.CLIENT,
        attributes=call.request_attributes(),
        start_time=call.started_ns,
    )
    call.own = True


_SUPPRESS = otel_context._SUPPRESS_INSTRUMENTATION_KEY
_warned_outer: list[str] = []


def _outside_ours(instance: Any, method: str, ours: Callable[..., Any]) -> str | None:
    """What wraps ``type(instance).method`` outside our wrapper, if anything does."""
    outermost = inspect.getattr_static(type(instance), method, None)
    wrapper = getattr(outermost, "_self_wrapper", None)
    if wrapper is None or wrapper is ours:
        return None
    return f"{getattr(wrapper, '__module__', '?')}.{getattr(wrapper, '__qualname__', '?')}"


def _fix_for(wrapper: str) -> str:
    """How to turn the other instrumentation off, under ``opentelemetry-instrument`` and in code.

    Auto-instrumentation loads instrumentors in an order the user cannot choose, so the fix
    that always works there is to disable the other one by its entry-point name.
    """
    name = None
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="opentelemetry_instrumentor"):
            package = ep.value.split(":")[0]
            if ep.name != "fanscope_anthropic" and (wrapper + ".").startswith(package + "."):
                name = ep.name
                break
    except Exception:
        name = None
    in_code = "in code, call its uninstrument(), or its instrument() before fanscope.configure()"
    if name is None:
        return f"turn it off ({in_code})"
    disabled = [n for n in os.environ.get(_DISABLED, "").split(",") if n.strip()]
    value = ",".join([*disabled, name])
    return f"turn it off: with opentelemetry-instrument, set {_DISABLED}={value}; {in_code}"


_DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"


def _quiet_others(instance: Any, method: str, ours: Callable[..., Any]) -> object:
    """Set "suppress instrumentation" for the call: other Anthropic wrappers inside ours stay quiet.

    Returns the token to detach. Also warns, once, when another instrumentation wraps the
    method outside ours (it runs first, so it cannot be silenced from here).
    """
    if not _warned_outer:

        def check() -> None:
            other = _outside_ours(instance, method, ours)
            if other is not None:
                _warned_outer.append(other)
                log.warning(
                    "another instrumentation (%s) wraps anthropic %s.%s outside fanscope's, "
                    "so each call gets two spans; %s",
                    other,
                    type(instance).__name__,
                    method,
                    _fix_for(other),
                )

        _safely(check)
    return otel_context.attach(otel_context.set_value(_SUPPRESS, True))


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


def _begin(instance: Any, kwargs: Any) -> tuple[Call, contextvars.Token[Call | None]]:
    _materialize(kwargs)
    call = Call(dict(kwargs))
    _safely(lambda: call.site.update(callsite.here()))
    if not _sdk_traces_on(instance):
        _safely(lambda: _start_own(call))
    return call, current.set(call)


def _own_span_current(call: Call) -> contextlib.AbstractContextManager[Any]:
    if call.own and call.span is not None:
        return trace.use_span(call.span, end_on_exit=False)
    return contextlib.nullcontext()


def create_sync(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    call, token = _begin(instance, kwargs)
    quiet = _quiet_others(instance, "create", create_sync)
    try:
        with _own_span_current(call):
            result = wrapped(*args, **kwargs)
    except BaseException as error:
        call.finish_own(error)
        raise
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
        current.reset(token)
    return _after(call, result)


async def create_async(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    call, token = _begin(instance, kwargs)
    quiet = _quiet_others(instance, "create", create_async)
    try:
        with _own_span_current(call):
            result = await wrapped(*args, **kwargs)
    except BaseException as error:
        call.finish_own(error)
        raise
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
        current.reset(token)
    return _after(call, result)


def _after(call: Call, result: Any) -> Any:
    """A complete message ends our span now; a stream is followed until it ends."""
    if _is_stream(result):
        _follow(result, call)
        return result

    def take() -> None:
        message = _message_of(result)
        if message is not None:
            call.take_message(message)

    _safely(take)
    call.finish_own()
    return result


def _is_stream(value: Any) -> bool:
    from anthropic import AsyncStream, Stream

    return isinstance(value, Stream | AsyncStream)


def stream_manager(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """``messages.stream(...)``: the request is made when the manager is entered."""
    _materialize(kwargs)
    quiet = _quiet_others(instance, "stream", stream_manager)
    try:
        manager = wrapped(*args, **kwargs)
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
    call = Call(dict(kwargs, stream=True))
    _safely(lambda: call.site.update(callsite.here()))
    call.own = not _sdk_traces_on(instance)
    with contextlib.suppress(AttributeError):
        manager._fanscope_call = call
    return manager


def _entering(manager: Any) -> tuple[Call | None, contextvars.Token[Call | None] | None]:
    call: Call | None = getattr(manager, "_fanscope_call", None)
    if call is None:
        return None, None
    call.started, call.started_ns = time.monotonic(), time.time_ns()  # the request starts now
    if call.own:
        _safely(lambda: _start_own(call))
    return call, current.set(call)


def _entered(call: Call, stream: Any) -> Any:
    raw = getattr(stream, "_raw_stream", None)
    if raw is not None:
        _follow(raw, call)
    return stream


def manager_enter(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    call, token = _entering(instance)
    if call is None or token is None:
        return wrapped(*args, **kwargs)
    quiet = _quiet_others(instance, "__enter__", manager_enter)
    try:
        return _entered(call, wrapped(*args, **kwargs))
    except BaseException as error:
        call.finish_own(error)
        raise
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
        current.reset(token)


async def manager_aenter(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    call, token = _entering(instance)
    if call is None or token is None:
        return await wrapped(*args, **kwargs)
    quiet = _quiet_others(instance, "__aenter__", manager_aenter)
    try:
        return _entered(call, await wrapped(*args, **kwargs))
    except BaseException as error:
        call.finish_own(error)
        raise
    finally:
        otel_context.detach(quiet)  # type: ignore[arg-type]
        current.reset(token)


# -- following streams -------------------------------------------------------------------------


def stream_events(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    call = _followed(instance)
    if call is None:
        yield from wrapped(*args, **kwargs)
        return
    error: BaseException | None = None
    try:
        for event in wrapped(*args, **kwargs):
            _safely(lambda e=event: call.take_event(e))  # type: ignore[misc]
            yield event
    except BaseException as exc:
        error = exc if not isinstance(exc, GeneratorExit) else None
        raise
    finally:
        call.finish_own(error)


async def astream_events(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    call = _followed(instance)
    if call is None:
        async for event in wrapped(*args, **kwargs):
            yield event
        return
    error: BaseException | None = None
    try:
        async for event in wrapped(*args, **kwargs):
            _safely(lambda e=event: call.take_event(e))  # type: ignore[misc]
            yield event
    except BaseException as exc:
        error = exc if not isinstance(exc, GeneratorExit) else None
        raise
    finally:
        call.finish_own(error)


def stream_close(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        call = _followed(instance)
        if call is not None:
            call.finish_own()


async def astream_close(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        call = _followed(instance)
        if call is not None:
            call.finish_own()


# -- hooks into the SDK's own call span -------------------------------------------------------


def sdk_span_started(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    span = wrapped(*args, **kwargs)
    call = current.get()
    if call is not None and not call.own and call.span is None:

        def enrich() -> None:
            if span is None or not span.is_recording():
                # the SDK's span goes nowhere (a no-op or another provider): make ours
                _start_own(call)
                return
            call.span = span
            span.update_name(f"chat {call.model}")
            span.set_attributes(call.request_attributes())

        _safely(enrich)
    return span


def _enrich_sdk_span(span: Any, outcome: Any) -> None:
    """Add the answer of the call (an ``ApiCallResult``) to the SDK's span of the current call."""
    call = current.get()

    def enrich() -> None:
        if call is None or span is None or span is not call.span:
            return
        data = getattr(outcome, "data", None)
        message = None if data is None or _is_stream(data) else _message_of(data)
        if message is not None:
            call.take_message(message)
            call.record_response(call.span)

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


def _retry_after(headers: Any) -> float | None:
    """The wait the answer asked for, read as the client reads it (``retry-after-ms`` first)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name)) * scale)
        except (TypeError, ValueError):
            continue
    return None


def _retry_event(instance: Any, kwargs: Any, started: int, slept: float) -> None:
    call = current.get()
    if call is None or call.span is None or not call.span.is_recording():
        return
    call.resends += 1
    attrs: dict[str, Any] = {A.RETRY_ATTEMPT: int(kwargs.get("retries_taken", 0)) + 1}
    attrs[A.RETRY_DELAY] = slept
    response = kwargs.get("response")
    if response is not None:
        attrs[G.HTTP_STATUS] = int(response.status_code)
        after = _retry_after(response.headers)
        if after is not None:
            attrs[A.RETRY_AFTER] = after
    call.span.add_event(G.EVENT_CLIENT_RETRY, attrs, timestamp=started)


def client_sleep_for_retry(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """The sync client waits before retrying an attempt: note it on the call's span."""
    started, clock = time.time_ns(), time.monotonic()
    try:
        return wrapped(*args, **kwargs)
    finally:
        _safely(lambda: _retry_event(instance, kwargs, started, time.monotonic() - clock))


async def aclient_sleep_for_retry(
    wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
) -> Any:
    """The async client waits before retrying an attempt: note it on the call's span."""
    started, clock = time.time_ns(), time.monotonic()
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _safely(lambda: _retry_event(instance, kwargs, started, time.monotonic() - clock))


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
