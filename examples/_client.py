"""Shared set-up for the examples: a real Anthropic client, live or against the stand-in.

With ``ANTHROPIC_API_KEY`` set (and no ``ANTHROPIC_BASE_URL``), the examples call the real API.
Otherwise they talk to ``ANTHROPIC_BASE_URL`` if set, or start the bundled stand-in
(``fanscope.testing.anthropic_server``) on 127.0.0.1 for the length of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
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


@contextlib.contextmanager
def anthropic_client(
    latency: Mapping[str, float] | None = None,
) -> Iterator[anthropic.AsyncAnthropic]:
    """An ``AsyncAnthropic`` client for this run (starting the stand-in when offline)."""
    base_url = os.environ.get("ANTHROPIC_BASE_URL")
    if os.environ.get("ANTHROPIC_API_KEY") and not base_url:
        yield anthropic.AsyncAnthropic()
        return
    if base_url:
        yield anthropic.AsyncAnthropic(base_url=base_url, api_key="stand-in")
        return
    with AnthropicStandIn(latency=0.05, latency_by_prompt=latency or DEMO_LATENCY) as server:
        yield anthropic.AsyncAnthropic(base_url=server.url, api_key="stand-in")


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
