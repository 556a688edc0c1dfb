"""The HTML report: one self-contained file with a waterfall of each trace.

No network and no CDN: the styles, the script and the data are inline. The data is the
analyzer's report (``to_dict()``, so every number matches the other formats) plus the spans'
names, times and attributes, embedded as JSON inside ``<script type="application/json">``
with ``<``, ``>`` and ``&`` written as ``\\u003c``-style escapes so that no span name can close
the element. The page builds itself with ``textContent`` and ``setAttribute`` only: span names
and attributes are untrusted text and are never parsed as HTML (a span named ``<script>``
shows as that text). Every string of the data is cut (names at
:data:`~fanscope.analysis.report.untrusted.MAX_CHARS` characters, attribute values at
``MAX_ATTRIBUTE_CHARS``, the sentences' names at ``MAX_CHARS``). Escaping is not the only
defence: the page's Content-Security-Policy allows no script and no style but its own one
inline ``<script>`` and ``<style>``, named by their SHA-256 hashes (a static file has no server
to hand out a nonce), and no network.

What the waterfall shows:

* the critical path: the analyzer's segments drawn over each span's bar, the span's label in
  red, and the path listed below the waterfall;
* fan-outs grouped: branches sit under their fan-out, the slowest branch is tagged, and a
  fan-out of more than ``COLLAPSE_OVER`` children starts folded: its branches become one
  summary row, except those on the critical path, the slowest and those tagged below; the
  triangle (or the summary row) unfolds it;
* waiting in line: a branch's wait for a slot before its span started (``fanscope.queue.wait_s``)
  as a hatched bar before it, ``queue wait`` spans hatched, and the calls that ran one after
  another with no data between them tagged, each with a blue hatched bar from where it could
  have started, and the saving on their parent;
* model calls named by the line that made them and its function
  (``examples/research_agent.py:36 search_news``, the model beside it in grey), as the
  terminal names calls: their spans are all ``chat MODEL``;
* details: hover a bar or label for its times, click a row for its attributes;
* hedges: each ``hedge`` row tagged with its outcome (won, lost, failed, cancelled), and the
  fan-out table's ``hedges`` column (``3 sent, 1 won``) when the trace sent any;
* cost (a trace that made model calls): each fan-out and branch row tagged with what its calls
  cost, the wasted spend by class (retried attempts, failed and cancelled branches, hedges
  that lost) with its share of the trace's, and a toggle that redraws the same rows with bars
  as wide as what the calls under each span cost, children side by side within their
  parent's bar in the order they started (an icicle on a USD axis: a costlier branch is a
  wider bar); calls with no price are not drawn and the bar's title says "at least";
  budgets tag the span they recorded on and each branch whose call they refused.

The waterfall is as tall as its rows, up to the window's height (no fixed height with rows
below the fold and empty page underneath), and draws only the rows in view (fixed row height,
rows made on scroll), so a trace of 50,000 spans opens at once and scrolls smoothly.

The page itself (its skeleton, style and script, and the hashes that let only them run) is
:mod:`fanscope.analysis.report.html_page`, from the files in ``page/``; this module makes its
data.

The sentences (a fan-out's slowest branch and a vote's early stop, who held branches in line,
retries, spans whose calls are not traced, what to run together) are the terminal report's,
made once in Python by ``words`` and shown as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fanscope.analysis.costs import Call, is_call
from fanscope.analysis.model import Span
from fanscope.analysis.report import (
    budgets,
    costs,
    evidence,
    html_page,
    limits,
    opportunities,
    untrusted,
    words,
)
from fanscope.analysis.schema import BudgetDoc, ReportDoc, TraceDoc
from fanscope.analysis.tree import Trace, build_traces
from fanscope.analysis.witness import CallSite
from fanscope.sdk import attributes as A

MAX_ATTRIBUTE_CHARS = 300
#: The model a call asked for and the one that answered (docs/conventions.md)
GENAI_REQUEST_MODEL, GENAI_RESPONSE_MODEL = "gen_ai.request.model", "gen_ai.response.model"
COLLAPSE_OVER = 30


def _value(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_value(v) for v in value[:20]]
    return str(value)[:MAX_ATTRIBUTE_CHARS]


def _rows(spans: Iterable[Span], trace_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Per trace, its spans in tree order (depth-first, children by start time).

    Each row knows its parent's row (``parent``, -1 for a root) and where its subtree ends
    (``end``: the index after its last descendant), which is all the page needs to fold rows.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for trace in build_traces(spans):
        if trace.trace_id not in trace_ids:
            continue
        start = trace.start
        rows: list[dict[str, Any]] = []
        roots = sorted(trace.roots, key=lambda r: -trace.spans[r].start)
        stack: list[tuple[str, int, int]] = [(root, 0, -1) for root in roots]
        open_rows: list[int] = []  # the rows whose subtree is still being listed
        while stack:
            sid, depth, parent = stack.pop()
            while open_rows and rows[open_rows[-1]]["depth"] >= depth:
                rows[open_rows.pop()]["end"] = len(rows)
            span = trace.spans[sid]
            rows.append(
                {
                    "id": sid,
                    "name": untrusted.cut(span.name),
                    "depth": depth,
                    "parent": parent,
                    "start": (span.start - start) / 1e9,
                    "duration": span.duration / 1e9,
                    "role": str(span.attributes.get(A.ROLE, "")),
                    # a wait of the wrong type or not finite reads as none (docs/analysis.md)
                    "wait": max(0.0, span.attr_float(A.QUEUE_WAIT) or 0.0),
                    "error": span.status == "error",
                    "attributes": {k: _value(v) for k, v in span.attributes.items()},
                }
            )
            index = len(rows) - 1
            if is_call(span):  # a model call: named by the line that made it, model aside
                rows[index].update(_call_label(span))
            refused = sum(1 for _, n, _ in span.events if n == A.EVENT_BUDGET_STOP)
            if refused:  # calls a budget refused here (the key only when there are some)
                rows[index]["refused"] = refused
            open_rows.append(index)
            kids = sorted(trace.children.get(sid, ()), key=lambda k: -trace.spans[k].start)
            stack.extend((k, depth + 1, index) for k in kids)
        for index in open_rows:
            rows[index]["end"] = len(rows)
        _cost_rows(trace, rows)
        out[trace.trace_id] = rows
    return out


def _call_label(span: Span) -> dict[str, str]:
    """How the waterfall names a model call: by the line that made it and its function, as
    the terminal names calls (``examples/research_agent.py:36 search_news``: every call's span
    is named ``chat MODEL``), the model as secondary text (``model``). A call whose span does
    not say where keeps its span name as its label. Trace text, cut; the page shows it with
    ``textContent``."""
    out = {}
    site = CallSite.of(span)
    if site is not None:
        function = site.function.rpartition(".")[2] or site.function
        out["label"] = untrusted.cut(f"{site.where} {function}")
    model = span.attributes.get(GENAI_REQUEST_MODEL) or span.attributes.get(GENAI_RESPONSE_MODEL)
    if isinstance(model, str) and model:
        out["model"] = untrusted.cut(model)
    return out


def _cost_rows(trace: Trace, rows: list[dict[str, Any]]) -> None:
    """The cost view's layout, on the rows of a trace that made model calls: each row's
    priced calls under it (``c``, USD, itself included) and where its bar starts on the cost
    axis (``c0``): children side by side within their parent's bar, in the order they
    started, so that a bar is as wide as what was spent under it. ``u``: calls under it that
    had no price (their width is unknown, so not drawn)."""
    spans = trace.spans
    calls = [is_call(spans[r["id"]]) for r in rows]
    if not any(calls):
        return
    cost = [0.0] * len(rows)
    unpriced = [0] * len(rows)
    for i in range(len(rows) - 1, -1, -1):  # children come after their parent
        if calls[i]:
            usd = Call.of(spans[rows[i]["id"]]).usd
            if usd is None:
                unpriced[i] += 1
            else:
                cost[i] += usd
        parent = rows[i]["parent"]
        if parent >= 0:
            cost[parent] += cost[i]
            unpriced[parent] += unpriced[i]
    cursor: dict[int, float] = {}  # per parent row (-1: the roots), where the next child starts
    for i, row in enumerate(rows):
        parent = row["parent"]
        row["c0"] = cursor.get(parent, 0.0)
        cursor[parent] = row["c0"] + cost[i]
        cursor[i] = row["c0"]
        row["c"] = cost[i]
        if unpriced[i]:
            row["u"] = unpriced[i]


def _words(t: TraceDoc) -> dict[str, Any]:
    """The sentences the terminal report prints for this trace (``words``), for the page."""
    cut = untrusted.cut  # the page shows text with textContent: names need cutting only
    return {
        "fanouts": {f["span_id"]: words.fanout(f, cut) for f in t["fanouts"] if f["branches"]},
        "queue_waits": [words.queue_wait(w, cut) for w in t["queue_waits"]],
        "limits": [limits.limit(x, cut) for x in t["limits"]],
        "behind_caps": words.behind_caps(
            t["queue_wait_total"], t["queue_wait_on_path"], t["queue_wait_share"]
        ),
        "retries": {r["span_id"]: words.retried(r, cut) for r in t["retries"]},
        "untraced": [words.untraced(u, cut) for u in t["untraced"]],
        "opportunities": [opportunities.opportunity(o, cut) for o in t["opportunities"]],
        "unknown": words.unknown_pairs(t["unknown_pairs"]) if t["unknown_pairs"] else "",
        "blind_pairs": [words.blind_pair(b, cut) for b in t["blind_pairs"]],
        "evidence": [evidence.sentences(o["evidence"], cut) for o in t["opportunities"]],
        "candidates_heading": opportunities.candidates(t) if t["candidates"] else "",
        "candidates": [
            [
                opportunities.opportunity(o, cut),
                evidence.sentences(o["evidence"], cut),
            ]
            for o in t["candidates"]
        ],
        **_cost_words(t),
        "budgets": [budgets.budget(b, cut) for b in t["budgets"]],
        "budget_of": _budget_tags(t),
        "hedges_of": {
            f["span_id"]: f"{f['hedges']:,} sent, {f.get('hedges_won', 0):,} won"
            for f in t["fanouts"]
            if f.get("hedges")
        },
    }


def _budget_tags(t: TraceDoc) -> dict[str, list[str]]:
    """Per span id, the tags of the budgets recorded on it (a step can end several)."""
    tags: dict[str, list[str]] = {}
    for b in t["budgets"]:
        if b["span_id"]:
            tags.setdefault(b["span_id"], []).append(_budget_tag(b))
    return tags


def _budget_tag(b: BudgetDoc) -> str:
    """The tag on the row of a budget's span: ``budget 96% used, 3 refused``."""
    unit = b["stopped_by"] or ("usd" if b["limit_usd"] is not None else "tokens")
    used = b["used_usd"] if unit == "usd" else b["used_tokens"]
    text = f"budget {words.share(used)} used" if used is not None else "budget"
    return text + (f", {b['refused']:,} refused" if b["refused"] else "")


def _cost_words(t: TraceDoc) -> dict[str, Any]:
    """What the page says about cost: the trace's sentence and amount, each fan-out's, each
    branch's amount (``cost_of``, by span id), and the cost per operation with its share."""
    cost = t["cost"]
    if cost is None:
        return {
            "cost": "",
            "cost_amount": "",
            "fanout_costs": {},
            "cost_of": {},
            "by_cost": [],
            "waste": [],
        }
    fanouts = [f for f in t["fanouts"] if f["cost"] is not None]
    cost_of: dict[str, str] = {}
    for f in fanouts:
        assert f["cost"] is not None
        cost_of[f["span_id"]] = costs.amount(f["cost"])
        for b in f["cost"]["branches"]:
            if b["calls"]:
                cost_of[b["span_id"]] = costs.branch_amount(b)
    spent = max(cost["usd"], 1e-12)
    return {
        "cost": costs.trace_cost(cost, escape=untrusted.cut),
        "cost_amount": costs.amount(cost),
        "fanout_costs": {f["span_id"]: costs.fanout_cost(f, untrusted.cut) for f in fanouts},
        "cost_of": cost_of,
        "by_cost": [
            [untrusted.cut(name), costs.usd(usd), usd / spent]
            for name, usd in list(cost["by_operation"].items())[:50]
        ],
        # what bought nothing, by class (retries, failures, cancelled, hedges that lost)
        "waste": [[what, costs.usd(usd), usd / spent] for what, usd in costs.waste(cost)],
    }


def render(report: ReportDoc, spans: Iterable[Span], note: str | None = None) -> str:
    """The HTML page for ``report`` (from ``Report.to_dict()``) and the spans it analysed.

    Args:
        report: the analyzer's report; its traces are the ones drawn.
        spans: the spans the report was made from (names, times, attributes of each row).
        note: a line under the title (which traces of the input the report covers).

    Returns:
        The whole page, to write to a ``.html`` file.
    """
    wanted = {t["trace_id"] for t in report["traces"]}
    loose = [t["root"] for t in report["traces"] if t["root_role"] != "step"]
    data = {
        # every string of the report and of the rows cut, and valid UTF-8
        "report": untrusted.json_document(report, MAX_ATTRIBUTE_CHARS),
        "rows": untrusted.json_document(_rows(spans, wanted), MAX_ATTRIBUTE_CHARS),
        "collapseOver": COLLAPSE_OVER,
        "words": untrusted.json_document(
            {t["trace_id"]: _words(t) for t in report["traces"]}, untrusted.MAX_LINE_CHARS * 4
        ),
        "note": untrusted.cut(note or "", untrusted.MAX_LINE_CHARS),
        "loose": untrusted.cut(
            words.outside_steps(loose, untrusted.cut) if len(loose) >= 2 else "",
            untrusted.MAX_LINE_CHARS,
        ),
    }
    payload = json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return html_page.page().replace("__DATA__", payload)
