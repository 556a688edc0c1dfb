"""The stand-in's HTTP side: the request handler for ``/v1/messages`` (JSON and SSE),
``/v1/messages/count_tokens`` and ``/_stats``, the real API's error shapes, and request checks.

The handler reads and writes the server's state only through :class:`AnthropicStandIn`'s
methods that take its lock (``_draw``, ``_enter``, ``_count``, ``_bill``...)."""

from __future__ import annotations

import hashlib
import json
import math
import random
import socket
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from fanscope.testing.provider import Provider
from fanscope.testing.replies import reply_for, text_of, tokens, tool_block, tool_call_for
from fanscope.testing.script import Request, ToolUse

if TYPE_CHECKING:
    from fanscope.testing.anthropic_server import AnthropicStandIn


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
                text, tool_call = "", tool_block(scripted.name, dict(scripted.input))
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
