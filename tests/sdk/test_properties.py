"""Property-based tests of the runtime's invariants.

Random nested fan-outs with random failures, timeouts and cancellations: every started span
ends exactly once with the right parent and status, caps are never exceeded, results keep
input order, and no task outlives its fan-out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

import fanscope
from fanscope import parallel
from fanscope.sdk import attributes as A
from fanscope.sdk.tracing import use_tracer_provider


class Ledger(SpanProcessor):
    """Counts starts and ends per span id."""

    def __init__(self) -> None:
        self.started: dict[int, int] = {}
        self.ended: dict[int, int] = {}
        self.spans: dict[int, ReadableSpan] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        sid = span.context.span_id
        self.started[sid] = self.started.get(sid, 0) + 1

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        sid = span.context.span_id
        self.ended[sid] = self.ended.get(sid, 0) + 1
        self.spans[sid] = span


@dataclass
class Node:
    """One branch: succeed with a value, fail, hang (until timeout/cancel), or fan out."""

    action: str
    value: int = 0
    yields: int = 0
    children: list[Node] = field(default_factory=list)


leaf = st.builds(
    Node,
    action=st.sampled_from(["ok", "ok", "ok", "fail", "hang"]),
    value=st.integers(0, 100),
    yields=st.integers(0, 3),
)
trees = st.recursive(
    leaf,
    lambda inner: st.builds(
        Node, action=st.just("fan"), children=st.lists(inner, min_size=1, max_size=4)
    ),
    max_leaves=12,
)


@dataclass
class Caps:
    now: int = 0
    peak: int = 0


def build(cap: int, caps: Caps) -> Any:
    @parallel(max_concurrency=cap, timeout=0.02)
    async def run(node: Node) -> Any:
        caps.now += 1
        caps.peak = max(caps.peak, caps.now)
        try:
            for _ in range(node.yields):
                await asyncio.sleep(0)
            if node.action == "fail":
                raise ValueError(node.value)
            if node.action == "hang":
                await asyncio.Event().wait()
            if node.action == "fan":
                caps.now -= 1  # a waiting parent does not hold the work slot it counts
                try:
                    return await inner.map(node.children, on_error="collect")
                finally:
                    caps.now += 1
            return node.value
        finally:
            caps.now -= 1

    @parallel
    async def inner(node: Node) -> Any:
        return await run(node)

    return run


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    roots=st.lists(trees, min_size=1, max_size=5),
    cap=st.integers(1, 4),
    policy=st.sampled_from(["raise", "collect", "skip"]),
    cancel_after=st.one_of(st.none(), st.integers(0, 6)),
)
def test_random_fanouts_keep_every_invariant(
    roots: list[Node], cap: int, policy: str, cancel_after: int | None
) -> None:
    ledger = Ledger()
    provider = TracerProvider()
    provider.add_span_processor(ledger)
    caps = Caps()
    run = build(cap, caps)
    result: dict[str, Any] = {}

    async def main() -> None:
        with use_tracer_provider(provider):
            task = asyncio.ensure_future(run.map(roots, on_error=policy))
            if cancel_after is not None:
                for _ in range(cancel_after):
                    await asyncio.sleep(0)
                task.cancel()
            try:
                result["value"] = await task
            except asyncio.CancelledError:
                result["cancelled"] = True
            except fanscope.FanoutError as exc:
                result["error"] = exc
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        result["leftover"] = others

    asyncio.run(main())

    # no task outlives its fan-out
    assert result["leftover"] == []
    # every started span ended exactly once
    assert ledger.started.keys() == ledger.ended.keys()
    assert set(ledger.started.values()) <= {1}
    assert set(ledger.ended.values()) <= {1}
    # the cap held (the work under one function is bounded by its cap)
    assert caps.peak <= cap
    spans = ledger.spans
    for span in spans.values():
        attrs = span.attributes or {}
        # parents exist in the same trace (one root: the top fan-out)
        if span.parent is not None:
            assert span.parent.span_id in spans
            assert spans[span.parent.span_id].context.trace_id == span.context.trace_id  # type: ignore[union-attr]
        role = attrs.get(A.ROLE)
        if role == A.ROLE_BRANCH:
            outcome = attrs[A.BRANCH_OUTCOME]
            error = span.status.status_code is StatusCode.ERROR
            assert error == (outcome in ("error", "timeout")), (span.name, outcome)
            if outcome == "cancelled":
                assert A.CANCEL_REASON in attrs
        if role in (A.ROLE_BRANCH, A.ROLE_FANIN, A.ROLE_QUEUE) and span.parent is not None:
            parent_role = (spans[span.parent.span_id].attributes or {}).get(A.ROLE)
            # a branch hangs off its fan-out, or off the branch that made a lone call
            expected = {
                A.ROLE_BRANCH: {A.ROLE_FANOUT, A.ROLE_BRANCH},
                A.ROLE_FANIN: {A.ROLE_FANOUT},
                A.ROLE_QUEUE: {A.ROLE_BRANCH},
            }
            assert parent_role in expected[role]
    roots_seen = [s for s in spans.values() if s.parent is None]
    assert [r.name for r in roots_seen] == ([] if not spans else ["map run"])
    assert spans or result.get("cancelled")
    # results keep input order
    if "value" in result:
        values = result["value"]
        if policy == "collect":
            assert [o.index for o in values] == list(range(len(roots)))
            for node, outcome in zip(roots, values, strict=True):
                if node.action == "ok":
                    assert outcome.value == node.value
        elif policy == "skip":
            expected_ok = [n.value for n in roots if n.action == "ok"]
            assert [v for v in values if isinstance(v, int)] == expected_ok
        else:
            assert all(n.action in ("ok", "fan") for n in roots)
