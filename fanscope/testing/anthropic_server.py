"""A local stand-in for the Anthropic Messages API, for examples, tests and the demo.

    python -m fanscope.testing.anthropic_server --port 8765 --latency 0.2
    python -m fanscope.testing.anthropic_server -- python agent.py   # a free port, for one command
    python -m fanscope.testing.anthropic_server --model-latency claude-opus-5=2 --sigma 0.5 \
        --rate-limit-share 0.3 --retry-after 0.05      # seeded long tails and a 429 storm
    ANTHROPIC_BASE_URL=http://127.0.0.1:8765 python examples/research_agent.py

or in code::

    with AnthropicStandIn(latency=0.05, rate_limit_share=0.3, retry_after=0.02) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="test")
        ...
        server.stats.requests, server.stats.peak_concurrency

It serves ``POST /v1/messages`` on 127.0.0.1 only: JSON answers and SSE streams with the real
event sequence (``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``...,
``content_block_stop``, ``message_delta``, ``message_stop``), replies derived deterministically
from the prompt, token counts, a configurable latency (fixed, per model, or a seeded
log-normal), a configurable share of 429 (``rate_limit_error``) and 529 (``overloaded_error``)
answers carrying ``retry-after`` and ``retry-after-ms`` headers, and counters a test can read
(``GET /_stats`` too). Bad requests get the real API's error shape
(``{"type": "error", "error": {"type": "invalid_request_error", "message": ...}}``). The API key
is required to be present, as the real API does, and is never stored or logged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fanscope.testing.provider import HiddenLimits, Provider
from fanscope.testing.script import Answers, Request, Script, Scripted, ToolUse

WORDS = [
    *[
        "revenue",
        "demand",
        "margin",
        "guidance",
        "growth",
        "cloud",
        "storage",
        "europe",
        "quarter",
        "filing",
        "risk",
    ],
    *[
        "supply",
        "pricing",
        "outlook",
        "customers",
        "churn",
        "backlog",
        "contract",
        "regulator",
        "analyst",
        "shares",
    ],
    *[
        "dividend",
        "buyback",
        "segment",
        "forecast",
        "inventory",
        "competition",
        "launch",
        "partner",
    ],
]

Draw = Callable[[str, random.Random], float]
LatencySpec = float | Mapping[str, float | Draw] | Draw


@dataclass(frozen=True)
class Answer:
    """One answered request, kept when the server records (``record=True``)."""

    prompt: str  # the last message's text
    status: int
    arrived: float  # time.monotonic() when the request was read
    answered: float  # time.monotonic() just before the answer was sent


@dataclass
class Stats:
    """What the server saw. Read it from the test; it is updated under a lock."""

    requests: int = 0
    messages: int = 0
    streams: int = 0
    in_flight: int = 0
    peak_concurrency: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)  # only with record=True
    token_counts: int = 0  # POST /v1/messages/count_tokens answered
    # tokens the stand-in billed, as a provider would: every answer it produced, whether or not
    # the client was still there to read it; a stream cut short or abandoned, what it had sent
    input_tokens: int = 0  # uncached input
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "messages": self.messages,
            "streams": self.streams,
            "in_flight": self.in_flight,
            "peak_concurrency": self.peak_concurrency,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "models": dict(self.models),
            "token_counts": self.token_counts,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


def lognormal(
    median: float, sigma: float = 0.5, *, slow_share: float = 0.0, slow_factor: float = 20.0
) -> Callable[[str, random.Random], float]:
    """A seeded long-tailed latency: log-normal with the given median (seconds); a
    ``slow_share`` of answers (a stuck replica, a long queue) take ``slow_factor`` times as long."""
    if not 0.0 <= slow_share <= 1.0:
        raise ValueError(f"slow_share must be between 0 and 1 (got {slow_share!r})")

    def draw(model: str, rng: random.Random) -> float:
        seconds = rng.lognormvariate(math.log(median), sigma)
        if slow_share and rng.random() < slow_share:
            seconds *= slow_factor
        return seconds

    return draw


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text of its text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict) and block.get("type") == "tool_result":
                parts.append(text_of(block.get("content", "")))
        return " ".join(parts)
    return ""


def tool_call_for(body: dict[str, Any]) -> dict[str, Any] | None:
    """The ``tool_use`` block the stand-in answers with, or None for a text answer.

    Like an agent's model: given ``tools``, it calls one (the one ``tool_choice`` names, else
    the first) unless the last message already brings a tool result or ``tool_choice`` is
    ``none``. Each string property of the tool's input schema gets the first words of the
    last message, so the call's input visibly comes from the prompt.
    """
    tools = body.get("tools")
    choice = body.get("tool_choice") or {}
    if not isinstance(tools, list) or not tools or choice.get("type") == "none":
        return None
    last = body["messages"][-1]
    content = last.get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return None
    named = [t for t in tools if isinstance(t, dict) and t.get("name") == choice.get("name")]
    tool = named[0] if named else tools[0]
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        return None
    topic = " ".join(text_of(content).split()[:6]) or "the request"
    schema = tool.get("input_schema") or {}
    properties = schema.get("properties") or {}
    arguments = {
        name: topic
        for name, spec in properties.items()
        if isinstance(spec, dict) and spec.get("type", "string") == "string"
    }
    return _tool_block(tool["name"], arguments)


def _tool_block(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(f"{name}\n{json.dumps(arguments)}".encode()).hexdigest()[:24]
    return {"type": "tool_use", "id": f"toolu_{digest}", "name": name, "input": arguments}


def reply_for(model: str, system: str, messages: list[dict[str, Any]], max_tokens: int) -> str:
    """A deterministic reply: the same prompt always gets the same answer."""
    prompt = system + "\n" + "\n".join(text_of(m.get("content")) for m in messages)
    seed = int.from_bytes(hashlib.sha256(f"{model}\n{prompt}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    last = text_of(messages[-1].get("content")) if messages else ""
    topic = " ".join(last.split()[:6]) or "the request"
    length = max(1, min(max_tokens, rng.randint(12, 40)))
    words = [rng.choice(WORDS) for _ in range(length)]
    return f"On {topic}: " + " ".join(words) + "."


def tokens(text: str) -> int:
    return max(1, len(text.split()) * 4 // 3)


class AnthropicStandIn:
    """The stand-in server, run in a background thread; a context manager.

    Args:
        latency: seconds per answer: a number, ``f(model, rng) -> seconds`` such as
            :func:`lognormal` (seeded by ``seed``), or a mapping from model name (``"*"`` for
            the rest) to either.
        latency_by_prompt: seconds per answer when the last user message starts with the
            key; takes precedence over ``latency``.
        rate_limit_share: share of requests answered 429 ``rate_limit_error``.
        overload_share: share of requests answered 529 ``overloaded_error``.
        server_error_share: share of requests answered 500 ``api_error``.
        answers: scripted answers, per prompt pattern (``{regex: answer}``) or in sequence
            (a list): see :mod:`fanscope.testing.script`. Unmatched requests get the
            deterministic reply.
        stream_error_share: share of streamed answers cut by an SSE ``error`` event
            (``overloaded_error``) after the first text, as the real API does when it is
            overloaded mid-stream; the client raises ``APIStatusError`` with status 200.
        retry_after: seconds sent in ``retry-after-ms`` (and rounded up in ``retry-after``).
        seed: seeds the latency draws and the error choice.
        port: 0 picks a free port.
        stream_chunk_delay: seconds between streamed text deltas.
        record: keep every answer (prompt, status, arrival and answer times) in
            ``stats.answers``, for tests that check how clients paced their retries.
        limits: hidden limits per API key (:class:`~fanscope.testing.provider.HiddenLimits`):
            requests and tokens per minute, concurrency, a latency knee; answers then carry
            the ``anthropic-ratelimit-*`` headers, and a request over a limit gets a 429 with
            ``retry-after``. ``server.provider`` has each key's state (what it was billed).
        service_tier: the ``usage.service_tier`` every answer reports (``standard``,
            ``priority``, ``batch``); a request with ``service_tier="standard_only"`` is
            answered ``standard``.

    Prompt caching is modelled: a request whose system or message blocks carry
    ``cache_control`` reports the tokens up to the last such block as
    ``cache_creation_input_tokens`` the first time that prefix is seen (per model) and as
    ``cache_read_input_tokens`` afterwards; ``input_tokens`` counts the rest. The writes are
    split by lifetime in ``cache_creation`` (``ephemeral_1h_input_tokens`` when the last
    marker says ``"ttl": "1h"``, else ``ephemeral_5m_input_tokens``).

    Usage is reported as the API reports it: in every message with ``service_tier``, in a
    stream's ``message_start`` (the input, and 1 output token) and again, final and
    cumulative, in its ``message_delta``; a stream cut by an ``error`` event has only the
    ``message_start`` usage. ``stats`` counts the tokens billed (``input_tokens``,
    ``output_tokens``, cache reads and writes): a stream stopped early bills what it sent.
    """

    def __init__(
        self,
        *,
        latency: LatencySpec = 0.0,
        rate_limit_share: float = 0.0,
        overload_share: float = 0.0,
        retry_after: float = 1.0,
        seed: int = 0,
        port: int = 0,
        stream_chunk_delay: float = 0.0,
        latency_by_prompt: Mapping[str, float] | None = None,
        server_error_share: float = 0.0,
        stream_error_share: float = 0.0,
        record: bool = False,
        answers: Answers | None = None,
        limits: HiddenLimits | None = None,
        service_tier: str = "standard",
    ) -> None:
        for name, share in (
            ("rate_limit_share", rate_limit_share),
            ("overload_share", overload_share),
            ("server_error_share", server_error_share),
            ("stream_error_share", stream_error_share),
        ):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (got {share!r})")
        if rate_limit_share + overload_share + server_error_share > 1.0:
            raise ValueError(
                "rate_limit_share + overload_share + server_error_share must be at most 1 "
                f"(got {rate_limit_share + overload_share + server_error_share:g})"
            )
        self.server_error_share = server_error_share
        self.service_tier = service_tier
        self.answers = Script(answers)
        self.record = record
        self.stream_error_share = stream_error_share
        self._cached: set[str] = set()
        self.latency = latency
        self.rate_limit_share = rate_limit_share
        self.overload_share = overload_share
        self.retry_after = retry_after
        self.stream_chunk_delay = stream_chunk_delay
        self.latency_by_prompt = dict(latency_by_prompt or {})
        self.stats = Stats()
        self.provider = Provider(limits) if limits is not None else None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the client (``anthropic.Anthropic(base_url=...)``)."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, pattern: str, *answers: Scripted) -> AnthropicStandIn:
        """Answer requests whose last message matches ``pattern`` with ``answers`` in turn."""
        self.answers.add(pattern, *answers)
        return self

    def start(self) -> AnthropicStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AnthropicStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- decisions made under the lock ---------------------------------------------------------

    def _draw(self, model: str, prompt: str = "") -> tuple[float, int | None]:
        with self._lock:
            roll = self._rng.random()
            status = None
            if roll < self.rate_limit_share:
                status = 429
            elif roll < self.rate_limit_share + self.overload_share:
                status = 529
            elif roll < self.rate_limit_share + self.overload_share + self.server_error_share:
                status = 500
            spec = self.latency
            marked = [v for k, v in self.latency_by_prompt.items() if prompt.startswith(k)]
            if marked:
                delay = float(marked[0])
            elif callable(spec):
                delay = float(spec(model, self._rng))
            elif isinstance(spec, Mapping):
                chosen = spec.get(model, spec.get("*", 0.0))
                delay = float(chosen(model, self._rng) if callable(chosen) else chosen)
            else:
                delay = float(spec)
        return max(0.0, delay), status

    def _cut_stream(self) -> bool:
        with self._lock:
            return self.stream_error_share > 0 and self._rng.random() < self.stream_error_share

    def _bill(self, usage: Mapping[str, Any], output: int) -> None:
        with self._lock:
            self.stats.input_tokens += int(usage.get("input_tokens", 0))
            self.stats.output_tokens += output
            self.stats.cache_read_tokens += int(usage.get("cache_read_input_tokens", 0))
            self.stats.cache_write_tokens += int(usage.get("cache_creation_input_tokens", 0))

    def _cache(self, model: str, prefix: str) -> tuple[int, int]:
        """(written, read) cache tokens for a cached ``prefix``: written the first time only."""
        if not prefix:
            return 0, 0
        key = hashlib.sha256(f"{model}\n{prefix}".encode()).hexdigest()
        with self._lock:
            seen = key in self._cached
            self._cached.add(key)
        return (0, tokens(prefix)) if seen else (tokens(prefix), 0)

    def _enter(self, model: str) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.in_flight += 1
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, self.stats.in_flight)
            self.stats.models[model] = self.stats.models.get(model, 0) + 1

    def _count(self, status: int, prompt: str = "", arrived: float = 0.0) -> None:
        """Count an answer's status before it is sent, so a client that has it sees it counted."""
        with self._lock:
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            if self.record:
                self.stats.answers.append(Answer(prompt, status, arrived, time.monotonic()))

    def _leave(self) -> None:
        with self._lock:
            self.stats.in_flight -= 1


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 refuses connections when a fan-out opens dozens at
    # once; the client then sees a connection error the real API would never cause
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a cancelled call, a voter no longer needed) is normal."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _handler(server: AnthropicStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        _limited: tuple[Provider, str] | None = None  # an admitted request not yet billed

        def setup(self) -> None:
            super().setup()
            # headers and body go out in separate writes: without this, Nagle's algorithm and
            # the client's delayed ACK add about 40 ms to every answer
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet, and never logs a header

        def _send_json(self, status: int, body: Any, headers: Mapping[str, str] = {}) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_{random.getrandbits(48):012x}")
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, headers: Mapping[str, str] = {}) -> None:
            kind = _ERRORS.get(status, "api_error")
            self._send_json(
                status, {"type": "error", "error": {"type": kind, "message": message}}, headers
            )

        def do_GET(self) -> None:
            if self.path == "/_stats":
                with server._lock:
                    self._send_json(200, server.stats.as_dict())
            else:
                self._error(404, f"Not found: {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            if path not in ("/v1/messages", "/v1/messages/count_tokens"):
                self._error(404, f"Not found: {self.path}")
                return
            if not self.headers.get("x-api-key") and not self.headers.get("authorization"):
                self._error(401, "x-api-key header is required")
                return
            if not self.headers.get("anthropic-version"):
                self._error(400, "anthropic-version: header is required")
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._error(400, "The request body is not valid JSON.")
                return
            if path.endswith("/count_tokens"):
                self._count_tokens(body)
                return
            problem = _check(body)
            if problem:
                self._error(400, problem)
                return
            model = str(body["model"])
            arrived = time.monotonic()
            server._enter(model)
            try:
                last = text_of(body["messages"][-1].get("content"))
                delay, failure = server._draw(model, last)
                key = self.headers.get("x-api-key") or self.headers.get("authorization") or ""
                key = key.removeprefix("Bearer ")
                admitted = None
                if server.provider is not None:
                    admitted = server.provider.admit(key, _input_tokens(body), body["max_tokens"])
                    if not admitted.ok:
                        server._count(429, last, arrived)
                        headers = {**admitted.headers, "x-should-retry": "true"}
                        self._error(429, f"Rate limited ({admitted.reason})", headers)
                        return
                    delay *= admitted.latency_factor
                    self._limited = (server.provider, key)
                if failure is not None:
                    self._finish(body, model, None)
                    time.sleep(min(delay, 0.01))
                    server._count(failure, last, arrived)
                    after = server.retry_after
                    headers = {"x-should-retry": "true"}
                    if failure in (429, 529):
                        headers["retry-after-ms"] = str(int(after * 1000))
                        headers["retry-after"] = str(max(1, math.ceil(after)))
                    message = {429: "Rate limited", 529: "Overloaded"}.get(
                        failure, "Internal server error"
                    )
                    self._error(failure, message, headers)
                    return
                time.sleep(delay)
                server._count(200, last, arrived)
                self._answer(body, model)
            finally:
                self._finish(body, model, None)  # an answer that never got that far
                server._leave()

        def _count_tokens(self, body: Any) -> None:
            """``POST /v1/messages/count_tokens``: the input tokens a Messages call would use."""
            problem = _check({"max_tokens": 1, **body} if isinstance(body, dict) else body)
            if problem:
                self._error(400, problem)
                return
            with server._lock:
                server.stats.token_counts += 1
            text = text_of(body.get("system", "")) + " "
            text += " ".join(text_of(m.get("content")) for m in body["messages"])
            self._send_json(200, {"input_tokens": tokens(text)})

        def _answer(self, body: dict[str, Any], model: str) -> None:
            messages = body["messages"]
            system = text_of(body.get("system", ""))
            scripted = None
            if server.answers:
                prompt = text_of(messages[-1].get("content"))
                request = Request(model, system, prompt, messages, body)
                scripted = server.answers.answer(request)
            tool_call: dict[str, Any] | None
            if isinstance(scripted, ToolUse):
                text, tool_call = "", _tool_block(scripted.name, dict(scripted.input))
            elif scripted is not None:
                text, tool_call = scripted, None
            else:
                text = reply_for(model, system, messages, int(body["max_tokens"]))
                tool_call = tool_call_for(body)
            block: dict[str, Any] = tool_call or {"type": "text", "text": text}
            said = json.dumps(tool_call["input"]) if tool_call else text
            cached, rest, hour = _cached_prefix(body)
            written, read = server._cache(model, cached)
            input_tokens = tokens(rest) if rest.strip() else 0
            # never more than max_tokens, as the API (the short text itself is not cut)
            output_tokens = min(tokens(said), int(body["max_tokens"]))
            message_id = "msg_" + hashlib.sha256(said.encode()).hexdigest()[:24]
            stop_reason = "end_turn" if tokens(said) < int(body["max_tokens"]) else "max_tokens"
            if tool_call:
                stop_reason = "tool_use"
            tier = "standard" if body.get("service_tier") == "standard_only" else None
            usage: dict[str, Any] = {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": written,
                "cache_read_input_tokens": read,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 0 if hour else written,
                    "ephemeral_1h_input_tokens": written if hour else 0,
                },
                "service_tier": tier or server.service_tier,
            }
            limited = self._finish(body, model, usage)
            if not body.get("stream"):
                with server._lock:
                    server.stats.messages += 1
                server._bill(usage, output_tokens)  # produced: billed, read or not
                self._send_json(
                    200,
                    {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [block],
                        "stop_reason": stop_reason,
                        "stop_sequence": None,
                        "usage": usage,
                    },
                    limited,
                )
                return
            with server._lock:
                server.stats.streams += 1
            sent = [1]  # output tokens sent so far: what a stream stopped early bills
            try:
                self._stream(
                    body, usage, block, tool_call, text, said, message_id, stop_reason, sent,
                    limited,
                )  # fmt: skip
            finally:
                server._bill(usage, min(sent[0], output_tokens))

        def _stream(
            self,
            body: dict[str, Any],
            usage: dict[str, Any],
            block: dict[str, Any],
            tool_call: dict[str, Any] | None,
            text: str,
            said: str,
            message_id: str,
            stop_reason: str,
            sent: list[int],
            limited: dict[str, str],
        ) -> None:
            model = str(body["model"])
            output_tokens = int(usage["output_tokens"])
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("request-id", f"req_{random.getrandbits(48):012x}")
            self.send_header("connection", "close")
            for name, value in limited.items():
                self.send_header(name, value)
            self.end_headers()
            self.close_connection = True
            start: dict[str, Any] = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {**usage, "output_tokens": 1},
            }
            self._event("message_start", {"type": "message_start", "message": start})
            empty = {**block, "input": {}} if tool_call else {"type": "text", "text": ""}
            self._event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": empty},
            )
            self._event("ping", {"type": "ping"})
            if tool_call:  # the input arrives as pieces of its JSON, as the API sends it
                step = max(1, len(said) // 3)
                pieces = [said[i : i + step] for i in range(0, len(said), step)]
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
            else:
                words = text.split(" ")
                deltas = [
                    {"type": "text_delta",
                     "text": " ".join(words[i : i + 4]) + (" " if i + 4 < len(words) else "")}
                    for i in range(0, len(words), 4)
                ]  # fmt: skip
            for i, delta in enumerate(deltas):
                self._event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
                piece = delta.get("text") or delta.get("partial_json") or ""
                sent[0] += tokens(piece)
                if i == 0 and server._cut_stream():
                    error = {"type": "overloaded_error", "message": "Overloaded"}
                    self._event("error", {"type": "error", "error": error})
                    return
                if server.stream_chunk_delay:
                    time.sleep(server.stream_chunk_delay)
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
            final = {k: v for k, v in usage.items() if k not in ("cache_creation", "service_tier")}
            self._event(
                "message_delta",
                {"type": "message_delta",
                 "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                 "usage": final},
            )  # fmt: skip
            sent[0] = output_tokens
            self._event("message_stop", {"type": "message_stop"})

        def _finish(
            self, body: dict[str, Any], model: str, usage: dict[str, int] | None
        ) -> dict[str, str]:
            """Bill an admitted request to its key's hidden limits (nothing when ``usage`` is
            None: it was not answered); the headers to send."""
            limited: tuple[Provider, str] | None = getattr(self, "_limited", None)
            if limited is None:
                return {}
            self._limited = None
            provider, key = limited
            if usage is None:
                return provider.finish(key, max_tokens=int(body["max_tokens"]), model=model)
            return provider.finish(
                key,
                max_tokens=int(body["max_tokens"]),
                model=model,
                input_tokens=usage["input_tokens"] + usage["cache_creation_input_tokens"],
                output_tokens=usage["output_tokens"],
            )

        def _event(self, name: str, data: Any) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    return Handler


def _input_tokens(body: dict[str, Any]) -> int:
    """The input tokens a request counts against its key's limits (as count_tokens says)."""
    text = text_of(body.get("system", "")) + " "
    return tokens(text + " ".join(text_of(m.get("content")) for m in body["messages"]))


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def _cached_prefix(body: dict[str, Any]) -> tuple[str, str, bool]:
    """(the text up to the last block marked ``cache_control``, the text after it, whether
    that marker asks for the 1-hour lifetime)."""
    parts: list[tuple[str, Any]] = []
    blocks = [*_blocks(body.get("system", ""))]
    for message in body["messages"]:
        blocks += _blocks(message.get("content"))
    for block in blocks:
        if isinstance(block, dict):
            parts.append((str(block.get("text", "")), block.get("cache_control")))
    marked = [i for i, (_, mark) in enumerate(parts) if mark is not None]
    cut = marked[-1] + 1 if marked else 0
    mark = parts[marked[-1]][1] if marked else None
    hour = isinstance(mark, dict) and mark.get("ttl") == "1h"
    return " ".join(t for t, _ in parts[:cut]), " ".join(t for t, _ in parts[cut:]), hour


def _check(body: Any) -> str | None:
    """The first thing wrong with a Messages request, as the real API words it, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a valid string"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if "content" not in message:
            return f"messages.{i}.content: Field required"
    if messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Local stand-in for the Anthropic Messages API",
        epilog="With a command after '--', the stand-in starts on a free port, runs the command "
        "with ANTHROPIC_BASE_URL set to it (and a placeholder ANTHROPIC_API_KEY), stops, and "
        "exits with the command's status.",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="default 8765; a free port when running a command"
    )
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument(
        "--model-latency",
        action="append",
        default=[],
        metavar="MODEL=SECONDS",
        help="seconds per answer for one model (repeatable); --latency for the rest",
    )
    parser.add_argument(
        "--sigma",
        type=float,
        default=0.0,
        help="draw each latency from a seeded log-normal with that median and this sigma",
    )
    parser.add_argument("--rate-limit-share", type=float, default=0.0)
    parser.add_argument("--overload-share", type=float, default=0.0)
    parser.add_argument("--server-error-share", type=float, default=0.0)
    parser.add_argument("--stream-error-share", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if command and command[0].startswith("-"):
        parser.error(f"unknown option {command[0]!r}; put a command to run after '--'")
    medians: dict[str, float] = {"*": args.latency}
    for item in args.model_latency:
        model, _, seconds = item.partition("=")
        try:
            medians[model] = float(seconds)
        except ValueError:
            parser.error(
                f"--model-latency wants MODEL=SECONDS, e.g. claude-opus-5=2.0 (got {item!r})"
            )
    latency: dict[str, float | Draw] = (
        {k: lognormal(v, args.sigma) for k, v in medians.items()} if args.sigma else dict(medians)
    )
    try:
        server = AnthropicStandIn(
            latency=latency,
            rate_limit_share=args.rate_limit_share,
            overload_share=args.overload_share,
            server_error_share=args.server_error_share,
            stream_error_share=args.stream_error_share,
            retry_after=args.retry_after,
            seed=args.seed,
            port=args.port if args.port is not None else 0 if command else 8765,
        )
    except (ValueError, OSError) as error:
        parser.exit(2, f"anthropic_server: {error}\n")
    if command:
        raise SystemExit(_run_with(server, command))
    import signal

    # Ctrl-C (SIGINT) stops it even when started from a script's background job, which starts
    # with SIGINT ignored (and Python then keeps ignoring it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"Anthropic stand-in on {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()


def _run_with(server: AnthropicStandIn, command: list[str]) -> int:
    """Run ``command`` against ``server`` (started for it, stopped after); its exit status."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "stand-in"}
    print(f"Anthropic stand-in on {server.url} for: {' '.join(command)}", file=sys.stderr)
    with server:
        try:
            return subprocess.run(command, env=env).returncode
        except OSError as error:
            print(f"anthropic_server: cannot run {command[0]!r}: {error.strerror}", file=sys.stderr)
            return 127
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    main()
