"""Whether content (prompts, answers, the answers a vote counted) goes on spans: off unless asked.

One setting for the whole process, read by the Anthropic instrumentation (message text on GenAI
spans) and by ``@vote`` (the answers in ``fanscope.vote.winner`` and ``fanscope.vote.counts``):
``configure(capture_content=...)`` or ``instrument(capture_content=...)`` when given, else the
OpenTelemetry GenAI variable ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``true``,
``span_only`` or ``span_and_event`` turn it on; unset means off).
"""

from __future__ import annotations

import os
from typing import Final

CAPTURE_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_ON: Final = frozenset({"true", "1", "yes", "span_only", "span_and_event"})

_chosen: list[bool | None] = [None]


def capture() -> bool:
    """Whether content may be written to spans now."""
    chosen = _chosen[0]
    if chosen is not None:
        return chosen
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in _ON


def set_capture(value: bool | None) -> None:
    """Choose for the process; ``None`` leaves it to the environment variable."""
    _chosen[0] = None if value is None else bool(value)
