"""From one Messages call to GenAI attributes and its cost: plain functions over plain data.

Nothing here touches a span, the ``anthropic`` package or OpenTelemetry: a :class:`Call` is
fed the request's keyword arguments, then the response (a ``Message``, or stream events one by
one), as SDK objects or as the JSON the API sends (``tests/integrations/test_anthropic_mapping.py``
does the latter), and says which attributes they make. The hooks in ``wrappers.py`` put them on
whichever span the call owns (``ownership.py``).

Cost (``docs/cost.md``): the call's usage is priced by :mod:`fanscope.sdk.prices` by the model
that answered, its service tier and speed; the result is ``gen_ai.usage.cost.amount`` in USD
(the OpenTelemetry proposal's names), or ``fanscope.cost.unknown`` with the reason when it
cannot be priced. A call that ended before its usage was reported (cancelled, timed out, a
stream cut short) gets an estimate, marked ``fanscope.cost.estimated``: the input tokens the
stream reported (else the prompt's length / 4), and the output it had received (length / 4).
A call the API refused with an error status was not billed: its cost is 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fanscope.integrations.anthropic import semconv as G
from fanscope.sdk import attributes as A
from fanscope.sdk import content, fingerprint, prices

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
CHARS_PER_TOKEN = 4  # the estimate's rule of thumb for English text


def field_of(value: Any, name: str) -> Any:
    """A field of an SDK model, or of the decoded JSON of the API."""
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def text_of(content: Any) -> str:
    """The text of a message's content: text blocks, and the text of tool results (what a
    tool step returned and the agent passes back, so its data flow is seen)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            kind = field_of(block, "type")
            if kind == "text":
                parts.append(str(field_of(block, "text") or ""))
            elif kind == "tool_result":
                parts.append(text_of(field_of(block, "content")))
        return "\n".join(p for p in parts if p)
    return ""


def _tool_calls(content: Any) -> list[Any]:
    """The ``tool_use`` blocks of a response's content."""
    if not isinstance(content, list):
        return []
    return [b for b in content if field_of(b, "type") == "tool_use"]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class Call:
    """One Messages call: its request, and what the response has said so far."""

    kwargs: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    started_ns: int = field(default_factory=time.time_ns)
    text: list[str] = field(default_factory=list)
    first_token: float | None = None
    finish: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    usage_final: bool = False  # a complete message or a message_delta gave the usage
    cache_write_1h: int | None = None  # the 1-hour part of the cache writes, when reported
    service_tier: str | None = None
    speed: str | None = None
    web_searches: int = 0
    response_id: str | None = None
    response_model: str | None = None
    resends: int = 0  # HTTP attempts the client retried inside this call
    estimate_shown: bool = False  # an estimated cost was written to the span
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # name, id, input
    site: dict[str, Any] = field(default_factory=dict)  # code.* of the calling line
    _tool_json: dict[int, tuple[dict[str, Any], list[str]]] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return str(self.kwargs.get("model", ""))

    # -- the request ------------------------------------------------------------------------

    def prompt_texts(self) -> tuple[str, list[str]]:
        """(system text, the text of each message)."""
        messages = self.kwargs.get("messages")
        if not isinstance(messages, list | tuple):
            messages = []
        texts = [text_of(m.get("content")) for m in messages if isinstance(m, Mapping)]
        return text_of(self.kwargs.get("system")), texts

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
        system, texts = self.prompt_texts()
        if fingerprint.is_enabled():
            prints = fingerprint.inputs_of(tuple(t for t in (system, *texts) if t), {})
            if prints:
                attrs[A.DATAFLOW_INPUTS] = prints
        if content.capture():
            messages = kw.get("messages")
            messages = [m for m in messages if isinstance(m, Mapping)] if messages else []
            attrs[G.INPUT_MESSAGES] = json.dumps(
                [{"role": m.get("role"), "parts": [{"type": "text", "content": t}]}
                 for m, t in zip(messages, texts, strict=False)]
            )  # fmt: skip
            if system:
                attrs[G.SYSTEM_INSTRUCTIONS] = json.dumps([{"type": "text", "content": system}])
        return attrs

    # -- the response -----------------------------------------------------------------------

    def take_message(self, message: Any) -> None:
        """Read what a complete ``Message`` says about the response."""
        self.response_id = field_of(message, "id")
        self.response_model = field_of(message, "model")
        self.finish = field_of(message, "stop_reason")
        self.take_usage(field_of(message, "usage"))
        self.usage_final = True
        body = field_of(message, "content")
        self.text = [text_of(body)]
        self.tool_calls = [
            {"id": field_of(b, "id"), "name": field_of(b, "name"), "input": field_of(b, "input")}
            for b in _tool_calls(body)
        ]

    def take_usage(self, usage: Any) -> None:
        """Keep the token counts ``usage`` gives (a ``message_delta`` repeats them, final)."""
        if usage is None:
            return
        for key in USAGE_FIELDS:
            value = _count(field_of(usage, key))
            if value is not None:
                self.usage[key] = value
        breakdown = field_of(usage, "cache_creation")
        if breakdown is not None:
            hour = _count(field_of(breakdown, "ephemeral_1h_input_tokens"))
            if hour is not None:
                self.cache_write_1h = hour
        tools = field_of(usage, "server_tool_use")
        if tools is not None:
            searches = _count(field_of(tools, "web_search_requests"))
            if searches is not None:
                self.web_searches = searches
        for name in ("service_tier", "speed"):
            value = field_of(usage, name)
            if isinstance(value, str):
                setattr(self, name, value)

    def take_event(self, event: Any) -> bool:
        """Read one stream event; True when it says something the span should show now (the
        partial usage of ``message_start``, the final usage and finish reason of
        ``message_delta``, the end of the message)."""
        kind = field_of(event, "type")
        if kind == "message_start":
            self.take_message(field_of(event, "message"))
            self.usage_final = False  # message_start's output count is a placeholder
            self.text = []
            return True  # its usage (the input) is the partial usage of a stream cut short
        elif kind == "content_block_start":
            block = field_of(event, "content_block")
            if field_of(block, "type") == "tool_use":
                call = {"id": field_of(block, "id"), "name": field_of(block, "name")}
                self._tool_json[int(field_of(event, "index") or 0)] = (call, [])
        elif kind == "content_block_delta":
            delta = field_of(event, "delta")
            delta_kind = field_of(delta, "type")
            if delta_kind == "text_delta":
                if self.first_token is None:
                    self.first_token = time.monotonic() - self.started
                self.text.append(str(field_of(delta, "text") or ""))
            elif delta_kind == "input_json_delta":
                _, pieces = self._tool_json.get(int(field_of(event, "index") or 0), ({}, []))
                pieces.append(str(field_of(delta, "partial_json") or ""))
        elif kind == "content_block_stop":
            started = self._tool_json.pop(int(field_of(event, "index") or 0), None)
            if started is not None:
                call, pieces = started
                call["input"] = json.loads("".join(pieces) or "{}")
                self.tool_calls.append(call)
        elif kind == "message_delta":
            delta = field_of(event, "delta")
            self.finish = field_of(delta, "stop_reason") or self.finish
            self.take_usage(field_of(event, "usage"))
            self.usage_final = True
        return kind in ("message_delta", "message_stop")

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
        text = "".join(self.text)
        if (text or self.tool_calls) and fingerprint.is_enabled():
            # the answer's text, and the inputs of the tools it asks for: a tool step that
            # is run with them is seen as depending on this call
            inputs = [c.get("input") for c in self.tool_calls]
            prints = fingerprint.outputs_of((text, *inputs) if inputs else text, scalars=True)
            if prints:
                attrs[A.DATAFLOW_OUTPUTS] = prints
        if (text or self.tool_calls) and content.capture():
            parts: list[dict[str, Any]] = [{"type": "text", "content": text}] if text else []
            parts += [
                {"type": "tool_call", "id": c.get("id"), "name": c.get("name"),
                 "arguments": c.get("input")}
                for c in self.tool_calls
            ]  # fmt: skip
            attrs[G.OUTPUT_MESSAGES] = json.dumps(
                [{"role": "assistant", "parts": parts, "finish_reason": self.finish}]
            )
        if self.usage:  # final, or a stream's partial usage so far (an estimate, marked)
            attrs.update(self.cost_attributes(self.charge()))
        return attrs

    def cost_attributes(self, charge: Charge) -> dict[str, Any]:
        """The cost attributes of ``charge``; a final cost after an estimate on the same span
        says ``fanscope.cost.estimated = false`` (a span's attributes cannot be removed)."""
        attrs = charge.attributes()
        if charge.estimated:
            self.estimate_shown = True
        elif self.estimate_shown:
            attrs[A.COST_ESTIMATED] = False
        return attrs

    # -- cost ---------------------------------------------------------------------------------

    def priced_usage(self) -> prices.Usage:
        """The usage as the price table counts it (the cache writes split by lifetime)."""
        u = self.usage
        written = u.get("cache_creation_input_tokens", 0)
        hour = min(self.cache_write_1h or 0, written)
        return prices.Usage(
            input_tokens=u.get("input_tokens", 0),
            output_tokens=u.get("output_tokens", 0),
            cache_read_tokens=u.get("cache_read_input_tokens", 0),
            cache_write_5m_tokens=written - hour,
            cache_write_1h_tokens=hour,
            web_searches=self.web_searches,
        )

    def estimated_usage(self) -> prices.Usage:
        """What a call that ended before its final usage has used, as far as can be told: the
        input the stream's start reported (else the prompt's length), and the output text
        received so far (tool input included), by length."""
        said = sum(len(t) for t in self.text) + sum(
            len(json.dumps(c.get("input"))) for c in self.tool_calls
        )
        output = -(-said // CHARS_PER_TOKEN)
        if "input_tokens" in self.usage:  # message_start came: its input counts are exact
            return prices.Usage(
                input_tokens=self.usage["input_tokens"],
                output_tokens=max(output, self.usage.get("output_tokens", 0)),
                cache_read_tokens=self.usage.get("cache_read_input_tokens", 0),
                cache_write_5m_tokens=self.usage.get("cache_creation_input_tokens", 0),
            )
        system, texts = self.prompt_texts()
        prompt = len(system) + sum(len(t) for t in texts)
        return prices.Usage(input_tokens=-(-prompt // CHARS_PER_TOKEN), output_tokens=output)

    def charge(self, error: BaseException | None = None) -> Charge:
        """What the call cost: from its final usage; 0 when the API refused it with an error
        status (not billed); else an estimate (cancelled, timed out, cut short)."""
        if self.usage_final:
            usage, estimated = self.priced_usage(), False
        elif error is not None and refused(error):
            return Charge(usd=0.0, input_tokens=0, output_tokens=0)
        else:
            usage, estimated = self.estimated_usage(), True
        model = self.response_model or self.model
        priced = prices.cost(model, usage, self.service_tier, self.speed)
        return Charge(
            usd=priced if isinstance(priced, float) else None,
            unknown=priced if isinstance(priced, str) else None,
            estimated=estimated,
            input_tokens=usage.total_input,
            output_tokens=usage.output_tokens,
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """What one call cost: USD (``None`` when unknown, with the reason), and its tokens."""

    usd: float | None
    input_tokens: int
    output_tokens: int
    unknown: str | None = None
    estimated: bool = False

    def attributes(self) -> dict[str, Any]:
        """The cost attributes of the call's GenAI span."""
        attrs: dict[str, Any] = {}
        if self.usd is not None:
            attrs[A.COST_AMOUNT] = self.usd
            attrs[A.COST_CURRENCY] = A.CURRENCY_USD
            attrs[A.COST_SOURCE] = A.COST_SOURCE_LOCAL
        else:
            attrs[A.COST_UNKNOWN] = self.unknown or prices.UNKNOWN_MODEL
        if self.estimated:
            attrs[A.COST_ESTIMATED] = True
        return attrs


def refused(error: BaseException) -> bool:
    """Whether the API answered the request with an error status (so did not bill it), as
    opposed to the call ending without an answer (timeout, connection lost, cancelled)."""
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and status >= 400


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


def error_attributes(error: BaseException) -> dict[str, Any]:
    """``error.type`` and, when the API answered, ``http.response.status_code``."""
    attrs: dict[str, Any] = {G.ERROR_TYPE: error_type(error)}
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        attrs[G.HTTP_STATUS] = status
    return attrs


def message_of(value: Any) -> Any:
    """The ``Message`` a call returned: the model, or the read body of a raw response
    (``messages.with_raw_response.create``); ``None`` for anything else."""
    if field_of(value, "type") == "message":
        return value
    raw = getattr(value, "http_response", None)
    if raw is None or not getattr(raw, "is_closed", False):
        return None  # a stream, or a body the application has yet to read
    body = raw.json()
    return body if isinstance(body, Mapping) and body.get("type") == "message" else None
