"""Hand-built traces for analyzer tests: spans with known times (milliseconds)."""

from __future__ import annotations

import itertools
from typing import Any

from fanscope.analysis.model import Span

TRACE = "0af7651916cd43dd8448eb211c80319c"
_ids = itertools.count(1)
MS = 1_000_000


def span(
    name: str,
    start_ms: float,
    end_ms: float,
    parent: Span | str | None = None,
    *,
    sid: str | None = None,
    trace: str = TRACE,
    **attributes: Any,
) -> Span:
    parent_id = parent.span_id if isinstance(parent, Span) else parent
    return Span(
        trace_id=trace,
        span_id=sid or f"{next(_ids):016x}",
        parent_id=parent_id,
        name=name,
        start=int(start_ms * MS),
        end=int(end_ms * MS),
        attributes={k.replace("__", "."): v for k, v in attributes.items()},
    )
