"""The sentences about cost every report prints, from the JSON document's cost fields only.

As in ``words``: built once, as plain text, with the renderer's ``escape`` for text from the
trace. Choices of words:

- An amount with unpriced calls is "at least $X", and the sentence says how many calls had no
  price and why: never a bare figure that reads as a total.
- A cost under a dime keeps three significant digits (``$0.000412``): fan-outs of small
  models cost fractions of a cent, and ``$0.00`` would read as free.
- Markdown passes ``sign="\\$"``: GitHub reads text between two dollar signs as math.
- Wasted spend names its parts (retried attempts, failed branches, cancelled branches or
  voters, hedges that lost); what an early stop saved is said to be an estimate.
"""

from __future__ import annotations

import math

from fanscope.analysis.report.untrusted import terminal
from fanscope.analysis.report.words import Escape, plural
from fanscope.analysis.schema import BranchCost, Cost, Fanout, FanoutCost, OperationCost, TraceCost


def usd(value: float, sign: str = "$") -> str:
    """``$1.23``, ``$0.50``, ``$0.0412``, ``$0.0000749``: cents from a dime up, else three
    significant digits, never in exponent notation."""
    if not math.isfinite(value):
        return "unknown"
    if value <= 0:
        return f"{sign}0"
    if value < 1e-6:
        return f"under {sign}0.000001"
    if value >= 0.1:
        return f"{sign}{value:,.2f}"
    decimals = 2 - math.floor(math.log10(value))
    return f"{sign}{value:.{decimals}f}"


def amount(c: Cost, sign: str = "$") -> str:
    """The amount, as a lower bound when calls were unpriced (``usd``, ``unpriced_calls``)."""
    if c["unpriced_calls"] and c["unpriced_calls"] == c["calls"]:
        return "unknown"
    return f"at least {usd(c['usd'], sign)}" if c["unpriced_calls"] else usd(c["usd"], sign)


def branch_amount(b: BranchCost, sign: str = "$") -> str:
    """One branch's amount, as a lower bound when some of its calls were unpriced."""
    if b["unpriced_calls"] and b["unpriced_calls"] == b["calls"]:
        return "unknown"
    return f"at least {usd(b['usd'], sign)}" if b["unpriced_calls"] else usd(b["usd"], sign)


def unpriced(c: Cost, escape: Escape = terminal) -> str:
    """``2 calls unpriced (unknown model x2)``; ``""`` when every call was priced.

    The reasons come from the trace (``fanscope.cost.unknown``): ``escape`` makes them text."""
    if not c["unpriced_calls"]:
        return ""
    why = ", ".join(
        f"{escape(reason)} x{n}" if n > 1 else escape(reason) for reason, n in c["unpriced"].items()
    )
    return f"{plural(c['unpriced_calls'], 'call')} unpriced ({why})"


def waste(c: FanoutCost | TraceCost, vote: bool = False) -> list[tuple[str, float]]:
    """The classes of wasted spend that cost something, in the reports' order, with USD."""
    parts = [
        ("retried attempts", c["wasted_retries"]),
        ("failed branches", c["wasted_failures"]),
        ("cancelled voters" if vote else "cancelled branches", c["wasted_cancelled"]),
        ("hedges that lost", c.get("wasted_hedges", 0.0)),
    ]
    return [(what, value) for what, value in parts if value > 0]


def wasted(c: FanoutCost | TraceCost, vote: bool = False, sign: str = "$") -> str:
    """``wasted $0.0101: retried attempts $0.005, cancelled voters $0.0051``; ``""`` for none."""
    shown = [f"{what} {usd(value, sign)}" for what, value in waste(c, vote)]
    if not shown:
        return ""
    return f"wasted {usd(c['wasted'], sign)} ({', '.join(shown)})"


def call_cost(c: Cost, sign: str = "$", escape: Escape = terminal) -> str:
    """``$0.0412 for 12 calls (5,210 tokens in, 880 out)``, with what could not be priced."""
    text = (
        f"{amount(c, sign)} for {plural(c['calls'], 'call')} "
        f"({c['input_tokens']:,} tokens in, {c['output_tokens']:,} out)"
    )
    extra = [unpriced(c, escape)]
    if c["estimated_calls"]:
        extra.append(f"{plural(c['estimated_calls'], 'call')} estimated (ended before usage)")
    extra = [e for e in extra if e]
    return text + ("; " + "; ".join(extra) if extra else "")


def trace_cost(c: TraceCost, sign: str = "$", escape: Escape = terminal) -> str:
    """One trace's cost: the amount, what could not be priced, the waste, the early stops."""
    parts = [call_cost(c, sign, escape)]
    spent = wasted(c, sign=sign)
    if spent:
        parts.append(spent)
    if c["early_stop_saved"] > 0:
        saved = usd(c["early_stop_saved"], sign)
        parts.append(f"early stops saved about {saved} (an estimate)")
    return "; ".join(parts)


def fanout_cost(f: Fanout, escape: Escape, sign: str = "$") -> str:
    """One fan-out's cost, ``""`` when no model call ran under it."""
    c = f["cost"]
    if c is None:
        return ""
    vote = f["kind"] == "vote"
    parts = [f"{escape(f['name'])} cost {amount(c, sign)} for {plural(c['calls'], 'call')}"]
    if c["branches"]:
        priced = [b for b in c["branches"] if b["calls"] and not b["unpriced_calls"]]
        if priced:
            top = max(priced, key=lambda b: b["usd"])
            unit = "voter" if vote else "branch"
            parts.append(f"most by one {unit}: {escape(top['name'])} {usd(top['usd'], sign)}")
    spent = wasted(c, vote, sign)
    if spent:
        parts.append(spent)
    if c["early_stop_saved"]:
        saved = usd(c["early_stop_saved"], sign)
        parts.append(f"the early stop saved about {saved} (an estimate)")
    why = unpriced(c, escape)
    if why:
        parts.append(why)
    return "; ".join(parts)


def operations_heading(traces: int) -> str:
    return (
        f"per operation, its cost in a trace over the traces where it made a call "
        f"(p50 / p95; in how many of the {traces:,})"
    )


def operation_where(s: OperationCost, traces: int) -> str:
    return f"in {s['traces']:,} of {traces:,}"


def total(c: Cost, traces: int, sign: str = "$", escape: Escape = terminal) -> str:
    """The whole report's cost: ``cost: $1.23 for 40 calls over 5 traces``."""
    return f"cost: {call_cost(c, sign, escape)} over {plural(traces, 'trace')}"
