"""The analyzer's own span record: what every reader produces, whatever the input format."""

from __future__ import annotations

import math
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

    # Typed reads of the attributes ``docs/conventions.md`` promises. Damaged input is normal:
    # a value of the wrong type (or not finite) reads as absent, never as an exception.

    def attr_str(self, key: str) -> str | None:
        """The attribute as a string, or ``None`` when absent or not a string."""
        value = self.attributes.get(key)
        return value if isinstance(value, str) else None

    def attr_int(self, key: str) -> int | None:
        """The attribute as an int, or ``None`` when absent or not an integer."""
        value = self.attributes.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def attr_float(self, key: str) -> float | None:
        """The attribute as a finite float, or ``None`` when absent or not a finite number."""
        value = self.attributes.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
            return value if math.isfinite(value) else None
        return None

    def attr_strs(self, key: str) -> list[str]:
        """The string items of an array attribute (empty when absent or not an array)."""
        value = self.attributes.get(key)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
