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


class EarlyStop(TypedDict):
    """A vote's early stop (``fanouts[].early_stop``): what it cancelled and saved.

    ``answered`` voters ran to an end (an answer or a failure); ``decided_at`` is when the last
    of them ended, in seconds from the fan-out's start. Cancelled voters are split into those
    still waiting in line (their call was never sent: all its tokens saved) and those cut
    mid-call after running ``cancelled_ran`` seconds in all. How long the cancelled voters
    would have taken is not known (they never finished), so no time saved is claimed beyond
    the vote not waiting for them.
    """

    stopped_early: bool
    answered: int
    decided_at: float
    cancelled_waiting: int
    cancelled_running: int
    cancelled_ran: float


class Cost(TypedDict):
    """What model calls cost, in USD (``docs/cost.md``).

    ``usd`` adds up the priced calls; ``unpriced_calls`` had no price (``unpriced``: how many
    for each reason, as in ``fanscope.cost.unknown``, or ``no cost recorded``), so ``usd`` is
    then a lower bound, never a total. ``estimated_calls`` ended before the API reported their
    usage (an estimate). Input tokens include cache reads and writes.
    """

    usd: float
    calls: int
    unpriced_calls: int
    unpriced: dict[str, int]
    estimated_calls: int
    input_tokens: int
    output_tokens: int


class BranchCost(TypedDict):
    """One branch's calls (``fanouts[].cost.branches[]``)."""

    span_id: str
    name: str
    outcome: str
    usd: float
    calls: int
    unpriced_calls: int


class FanoutCost(Cost):
    """What the calls under a fan-out cost (``fanouts[].cost``).

    ``wasted`` bought nothing kept: calls of retried attempts (``wasted_retries``), of failed
    branches (``wasted_failures``), of cancelled ones, cancelled voters included
    (``wasted_cancelled``), and of attempts that lost the race to their hedge or hedges that
    lost (``wasted_hedges``). ``early_stop_saved`` (votes that cancelled voters) is an estimate:
    each cancelled voter would have cost what the answered voters cost on average, less what
    it had spent; ``None`` otherwise.
    """

    wasted: float
    wasted_retries: float
    wasted_failures: float
    wasted_cancelled: float
    wasted_hedges: float
    early_stop_saved: float | None
    branches: list[BranchCost]


class TraceCost(Cost):
    """What a trace's calls cost (``traces[].cost``), wasted spend as in :class:`FanoutCost`;
    ``early_stop_saved`` adds up its votes' estimates; ``by_operation``: USD per operation,
    named as on the critical path (``step > chat model``)."""

    wasted: float
    wasted_retries: float
    wasted_failures: float
    wasted_cancelled: float
    wasted_hedges: float
    early_stop_saved: float
    by_operation: dict[str, float]


class BudgetDoc(TypedDict):
    """A budget the trace ran under (``traces[].budgets[]``), from ``fanscope.budget.*``.

    ``span_id`` / ``span``: the span it recorded itself on (its fan-out, or the span current
    when its ``with`` block ended); ``""`` for a budget known only by the calls it refused
    (then ``spent_*`` is what it had spent when it last refused, a lower bound). Limits and
    spent are ``None`` for a unit it has no limit in; ``used_*`` is spent over limit.
    ``refused``: model calls it refused (not made); ``stopped_by``: the unit whose limit
    refused them (``usd`` or ``tokens``; ``None`` when none was refused); ``first_stop``:
    when it first refused, seconds from the trace start.
    """

    name: str
    span_id: str
    span: str
    limit_usd: float | None
    spent_usd: float | None
    used_usd: float | None
    limit_tokens: float | None
    spent_tokens: float | None
    used_tokens: float | None
    refused: int
    stopped_by: str | None
    first_stop: float | None


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
    early_stop: EarlyStop | None  #: votes only
    hedges: int  #: hedged attempts sent (``fanscope.fanout.hedges``)
    hedges_won: int  #: of which answered first
    on_critical_path: bool
    cost: FanoutCost | None  #: ``None`` when no model call ran under it


class QueueWait(TypedDict):
    """Branches that waited for a slot, by holder and limiter (``queue_waits[]``).

    The holder is the fan-out the branches belong to (``holder_span_id``), or for lone calls
    the function called (``holder_span_id`` is ``""``). ``limiter`` is the limiter waited on
    (``fanscope.queue.limiter``: the function's own, or a shared ``Limiter``'s name);
    ``max_concurrency`` the cap; ``waited`` of ``branches`` waited, ``wait`` seconds in all,
    ``wait_max`` the longest; ``parallelism`` the fan-out's achieved parallelism (``None`` for
    lone calls).

    ``kind`` is ``"slot"`` for branches waiting for a limiter's slot, ``"pool"`` for jobs
    waiting for a worker of a busy thread pool (``concurrent.futures.ThreadPoolExecutor``,
    which ``asyncio.to_thread`` uses): then the holder is the span that submitted the jobs,
    ``limiter`` the pool's thread name prefix (``asyncio`` for the event loop's default pool),
    ``max_concurrency`` its ``max_workers``, and ``branches`` counts only the jobs that waited
    (a job that found a free worker records nothing).
    """

    kind: Literal["slot", "pool"]
    holder_span_id: str
    holder: str
    limiter: str
    max_concurrency: int | None
    branches: int
    waited: int
    wait: float
    wait_max: float
    parallelism: float | None


class RetriedBranch(TypedDict):
    """A branch retried by fanscope or by the client inside its calls (``retries[]``).

    Its ``duration`` splits into ``attempt_time`` (the attempts themselves), ``backoff``
    (sleeps before retries; each at least the ``retry-after`` the error asked for, which sum
    to ``retry_after``) and ``slot_wait`` (waiting for a slot again before a retry).
    ``client_resends`` and ``client_wait`` are the client's own retries inside its calls
    (``http.request.resend_count``, ``fanscope.genai.retry``), part of the attempt time.
    """

    span_id: str
    name: str
    duration: float
    attempts: int
    attempt_time: float
    backoff: float
    retry_after: float
    slot_wait: float
    client_resends: int
    client_wait: float
    outcome: str
    on_critical_path: bool


class Untraced(TypedDict):
    """A childless span whose own time dominates the trace (``untraced[]``): its calls are
    not traced. ``own`` is its own time on the critical path, ``share`` over the duration."""

    span_id: str
    name: str
    role: str
    own: float
    share: float


class StepRef(TypedDict):
    """A step named in an opportunity (``start`` in seconds from the trace start).

    ``where`` is the line that made it (``agent.py:42``, from its ``code.*`` attributes), or
    ``""`` when the span does not say.
    """

    span_id: str
    name: str
    start: float
    duration: float
    where: str


class PairEvidence(TypedDict):
    """What the two witnesses said of two steps that ran one after another.

    ``classification``: ``dependent``, ``independent``, ``candidate`` (only one witness could
    look) or ``unknown``; ``decided_by``: ``source``, ``fingerprints``, ``both`` or ``none``;
    ``source`` / ``fingerprints``: each witness's evidence, or why it could not look. The
    texts quote the program's source and the trace: untrusted, escape them when rendering.
    """

    earlier: StepRef
    later: StepRef
    classification: Literal["dependent", "independent", "candidate", "unknown"]
    decided_by: Literal["source", "fingerprints", "both", "none"]
    source: str
    fingerprints: str


class BlindPair(TypedDict):
    """A step kept after a sibling for want of fingerprints (``blind_pairs[]``).

    ``step`` ran after ``after`` and was kept there because ``blind`` (one of the two) had no
    ``missing`` fingerprints (``inputs`` of the later step, or ``outputs`` of the earlier);
    ``why`` says why that usually happens and what would give it fingerprints.
    """

    step: StepRef
    after: StepRef
    missing: str
    blind: StepRef
    why: str


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
    evidence: list[PairEvidence]


class WhatIfCap(TypedDict):
    """The what-if with the caps changed (``--what-if-cap``), the steps in the order they ran."""

    caps: dict[str, int]  #: as asked: ``{"*": 16}`` for every cap, or ``{"summarize": 16}``
    matched: list[str]  #: the names asked that matched a cap of this trace
    whatif: float
    saving: float  #: ``duration - whatif``; negative when the changed caps are slower


class AdaptiveLimitDoc(TypedDict):
    """An adaptive limit that changed its cap in the trace (``traces[].limits[]``), from its
    ``fanscope.limit.changed`` events (``fanscope/analysis/adaptive.py``; ``docs/limits.md``).

    ``start``: the cap before its first change; ``final``: after its last; ``converged``: the
    time-weighted median of the cap over the trace's second half; ``still_growing``: that
    half saw increases and no decrease (no limit met yet). ``causes``: decreases by reason
    (``overload``, ``timeout``, ``latency``, ``other``). ``below_converged``: seconds the cap
    was below ``converged``, ``below_share`` that over the trace's duration.
    ``first_change`` / ``last_change``: seconds from the trace start.
    """

    name: str
    start: int
    final: int
    converged: int
    min: int
    max: int
    increases: int
    decreases: int
    causes: dict[str, int]
    still_growing: bool
    below_converged: float
    below_share: float
    first_change: float
    last_change: float


class TraceDoc(TypedDict):
    """One trace's analysis (``traces[]``); ``start`` is nanoseconds since the epoch."""

    trace_id: str
    service: str
    root: str
    root_role: str  #: the root span's ``fanscope.role`` (``step``...), ``""`` for others
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
    queue_waits: list[QueueWait]
    retries: list[RetriedBranch]
    untraced: list[Untraced]
    blind_pairs: list[BlindPair]
    candidate_pairs: int
    candidate_saving: float
    candidates_counted: bool
    candidates: list[Opportunity]
    warnings: list[str]
    whatif_rate_wait: float
    whatif_cap: WhatIfCap | None
    cost: TraceCost | None  #: ``None`` when the trace made no model call
    budgets: list[BudgetDoc]  #: empty when it ran under no budget
    limits: list[AdaptiveLimitDoc]  #: empty when no adaptive cap changed


class OperationStats(TypedDict):
    """One operation's time on the critical path over the traces (``operations``)."""

    traces: float
    p50: float
    p95: float
    mean: float


class OperationCost(TypedDict):
    """One operation's cost in a trace over the traces where it made a call
    (``operation_costs``): p50, p95 and the total, USD."""

    traces: int
    p50: float
    p95: float
    total: float


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
    operation_costs: dict[str, OperationCost]
    cost: Cost | None  #: every trace's cost added up; ``None`` when none made a model call
    warnings: list[str]
    gates: NotRequired[Gates]
