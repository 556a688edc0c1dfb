"""The report's JSON document, ``fanscope.report/v1``, as types.

Every object of the document has its ``TypedDict`` here: the analyzer builds them, and the
terminal, Markdown and HTML reports, the gates, ``fanscope diff``, the CLI and the pytest
plugin read them, so that a renamed or misspelt key is a type error under ``mypy --strict``
rather than a ``KeyError`` in a user's CI. The meaning of each field is in
``docs/analysis.md``; a field may be added within v1, and its meaning never changes within it.

Times are seconds (floats) unless said otherwise.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

SCHEMA: Literal["fanscope.report/v1"] = "fanscope.report/v1"


class PathSegment(TypedDict):
    """One stretch of a span's own time on the critical path (seconds from the trace start)."""

    span_id: str  #: ``""`` for time no span covers, named ``(no span)``
    name: str
    operation: str
    within: str
    start: float
    end: float
    duration: float


class Fanout(TypedDict):
    """One fan-out span's statistics (``fanouts[]``)."""

    span_id: str
    name: str
    kind: str
    function: str
    size: int
    max_concurrency: int | None
    duration: float
    branches: int
    slowest_span_id: str
    slowest_name: str
    slowest: float
    slowest_share: float
    median: float
    straggler_ratio: float
    queue_wait: float
    queue_wait_max: float
    parallelism: float
    fanin: float
    failed: int
    cancelled: int
    on_critical_path: bool


class StepRef(TypedDict):
    """A step named in an opportunity (``start`` in seconds from the trace start)."""

    span_id: str
    name: str
    start: float
    duration: float


class KeepAfter(TypedDict):
    """A step that must stay after others, and which."""

    step: StepRef
    after: list[StepRef]


class Opportunity(TypedDict):
    """Children of one span that ran one after another and need not have."""

    parent_span_id: str
    parent: str
    run_together: list[list[StepRef]]
    keep_after: list[KeepAfter]
    observed: float
    whatif: float
    saving: float


class TraceDoc(TypedDict):
    """One trace's analysis (``traces[]``); ``start`` is nanoseconds since the epoch."""

    trace_id: str
    service: str
    root: str
    start: int
    duration: float
    spans: int
    critical_path: list[PathSegment]
    by_operation: dict[str, float]
    fanouts: list[Fanout]
    opportunities: list[Opportunity]
    whatif: float
    saving: float
    parallelizable_share: float
    queue_wait_total: float
    queue_wait_on_path: float
    queue_wait_share: float
    straggler_ratio: float
    unknown_pairs: int
    warnings: list[str]


class OperationStats(TypedDict):
    """One operation's time on the critical path over the traces (``operations``)."""

    traces: float
    p50: float
    p95: float
    mean: float


class Gates(TypedDict):
    """The gates checked and the lines of those that failed (the CLI's output only)."""

    checked: list[str]
    failed: list[str]


class ReportDoc(TypedDict):
    """The whole document."""

    schema: Literal["fanscope.report/v1"]
    sources: list[str]
    traces: list[TraceDoc]
    operations: dict[str, OperationStats]
    warnings: list[str]
    gates: NotRequired[Gates]
