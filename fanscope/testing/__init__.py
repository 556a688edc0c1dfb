"""Test helpers: a local stand-in for the Anthropic Messages API (stdlib only, no ``anthropic``).

    from fanscope.testing import AnthropicStandIn, lognormal

    with AnthropicStandIn(latency=0.05, rate_limit_share=0.3, retry_after=0.02) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="test")

    with AnthropicStandIn(answers={r"^Plan": {"tasks": ["a", "b"]}}) as server:
        ...  # scripted answers: fanscope.testing.script

See :mod:`fanscope.testing.anthropic_server` and ``docs/anthropic.md``; in pytest, the
``anthropic_stand_in`` fixture of fanscope's plugin starts one per test. ``RedisServer`` starts
a real ``redis-server`` on a free loopback port (:mod:`fanscope.testing.redis_server`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fanscope.testing.anthropic_server import Answer, AnthropicStandIn, Stats, lognormal
    from fanscope.testing.redis_server import RedisServer
    from fanscope.testing.script import Request, ToolUse

__all__ = ["Answer", "AnthropicStandIn", "RedisServer", "Request", "Stats", "ToolUse", "lognormal"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, not on import: ``python -m fanscope.testing.anthropic_server``
    # must find the module not yet imported (runpy warns otherwise).
    if name in ("Request", "ToolUse"):
        from fanscope.testing import script

        return getattr(script, name)
    if name == "RedisServer":
        from fanscope.testing.redis_server import RedisServer

        return RedisServer
    if name in __all__:
        from fanscope.testing import anthropic_server

        return getattr(anthropic_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
