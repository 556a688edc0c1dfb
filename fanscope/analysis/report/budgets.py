"""The sentences about budgets every report prints, from ``traces[].budgets`` only.

As in ``words``: built once, as plain text, with the renderer's ``escape`` for text from the
trace (a budget's name and its span's name are the trace's, so untrusted). One sentence per
budget, the refusing limit first::

    budget 'research' on map summarize: stopped by the budget after $0.48 of $0.50 (96%;
    3 calls refused); 181,234 of 200,000 tokens (91%)

A budget that refused nothing says how much of it was used; one known only by its refusals
(no span of the trace carries its record) says "at least" what it had spent when it refused.
"""

from __future__ import annotations

from fanscope.analysis.report.costs import usd
from fanscope.analysis.report.words import Escape, plural, share
from fanscope.analysis.schema import BudgetDoc, TraceDoc


def _amount(unit: str, value: float, sign: str) -> str:
    return usd(value, sign) if unit == "usd" else plural(round(value), "token")


def _of(b: BudgetDoc, unit: str, sign: str) -> tuple[str, str] | None:
    """``("$0.48 of $0.50", "96%; ")`` for ``unit`` (the share with its separator, ``""``
    when what was spent is not known), or ``None`` when the budget has no limit in it."""
    limit = b["limit_usd"] if unit == "usd" else b["limit_tokens"]
    spent = b["spent_usd"] if unit == "usd" else b["spent_tokens"]
    used = b["used_usd"] if unit == "usd" else b["used_tokens"]
    if limit is None:
        return None
    if spent is None:
        return f"an unknown part of {_amount(unit, limit, sign)}", ""
    least = "" if b["span_id"] else "at least "
    of = f"{least}{_amount(unit, spent, sign)} of {_amount(unit, limit, sign)}"
    if unit == "tokens":  # "1,950 tokens of 2,000 tokens" reads twice: "1,950 of 2,000 tokens"
        of = f"{least}{round(spent):,} of {plural(round(limit), 'token')}"
    return of, f"{share(used)}; " if used is not None else ""


def budget(b: BudgetDoc, escape: Escape, sign: str = "$") -> str:
    """One budget's sentence (see the module's docstring)."""
    where = f" on {escape(b['span'])}" if b["span_id"] else " (its record is not in this trace)"
    head = f"budget '{escape(b['name'])}'{where}: "
    first = b["stopped_by"] or ("usd" if b["limit_usd"] is not None else "tokens")
    units = [first, *(u for u in ("usd", "tokens") if u != first)]
    parts = []
    for i, unit in enumerate(units):
        found = _of(b, unit, sign)
        if found is None:
            continue
        of, used = found
        calls = plural(b["refused"], "call")
        if i == 0 and b["refused"]:
            parts.append(f"stopped by the budget after {of} ({used}{calls} refused)")
        elif i == 0:
            parts.append(f"{of} used ({used}no call refused)")
        else:
            share_used = used.removesuffix("; ")
            parts.append(f"{of} ({share_used})" if share_used else of)
    if not parts:  # a record with no limit we can read
        refused = plural(b["refused"], "call")
        return head + (f"{refused} refused" if b["refused"] else "no call refused")
    return head + "; ".join(parts)


def refused(t: TraceDoc) -> int:
    """Model calls the trace's budgets refused."""
    return sum(b["refused"] for b in t["budgets"])
