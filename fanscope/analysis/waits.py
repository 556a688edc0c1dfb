"""Where branch time went waiting: in line behind a cap, and between attempts.

Two views of one trace, both from what the SDK records (``docs/conventions.md``):

* :func:`queue_waits`: for each holder of waiting branches (a fan-out, or the lone calls of one
  function under one parent) and each limiter they waited on, how many branches waited, how
  long, under which cap, and how many ran at a time on average (achieved parallelism); and
  for each span that submitted jobs to a busy thread pool (``queue wait`` spans with
  ``fanscope.queue.reason = pool``), how many jobs waited for a worker and how long;
* :func:`retried_branches`: for each branch that was retried, its time split into the attempts
  themselves, the waits before retries (backoff, at least the ``retry-after`` the error asked
  for), waits for a slot again before a retry, and the client's own resends inside its calls.
"""

from __future__ import annotations

from fanscope.analysis.fanouts import branch_label, queue_wait
from fanscope.analysis.schema import QueueWait, RetriedBranch
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

NS = 1e9
RESEND_COUNT = "http.request.resend_count"  # GenAI spans (docs/conventions.md)
EVENT_CLIENT_RETRY = "fanscope.genai.retry"


def _cap(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


def queue_waits(trace: Trace, parallelism: dict[str, float]) -> list[QueueWait]:
    """Who held the branches that waited for a slot, longest total wait first.

    Branches are grouped by holder; ``limiter`` names the limiters the waiting ones waited on
    (a branch records it only when it waited).

    Args:
        trace: the trace.
        parallelism: each fan-out span's achieved parallelism (sum of branch time over its
            wall time), from its statistics.
    """
    groups: dict[str, QueueWait] = {}
    limiters: dict[str, set[str]] = {}
    spans = trace.spans
    for sid, span in spans.items():
        if span.attributes.get(A.ROLE) != A.ROLE_BRANCH:
            continue
        parent = trace.parent(sid)
        in_fanout = parent is not None and spans[parent].attr_str(A.ROLE) == A.ROLE_FANOUT
        limiter = span.attr_str(A.QUEUE_LIMITER) or ""
        if in_fanout and parent is not None:
            holder_id, holder = parent, spans[parent].name
            cap = _cap(spans[parent].attr_int(A.FANOUT_MAX_CONCURRENCY))
            achieved: float | None = parallelism.get(parent)
        else:  # a lone call: grouped with the other calls of its function under one parent
            holder_id, holder = "", span.name
            cap = _cap(span.attr_int(A.BRANCH_MAX_CONCURRENCY))
            achieved = None
        key = holder_id or f"{parent}/{span.name}"
        group = groups.get(key)
        if group is None:
            group = groups[key] = QueueWait(
                kind="slot",
                holder_span_id=holder_id,
                holder=holder,
                limiter="",
                max_concurrency=cap,
                branches=0,
                waited=0,
                wait=0.0,
                wait_max=0.0,
                parallelism=achieved,
            )
        group["branches"] += 1
        waited = queue_wait(trace, sid)
        if waited > 0:
            if limiter:
                limiters.setdefault(key, set()).add(limiter)
            group["waited"] += 1
            group["wait"] += waited
            group["wait_max"] = max(group["wait_max"], waited)
    for key, names in limiters.items():
        groups[key]["limiter"] = ", ".join(sorted(names))
    kept = [g for g in groups.values() if g["waited"]]
    kept += _pool_waits(trace)
    return sorted(kept, key=lambda g: -g["wait"])


def _pool_waits(trace: Trace) -> list[QueueWait]:
    """Jobs that waited for a worker of a busy thread pool, by submitting span and pool.

    Only the jobs that waited have a span (a job that found a free worker records nothing),
    so ``branches`` is the number of jobs that waited, like ``waited``.
    """
    groups: dict[tuple[str, str], QueueWait] = {}
    spans = trace.spans
    for sid, span in spans.items():
        if span.attributes.get(A.ROLE) != A.ROLE_QUEUE:
            continue
        if span.attr_str(A.QUEUE_REASON) != A.QUEUE_REASON_POOL:
            continue
        parent = trace.parent(sid)
        pool = span.attr_str(A.QUEUE_LIMITER) or ""
        key = (parent or "", pool)
        group = groups.get(key)
        if group is None:
            group = groups[key] = QueueWait(
                kind="pool",
                holder_span_id=parent or "",
                holder=spans[parent].name if parent is not None else "",
                limiter=pool,
                max_concurrency=_cap(span.attr_int(A.QUEUE_MAX_WORKERS)),
                branches=0,
                waited=0,
                wait=0.0,
                wait_max=0.0,
                parallelism=None,
            )
        # a damaged span (ending before it starts) waited no time
        waited = max(span.duration, 0) / NS
        group["branches"] += 1
        group["waited"] += 1
        group["wait"] += waited
        group["wait_max"] = max(group["wait_max"], waited)
    return list(groups.values())


def retried_branches(trace: Trace, on_path: set[str]) -> list[RetriedBranch]:
    """Every branch retried by fanscope or by the client inside its calls, in start order."""
    out: list[RetriedBranch] = []
    spans = trace.spans
    for sid, span in sorted(trace.spans.items(), key=lambda kv: kv[1].start):
        if span.attributes.get(A.ROLE) != A.ROLE_BRANCH:
            continue
        attempts = span.attr_int(A.BRANCH_ATTEMPTS)
        attempts = 1 if attempts is None else attempts
        backoff = retry_after = 0.0
        for _, name, attributes in span.events:
            if name != A.EVENT_RETRY:
                continue
            delay = attributes.get(A.RETRY_DELAY)
            asked = attributes.get(A.RETRY_AFTER)
            if isinstance(delay, int | float) and delay > 0:
                backoff += float(delay)
            if isinstance(asked, int | float) and asked > 0:
                retry_after += float(asked)
        slot_waits = 0.0
        resends, client_wait = 0, 0.0
        for kid in trace.descendants(sid):
            k = spans[kid]
            if k.attributes.get(A.ROLE) == A.ROLE_QUEUE and trace.parent(kid) == sid:
                slot_waits += k.duration / NS
            count = k.attr_int(RESEND_COUNT)
            if count is not None and count > 0:
                resends += count
                for _, name, attributes in k.events:
                    delay = attributes.get(A.RETRY_DELAY)
                    if name == EVENT_CLIENT_RETRY and isinstance(delay, int | float) and delay > 0:
                        client_wait += float(delay)
        if attempts <= 1 and resends == 0:
            continue
        duration = span.duration / NS
        out.append(
            RetriedBranch(
                span_id=sid,
                name=branch_label(trace, sid),
                duration=duration,
                attempts=attempts,
                attempt_time=max(0.0, duration - backoff - slot_waits),
                backoff=backoff,
                retry_after=retry_after,
                slot_wait=slot_waits,
                client_resends=resends,
                client_wait=client_wait,
                outcome=span.attr_str(A.BRANCH_OUTCOME) or "",
                on_critical_path=sid in on_path,
            )
        )
    return out
