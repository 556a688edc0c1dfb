"""Shared set-up for the examples: a real Anthropic client, live or against the stand-in.

Which server a run talks to, and the one line it prints to say so (on standard error):

- neither ``ANTHROPIC_BASE_URL`` nor ``ANTHROPIC_API_KEY`` set: the bundled stand-in
  (``fanscope.testing.anthropic_server``), started on a free port of 127.0.0.1 for the run;
- ``ANTHROPIC_BASE_URL`` set: what answers there, after checking whether it is the stand-in
  (it answers ``GET /_stats`` with its counters). Another server is used only with
  ``ANTHROPIC_API_KEY`` set; without a key the run stops with a one-line error, so a port held
  by something else is never used silently;
- only ``ANTHROPIC_API_KEY`` set: the real API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import anthropic

import fanscope
from fanscope.testing.anthropic_server import AnthropicStandIn

T = TypeVar("T")

MODEL = os.environ.get("FANSCOPE_EXAMPLE_MODEL", "claude-haiku-5-5")

#: Latencies the stand-in gives each kind of prompt (seconds): the essay's four sources.
DEMO_LATENCY = {
    "[news]": 0.20,
    "[filings]": 0.25,
    "[prices]": 0.10,
    "[database]": 0.15,
    "[synthesis]": 0.05,
    "[summary]": 0.08,
    "[review]": 0.10,
}


def is_stand_in(base_url: str, timeout: float = 3.0) -> bool:
    """Whether fanscope's stand-in answers at ``base_url`` (its ``GET /_stats`` counters)."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/_stats", timeout=timeout) as answer:
            stats = json.load(answer)
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return isinstance(stats, dict) and {"requests", "peak_concurrency"} <= stats.keys()


class ServerChoiceError(SystemExit):
    """The run cannot tell which server to use: one line, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{Path(sys.argv[0]).name}: {message}")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def server_for_run(
    latency: Mapping[str, float] | None = None, answers: Mapping[str, str] | None = None
) -> Iterator[tuple[str | None, str]]:
    """``(base_url, api_key)`` for this run's client, after saying which server it is.

    ``base_url`` is ``None`` for the real API. Starts the stand-in when offline (stopped when
    the block ends), with ``answers`` scripted (``{prompt regex: answer}``); refuses a server
    that is not the stand-in without an API key.
    """
    base_url = os.environ.get("ANTHROPIC_BASE_URL")
    api_key = os.environ.get("ANTHROPIC_API_KEY")
    if base_url:
        if is_stand_in(base_url):
            say(f"using the fanscope stand-in at {base_url} (ANTHROPIC_BASE_URL)")
            yield base_url, api_key or "stand-in"
        elif api_key:
            say(f"using the Anthropic-compatible API at {base_url} (ANTHROPIC_BASE_URL)")
            yield base_url, api_key
        else:
            raise ServerChoiceError(
                f"ANTHROPIC_BASE_URL={base_url} is not fanscope's stand-in (it does not answer "
                "GET /_stats) and ANTHROPIC_API_KEY is not set; unset ANTHROPIC_BASE_URL to "
                "start a stand-in on a free port, or set ANTHROPIC_API_KEY to use that server"
            )
        return
    if api_key:
        say("using the Anthropic API (ANTHROPIC_API_KEY)")
        yield None, api_key
        return
    with AnthropicStandIn(
        latency=0.05,
        latency_by_prompt=latency or DEMO_LATENCY,
        answers=dict(answers) if answers else None,
    ) as server:
        say(f"using the fanscope stand-in started at {server.url} (a free port; no API key set)")
        yield server.url, "stand-in"


@contextlib.contextmanager
def anthropic_client(
    latency: Mapping[str, float] | None = None,
) -> Iterator[anthropic.AsyncAnthropic]:
    """An ``AsyncAnthropic`` client for this run (starting the stand-in when offline)."""
    with server_for_run(latency) as (base_url, api_key):
        yield anthropic.AsyncAnthropic(base_url=base_url, api_key=api_key)


@contextlib.contextmanager
def sync_anthropic_client(
    latency: Mapping[str, float] | None = None, answers: Mapping[str, str] | None = None
) -> Iterator[anthropic.Anthropic]:
    """The same for the sync client (``anthropic.Anthropic``)."""
    with server_for_run(latency, answers) as (base_url, api_key):
        yield anthropic.Anthropic(base_url=base_url, api_key=api_key)


def text_of(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def traced_run(service: str, trace_file: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Configure tracing to a fresh ``trace_file``, run ``main()``, and flush the spans."""
    Path(trace_file).parent.mkdir(parents=True, exist_ok=True)
    Path(trace_file).unlink(missing_ok=True)
    provider = fanscope.configure(service_name=service, trace_file=trace_file)
    result = asyncio.run(main())
    provider.force_flush()
    return result


def print_report(trace_file: str) -> None:
    """The analyzer's terminal report of ``trace_file``."""
    from fanscope.cli import main as fanscope_cli

    fanscope_cli(["analyze", trace_file])
