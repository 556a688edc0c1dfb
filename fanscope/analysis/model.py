"""The analyzer's own span record: what every reader produces, whatever the input format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Span:
    """One span as the analyzer sees it. Times are nanoseconds since the epoch.

    Attributes:
        trace_id: 32 lowercase hex digits.
        span_id: 16 lowercase hex digits.
        parent_id: the parent's span id, or ``None`` for a root.
        attributes: attribute values as plain Python values (lists for arrays).
        events: ``(time_ns, name, attributes)`` per event.
        status: ``"unset"``, ``"ok"`` or ``"error"``.
        service: the resource's ``service.name``, when known.
        links: ``(trace_id, span_id)`` of linked spans (not used for the tree).
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start: int
    end: int
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    status: str = "unset"
    status_message: str = ""
    kind: int = 1
    service: str = ""
    scope: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def duration(self) -> int:
        return self.end - self.start

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attributes.get(key, default)
