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
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fanscope.testing.provider import HiddenLimits, Provider
from fanscope.testing.replies import (
    Draw,
    LatencySpec,
    lognormal,
    reply_for,
    text_of,
    tokens,
    tool_call_for,
)
from fanscope.testing.script import Answers, Script, Scripted
from fanscope.testing.stand_in_http import _handler, _Server

__all__ = [
    "Answer",
    "AnthropicStandIn",
    "Draw",
    "LatencySpec",
    "Stats",
    "lognormal",
    "main",
    "reply_for",
    "text_of",
    "tokens",
    "tool_call_for",
]


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
