"""What the Anthropic stand-in answers: deterministic replies, tool calls, token counts and
seeded latencies. Pure functions of the request, so a test can compute what it will be told."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Mapping
from typing import Any

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
    return tool_block(tool["name"], arguments)


def tool_block(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
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
