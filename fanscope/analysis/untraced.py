"""Time the trace cannot explain: a span whose own time dominates and that has no children.

An agent whose steps are plain ``async def`` helpers, or whose HTTP client is not
instrumented, shows as one long span with nothing inside: the critical path is that span, and
no opportunity can be found because no calls are visible. The report says so, and how to make
the calls visible, instead of a bare "nothing found".
"""

from __future__ import annotations

from collections.abc import Sequence

from fanscope.analysis.schema import PathSegment, Untraced
from fanscope.analysis.tree import VIRTUAL_ROOT, Trace
from fanscope.sdk import attributes as A

#: A childless span is reported when its own time is at least this share of the trace.
DOMINANT = 0.5
CLIENT = 3  # OTLP span kind: a call to another service (an LLM call, an HTTP request)


def untraced(trace: Trace, path: Sequence[PathSegment], duration: float) -> list[Untraced]:
    """Childless spans (``@traced`` steps, or the root) whose own time on the critical path
    is at least :data:`DOMINANT` of the trace, and at least 1 ms.

    A span of a call to another service (kind CLIENT: an LLM call, an HTTP request) is where
    the waiting is, not a blind spot, and is never reported; nor is a branch, a unit of
    concurrent work that is often the call itself (a fan-out that waited for its slowest
    branch is said so with the fan-out).
    """
    if duration <= 0:
        return []
    own: dict[str, float] = {}
    for seg in path:
        if seg["span_id"]:
            own[seg["span_id"]] = own.get(seg["span_id"], 0.0) + seg["duration"]
    found: list[Untraced] = []
    for sid, seconds in own.items():
        if sid == VIRTUAL_ROOT or sid not in trace.spans or trace.children.get(sid):
            continue
        span = trace.spans[sid]
        role = span.attr_str(A.ROLE) or ""
        is_root = trace.parent(sid) is None
        if span.kind == CLIENT or not (role == A.ROLE_STEP or is_root):
            continue
        if seconds >= 0.001 and seconds >= DOMINANT * duration:
            found.append(
                Untraced(
                    span_id=sid, name=span.name, role=role, own=seconds, share=seconds / duration
                )
            )
    return found
