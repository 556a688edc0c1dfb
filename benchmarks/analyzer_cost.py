"""What reading cost adds to the analyzer, side by side in one run.

A step with a fan-out of N branches, one span under each: a GenAI call with a cost, or another
instrumentation's span (an HTTP call) with none. Prints, best of ``--rounds``, the CPU time of
``analyze()`` on each trace and of the cost part alone (``fanscope.analysis.costs``), as
shares: what cost adds where every branch made a priced call, and what it adds where no span
is a model call (the walk is skipped).

    python benchmarks/analyzer_cost.py [--branches 25000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import time

from fanscope.analysis import analyze
from fanscope.analysis.costs import trace_cost
from fanscope.analysis.model import Span
from fanscope.analysis.tree import build_traces
from fanscope.sdk import attributes as A

TRACE = "0af7651916cd43dd8448eb211c80319c"
MS = 1_000_000


def make(branches: int, calls: bool) -> list[Span]:
    ids = iter(range(1, 3 * branches + 10))

    def span(name: str, start: int, end: int, parent: str | None, **attrs: object) -> Span:
        return Span(TRACE, f"{next(ids):016x}", parent, name, start * MS, end * MS, dict(attrs))

    step = span("agent", 0, 10_000, None, **{A.ROLE: A.ROLE_STEP})
    fan = span("ask", 0, 10_000, step.span_id, **{A.ROLE: A.ROLE_FANOUT, A.KIND: A.KIND_MAP})
    spans = [step, fan]
    for i in range(branches):
        outcome = A.OUTCOME_CANCELLED if i % 10 == 0 else A.OUTCOME_OK
        b = span("ask", i % 100, 5000, fan.span_id, **{A.ROLE: A.ROLE_BRANCH,
                 A.BRANCH_INDEX: i, A.BRANCH_OUTCOME: outcome})  # fmt: skip
        attrs: dict[str, object] = (
            {"gen_ai.operation.name": "chat", A.COST_AMOUNT: 0.001, "gen_ai.usage.input_tokens": 40}
            if calls
            else {"http.request.method": "GET"}
        )
        spans += [b, span("chat m" if calls else "GET /x", i % 100, 4000, b.span_id, **attrs)]
    return spans


def best(rounds: int, spans: list[Span]) -> tuple[float, float]:
    whole = part = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        analyze(spans)
        whole = min(whole, time.process_time() - t0)
        (trace,) = build_traces(spans)
        t0 = time.process_time()
        trace_cost(trace)
        part = min(part, time.process_time() - t0)
    return whole, part


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; best of {args.rounds} rounds, CPU time")
    for calls in (True, False):
        spans = make(args.branches, calls)
        whole, part = best(args.rounds, spans)
        what = "every branch a priced call" if calls else "no model call"
        print(
            f"  {what:<28} {len(spans):>9,} spans: analyze {whole:6.2f} s, "
            f"of which cost {part:5.3f} s ({part / whole * 100:4.1f}%)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
