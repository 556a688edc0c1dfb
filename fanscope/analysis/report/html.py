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
* details: hover a bar or label for its times, click a row for its attributes;
* cost (a trace that made model calls): each fan-out and branch row tagged with what its calls
  cost, and a toggle that redraws the same rows with bars as wide as what the calls under
  each span cost, children side by side within their parent's bar in the order they started
  (an icicle on a USD axis: a costlier branch is a wider bar); calls with no price are not
  drawn and the bar's title says "at least"; budgets tag the span they recorded on and each
  branch whose call they refused.

The waterfall is as tall as its rows, up to the window's height (no fixed height with rows
below the fold and empty page underneath), and draws only the rows in view (fixed row height,
rows made on scroll), so a trace of 50,000 spans opens at once and scrolls smoothly.

The sentences (a fan-out's slowest branch and a vote's early stop, who held branches in line,
retries, spans whose calls are not traced, what to run together) are the terminal report's,
made once in Python by ``words`` and shown as text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from fanscope.analysis.costs import Call, is_call
from fanscope.analysis.model import Span
from fanscope.analysis.report import budgets, costs, limits, untrusted, words
from fanscope.analysis.schema import BudgetDoc, ReportDoc, TraceDoc
from fanscope.analysis.tree import Trace, build_traces
from fanscope.sdk import attributes as A

MAX_ATTRIBUTE_CHARS = 300
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
                    "wait": float(span.attributes.get(A.QUEUE_WAIT, 0.0) or 0.0),
                    "error": span.status == "error",
                    "attributes": {k: _value(v) for k, v in span.attributes.items()},
                }
            )
            index = len(rows) - 1
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
        "opportunities": [words.opportunity(o, cut) for o in t["opportunities"]],
        "unknown": words.unknown_pairs(t["unknown_pairs"]) if t["unknown_pairs"] else "",
        "blind_pairs": [words.blind_pair(b, cut) for b in t["blind_pairs"]],
        "evidence": [[words.evidence(e, cut) for e in o["evidence"]] for o in t["opportunities"]],
        "candidates_heading": words.candidates(t) if t["candidates"] else "",
        "candidates": [
            [words.opportunity(o, cut), [words.evidence(e, cut) for e in o["evidence"]]]
            for o in t["candidates"]
        ],
        **_cost_words(t),
        "budgets": [budgets.budget(b, cut) for b in t["budgets"]],
        "budget_of": _budget_tags(t),
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
        return {"cost": "", "cost_amount": "", "fanout_costs": {}, "cost_of": {}, "by_cost": []}
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
        "cost": costs.trace_cost(cost),
        "cost_amount": costs.amount(cost),
        "fanout_costs": {f["span_id"]: costs.fanout_cost(f, untrusted.cut) for f in fanouts},
        "cost_of": cost_of,
        "by_cost": [
            [untrusted.cut(name), costs.usd(usd), usd / spent]
            for name, usd in list(cost["by_operation"].items())[:50]
        ],
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
    payload = json.dumps(data, separators=(",", ":"), default=str)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _PAGE.replace("__DATA__", payload)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none';
  script-src __SCRIPT_HASH__; style-src __STYLE_HASH__; img-src data:">
<title>fanscope report</title>
<style>
:root { --label: 34%; font: 13px/1.4 system-ui, sans-serif; color: #1d2330; }
body { margin: 0; padding: 16px 20px; background: #fafbfc; }
h1 { font-size: 18px; margin: 0 0 8px; } h2 { font-size: 15px; margin: 20px 0 6px; }
h3 { font-size: 13px; margin: 14px 0 4px; }
.summary { display: flex; gap: 18px; flex-wrap: wrap; margin: 6px 0 10px; }
.summary div { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 6px 10px; }
.summary b { display: block; font-size: 15px; }
.warnings { color: #8a4b00; }
.axis { display: flex; height: 18px; font-size: 11px; color: #667085; }
.axis .lane { height: 18px; border-bottom: 1px solid #dde1e7; }
.tick { position: absolute; top: 0; transform: translateX(-50%); white-space: nowrap; }
.tick:first-child { transform: none; } .tick:last-child { transform: translateX(-100%); }
.waterfall { position: relative; max-height: calc(100vh - 120px); min-height: 60px;
  overflow-y: auto; background: #fff; border: 1px solid #dde1e7; border-radius: 6px; }
.row { position: absolute; left: 0; right: 0; height: 20px; display: flex;
  align-items: center; cursor: pointer; border-bottom: 1px solid #f0f2f5; }
.row:hover { background: #f3f6fb; } .row.selected { background: #e6edf8; }
.row.critical .label { font-weight: 600; color: #b42318; }
.row.more .label { font-style: italic; color: #475467; }
.label { width: var(--label); overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
  padding-right: 8px; box-sizing: border-box; flex: none; }
.toggle { display: inline-block; width: 12px; color: #667085; }
.lane { position: relative; flex: 1; height: 12px; margin-right: 10px; }
.bar { position: absolute; height: 12px; border-radius: 2px; background: #7a93c8; min-width: 1px; }
.bar.fanout { background: #9aa7bd; } .bar.fanin { background: #c4a35a; }
.bar.step { background: #5b8f6b; } .bar.error { background: #d9534f; }
.seg { position: absolute; top: 3px; height: 6px; background: #e0523f; min-width: 1px; }
.wait, .bar.queue { position: absolute; height: 12px; border-radius: 2px;
  background: repeating-linear-gradient(45deg, #f2c94c, #f2c94c 3px, #fff4cf 3px, #fff4cf 6px); }
.seqwait { position: absolute; height: 12px; border-radius: 2px;
  background: repeating-linear-gradient(45deg, #6ea8fe, #6ea8fe 3px, #e3eeff 3px, #e3eeff 6px); }
.more .bar { background: #d0d5dd; }
.tag { font-size: 11px; margin-left: 6px; padding: 0 4px; border-radius: 3px; background: #fde2e1;
  color: #b42318; font-weight: normal; }
.tag.slow { background: #ffe8c2; color: #8a4b00; }
.tag.seq { background: #e3eeff; color: #1f4fa3; }
.tag.cancelled { background: #eceff3; color: #475467; }
.tag.cost { background: #e7f5ec; color: #1e6b3a; }
.tag.budget { background: #efe7fb; color: #5b2a9b; } .tag.refused { background: #fde2e1; }
.views { margin: 4px 0; font-size: 12px; color: #475467; }
.views button { font: inherit; margin-left: 4px; padding: 1px 8px; border: 1px solid #c4cad4;
  border-radius: 4px; background: #fff; cursor: pointer; }
.views button.on { background: #1e6b3a; color: #fff; border-color: #1e6b3a; }
.bar.bycost { background: #5b8f6b; } .bar.bycost.fanout, .bar.bycost.step { background: #9bbfa5; }
.costbar { display: inline-block; height: 8px; background: #5b8f6b; min-width: 1px; }
.details { white-space: pre-wrap; font: 12px ui-monospace, monospace; background: #fff;
  border: 1px solid #dde1e7; border-radius: 6px; padding: 8px; min-height: 40px;
  max-height: 50vh; overflow: auto; }
.index { color: #667085; font-weight: normal; }
.critical-path { max-height: 60vh; overflow: auto; margin: 0; background: #fff;
  border: 1px solid #dde1e7; border-radius: 6px; padding: 6px 6px 6px 48px; }
table { border-collapse: collapse; background: #fff; } td, th { border: 1px solid #dde1e7;
  padding: 3px 8px; text-align: left; } td.num { text-align: right; }
.note { background: #fff4e5; border: 1px solid #f2c94c; border-radius: 6px; padding: 6px 10px;
  margin: 6px 0; }
.said { margin: 4px 0 8px; padding-left: 20px; }
.legend span { margin-right: 14px; } .swatch { display: inline-block; width: 14px; height: 10px;
  vertical-align: middle; margin-right: 4px; border-radius: 2px; }
</style></head>
<body>
<h1>fanscope: where the time went</h1>
<div id="app"></div>
<script type="application/json" id="fanscope-data">__DATA__</script>
<script>
"use strict";
(function () {
  var ROW = 20;
  var data = JSON.parse(document.getElementById("fanscope-data").textContent);
  var app = document.getElementById("app");
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function secs(v) {
    if (v < 1) return (v * 1000).toFixed(v < 0.0095 ? 1 : 0) + " ms";
    if (v < 120) return v.toFixed(2) + " s";
    return Math.floor(v / 60) + " min " + Math.round(v % 60) + " s";
  }
  function pct(v) { return Math.round(v * 100) + "%"; }
  function usd(v) {  // as the reports write amounts (report/costs.py usd)
    if (!(v > 0)) return "$0";
    if (v < 1e-6) return "under $0.000001";
    if (v >= 0.1) return "$" + v.toFixed(2);
    return "$" + v.toFixed(2 - Math.floor(Math.log10(v)));
  }
  function list(cls, items) {  // sentences made by the analyzer (words.py), shown as text
    var ul = el("ul", cls);
    items.forEach(function (text) { ul.appendChild(el("li", null, text)); });
    return ul;
  }

  function trace(t, ti) {
    var rows = data.rows[t.trace_id] || [];
    var said = data.words[t.trace_id];
    var total = Math.max(t.duration, 1e-9);
    // the cost view: bars as wide as what was spent under them (rows' c0 and c, USD)
    var costTotal = rows.reduce(function (a, r) { return a + (r.parent < 0 ? r.c || 0 : 0); }, 0);
    var mode = "time";
    function extent() { return mode === "cost" ? costTotal : total; }
    var byId = new Map();
    rows.forEach(function (r, i) { byId.set(r.id, i); });

    // What the analyzer says about each row (all keyed by row index).
    var segs = new Map(), slowest = new Map(), notes = new Map(), seqWait = new Map();
    function note(i, text) { if (!notes.has(i)) notes.set(i, []); notes.get(i).push(text); }
    t.critical_path.forEach(function (s) {
      if (s.duration <= 0 || !byId.has(s.span_id)) return;
      var i = byId.get(s.span_id);
      if (!segs.has(i)) segs.set(i, []);
      segs.get(i).push(s);
    });
    var fanoutOf = new Map();
    t.fanouts.forEach(function (f) {
      if (byId.has(f.span_id)) fanoutOf.set(byId.get(f.span_id), f);
      if (f.branches > 1 && byId.has(f.slowest_span_id)) {
        var i = byId.get(f.slowest_span_id);
        slowest.set(i, f);
        note(i, "slowest of " + f.branches + " branches of " + f.name + ": " + secs(f.slowest) +
          ", " + f.straggler_ratio.toFixed(1) + "x the median " + secs(f.median));
      }
    });
    Object.keys(said.retries).forEach(function (sid) {
      if (byId.has(sid)) note(byId.get(sid), "retried: " + said.retries[sid]);
    });
    t.fanouts.forEach(function (f) {
      if (byId.has(f.span_id) && said.fanouts[f.span_id]) {
        note(byId.get(f.span_id), said.fanouts[f.span_id]);
      }
    });
    var saves = new Map();
    t.opportunities.forEach(function (o, oi) {
      var sentence = said.opportunities[oi] + " \\u2014 saves " + secs(o.saving);
      if (byId.has(o.parent_span_id)) {
        saves.set(byId.get(o.parent_span_id), o.saving);
        note(byId.get(o.parent_span_id), sentence);
      }
      o.run_together.forEach(function (group) {
        var members = group.filter(function (s) { return byId.has(s.span_id); })
          .map(function (s) { return byId.get(s.span_id); });
        var first = Math.min.apply(null, members.map(function (i) { return rows[i].start; }));
        members.forEach(function (i) {
          var waited = rows[i].start - first;
          if (waited > 0) seqWait.set(i, { from: first, waited: waited });
          note(i, "ran after " + (group.length - 1) + " independent call(s) it could have run " +
            "alongside (waited " + secs(Math.max(0, waited)) + "); " + sentence);
        });
      });
    });
    // Rows that stay visible when their fan-out is folded: on the path, slowest, or tagged.
    var keep = new Array(rows.length).fill(false);
    for (var k = rows.length - 1; k >= 0; k--) {
      if (segs.has(k) || slowest.has(k) || seqWait.has(k)) keep[k] = true;
      if (keep[k] && rows[k].parent >= 0) keep[rows[k].parent] = true;
    }
    var folded = new Array(rows.length).fill(false);
    function children(i) {
      var out = [];
      for (var j = i + 1; j < rows[i].end; j = rows[j].end) out.push(j);
      return out;
    }
    fanoutOf.forEach(function (f, i) {
      if (children(i).length > data.collapseOver) folded[i] = true;
    });
    var visible = [];
    function layout() {
      visible = [];
      var stack = [];
      rows.forEach(function (r, i) { if (r.parent < 0) stack.push(i); });
      stack.reverse();
      while (stack.length) {
        var item = stack.pop();
        if (typeof item === "object") { visible.push(item); continue; }
        visible.push(item);
        var kids = children(item), shown = kids;
        if (folded[item]) {
          shown = kids.filter(function (j) { return keep[j] || rows[j].role !== "branch"; });
        }
        for (var j = shown.length - 1; j >= 0; j--) stack.push(shown[j]);
        if (shown.length < kids.length) {  // the summary row comes first, under its fan-out
          stack.push({ more: item, hidden: kids.length - shown.length });
        }
      }
    }

    var section = el("section");
    section.setAttribute("data-trace-id", t.trace_id);
    section.appendChild(el("h2", null, t.root + " \\u2014 " + (t.service || "?") +
      " \\u2014 trace " + t.trace_id));
    var summary = el("div", "summary");
    [["total", secs(t.duration)], ["what-if", secs(t.whatif)],
     ["parallelizable", pct(t.parallelizable_share)],
     ["waiting behind caps (path)", secs(t.queue_wait_on_path)],
     ["worst straggler", t.straggler_ratio.toFixed(1) + "x"], ["spans", t.spans]
    ].concat(said.cost_amount ? [["cost", said.cost_amount]] : []).forEach(function (kv) {
      var box = el("div", null, kv[0]); box.appendChild(el("b", null, kv[1]));
      summary.appendChild(box);
    });
    section.appendChild(summary);
    said.untraced.forEach(function (text) {
      section.appendChild(el("p", "note untraced", "Not traced: " + text));
    });
    if (t.warnings.length) {
      var warn = el("ul", "warnings");
      t.warnings.forEach(function (w) { warn.appendChild(el("li", null, w)); });
      section.appendChild(warn);
    }
    var legend = el("div", "legend");
    [["#e0523f", "critical path"], ["#7a93c8", "branch"], ["#9aa7bd", "fan-out"],
     ["#5b8f6b", "step"], ["#c4a35a", "fan-in"], ["#f2c94c", "waiting in line (cap)"],
     ["#6ea8fe", "waiting behind an independent call"]
    ].forEach(function (kv) {
      var item = el("span"); var sw = el("span", "swatch"); sw.style.background = kv[0];
      item.appendChild(sw); item.appendChild(document.createTextNode(kv[1]));
      legend.appendChild(item);
    });
    section.appendChild(legend);

    if (costTotal > 0) {  // a toggle between the time waterfall and the cost view
      var views = el("div", "views");
      views.appendChild(el("span", null, "bar widths by "));
      [["time", "time"], ["cost", "cost (USD of the model calls under each span)"]]
        .forEach(function (kv) {
          var button = el("button", "view" + (kv[0] === mode ? " on" : ""), kv[1]);
          button.type = "button";
          button.setAttribute("data-view", kv[0]);
          button.addEventListener("click", function () {
            mode = kv[0];
            views.querySelectorAll("button").forEach(function (b) {
              b.classList.toggle("on", b === button);
            });
            drawAxis(); redraw();
          });
          views.appendChild(button);
        });
      section.appendChild(views);
    }
    var axis = el("div", "axis"); axis.appendChild(el("div", "label"));
    var ticks = el("div", "lane");
    function drawAxis() {
      ticks.textContent = "";
      for (var q = 0; q <= 4; q++) {
        var at = extent() * q / 4;
        var tick = el("span", "tick", mode === "cost" ? usd(at) : secs(at));
        tick.style.left = (25 * q) + "%";
        ticks.appendChild(tick);
      }
    }
    drawAxis();
    axis.appendChild(ticks);
    section.appendChild(axis);

    var box = el("div", "waterfall");
    box.setAttribute("data-rows", rows.length);
    var inner = el("div"); inner.style.position = "relative";
    box.appendChild(inner);
    var details = el("div", "details");
    details.id = "details-" + ti;
    var selected = null;
    function place(node, cls, from, length, title) {
      var part = el("div", cls);
      part.style.left = (100 * Math.max(0, from) / extent()) + "%";
      part.style.width = (100 * Math.max(0, length) / extent()) + "%";
      if (title) part.title = title;
      node.appendChild(part);
    }
    function show(i) {
      var r = rows[i];
      var lines = [r.name, r.role ? "role " + r.role : "not a fanscope span",
        "start " + secs(r.start) + ", duration " + secs(r.duration)];
      if (r.wait > 0) lines.push("waited in line for a slot: " + secs(r.wait));
      if (segs.has(i)) {
        var own = segs.get(i).reduce(function (a, s) { return a + s.duration; }, 0);
        lines.push("on the critical path: " + secs(own) + " of its own time");
      }
      var under = said.cost_of[r.id] || (r.c > 0 ? (r.u ? "at least " : "") + usd(r.c) : "");
      if (under) lines.push("cost of the calls under it: " + under);
      (notes.get(i) || []).forEach(function (n) { lines.push(n); });
      lines.push("");
      Object.keys(r.attributes).sort().forEach(function (key) {
        lines.push(key + " = " + JSON.stringify(r.attributes[key]));
      });
      details.textContent = lines.join("\\n");
      details.setAttribute("data-span-id", r.id);
    }
    function toggle(i) { folded[i] = !folded[i]; layout(); redraw(); }
    function spanRow(v, i) {
      var r = rows[i];
      var node = el("div", "row" + (segs.has(i) ? " critical" : "") +
        (selected === i ? " selected" : ""));
      node.setAttribute("data-span-id", r.id);
      var label = el("div", "label");
      label.style.paddingLeft = (4 + r.depth * 12) + "px";
      var hasKids = r.end > i + 1;
      var arrow = el("span", "toggle", hasKids ? (folded[i] ? "\\u25b8" : "\\u25be") : "");
      if (hasKids) arrow.addEventListener("click", function (e) {
        e.stopPropagation(); toggle(i);
      });
      label.appendChild(arrow);
      label.appendChild(el("span", "name", r.name));
      var index = r.attributes["fanscope.branch.index"];
      if (typeof index === "number") label.appendChild(el("span", "index", "[" + index + "]"));
      if (slowest.has(i)) label.appendChild(el("span", "tag slow", "slowest"));
      if (saves.has(i)) label.appendChild(el("span", "tag seq", "saves " + secs(saves.get(i))));
      if (seqWait.has(i)) label.appendChild(el("span", "tag seq", "independent"));
      if (r.error) label.appendChild(el("span", "tag", "error"));
      if (r.attributes["fanscope.branch.outcome"] === "cancelled") {
        label.appendChild(el("span", "tag cancelled", "cancelled"));
      }
      if (said.retries[r.id]) label.appendChild(el("span", "tag slow", "retried"));
      if (said.cost_of[r.id]) label.appendChild(el("span", "tag cost", said.cost_of[r.id]));
      (said.budget_of[r.id] || []).forEach(function (text) {
        label.appendChild(el("span", "tag budget", text));
      });
      if (r.refused) label.appendChild(el("span", "tag refused",
        r.refused > 1 ? r.refused + " calls refused by a budget" : "call refused by a budget"));
      label.title = r.name + " \\u2014 " + secs(r.duration);
      node.appendChild(label);
      var lane = el("div", "lane");
      if (mode === "cost") costLane(lane, r); else timeLane(lane, r, i);
      node.appendChild(lane);
      node.addEventListener("click", function () {
        selected = i; show(i);
        inner.querySelectorAll(".row.selected").forEach(function (n) {
          n.classList.remove("selected");
        });
        node.classList.add("selected");
      });
      return node;
    }
    function timeLane(lane, r, i) {
      if (r.wait > 0) {
        var waitFrom = Math.max(0, r.start - r.wait);
        place(lane, "wait", waitFrom, r.start - waitFrom, "waiting in line " + secs(r.wait));
      }
      if (seqWait.has(i)) {
        var sw = seqWait.get(i);
        place(lane, "seqwait", sw.from, sw.waited,
          "waited " + secs(sw.waited) + " behind calls it did not depend on");
      }
      place(lane, "bar " + r.role + (r.error ? " error" : ""), r.start, r.duration,
        r.name + ": " + secs(r.duration) + " from " + secs(r.start));
      (segs.get(i) || []).forEach(function (s) {
        place(lane, "seg", s.start, s.duration, "critical path: " + secs(s.duration));
      });
    }
    function costLane(lane, r) {  // the same row, its bar placed and sized by cost
      var spent = r.c || 0;
      lane.setAttribute("data-cost", spent);
      if (spent <= 0) return;
      var what = (r.u ? "at least " : "") + usd(spent) + " (" + pct(spent / costTotal) +
        " of the trace's cost" + (r.u ? "; " + r.u + " call(s) unpriced" : "") + ")";
      place(lane, "bar bycost " + r.role + (r.error ? " error" : ""), r.c0, spent,
        r.name + ": " + what);
    }
    function moreRow(v) {
      var f = fanoutOf.get(v.more);
      var text = "\\u2026 " + v.hidden + " more branches";
      if (f) text += " (median " + secs(f.median) + ", waited in line " + secs(f.queue_wait) +
        " in all)";
      var node = el("div", "row more");
      node.setAttribute("data-more", v.hidden);
      var label = el("div", "label", text + " \\u2014 click to show");
      label.style.paddingLeft = (16 + (rows[v.more].depth + 1) * 12) + "px";
      node.appendChild(label);
      var lane = el("div", "lane");
      var m = rows[v.more];
      if (mode === "cost") place(lane, "bar", m.c0 || 0, m.c || 0, text);
      else place(lane, "bar", m.start, m.duration, text);
      node.appendChild(lane);
      node.addEventListener("click", function () { toggle(v.more); });
      return node;
    }
    var drawn = new Map();
    function redraw() {
      drawn.forEach(function (node) { inner.removeChild(node); });
      drawn.clear();
      inner.style.height = (visible.length * ROW) + "px";
      box.setAttribute("data-visible", visible.length);
      box.setAttribute("data-view", mode);
      box.setAttribute("data-folded", visible.filter(function (v) {
        return typeof v === "object";
      }).length);
      draw();
    }
    function draw() {
      var first = Math.max(0, Math.floor(box.scrollTop / ROW) - 20);
      var last = Math.min(visible.length, first + Math.ceil(box.clientHeight / ROW) + 40);
      drawn.forEach(function (node, k) {
        if (k < first || k >= last) { inner.removeChild(node); drawn.delete(k); }
      });
      for (var k = first; k < last; k++) {
        if (drawn.has(k)) continue;
        var v = visible[k];
        var node = typeof v === "object" ? moreRow(v) : spanRow(v, v);
        node.style.top = (k * ROW) + "px";
        drawn.set(k, node);
        inner.appendChild(node);
      }
    }
    box.addEventListener("scroll", draw);
    window.addEventListener("resize", draw);  // the panel follows the window's height
    section.appendChild(box);
    section.appendChild(el("h3", null, "Details (click a row; hover for times)"));
    section.appendChild(details);

    section.appendChild(el("h2", null, "Critical path"));
    var path = el("ol", "critical-path");
    t.critical_path.forEach(function (s) {
      if (s.duration <= 0) return;
      var li = el("li", null, s.name + " \\u2014 " + secs(s.duration) + " (" +
        secs(s.start) + " to " + secs(s.end) + ")");
      li.setAttribute("data-span-id", s.span_id || "");
      path.appendChild(li);
    });
    section.appendChild(path);

    section.appendChild(el("h2", null, "Waiting in line"));
    var waiting = el("ul", "waiting");
    var caps = el("li", "behind-caps", said.behind_caps);
    if (said.queue_waits.length) caps.appendChild(list("said queue-waits", said.queue_waits));
    if (said.limits.length) caps.appendChild(list("said limits", said.limits));
    waiting.appendChild(caps);
    if (!t.opportunities.length) waiting.appendChild(el("li", null,
      "behind independent calls: " + (said.untraced.length ?
        "none visible (see 'Not traced' above)" : "nothing found")));
    t.opportunities.forEach(function (o, oi) {
      var item = el("li", "opportunity", said.opportunities[oi] + " \\u2014 saves " +
        secs(o.saving) + " (" + secs(o.observed) + " \\u2192 " + secs(o.whatif) + ")");
      if (said.evidence[oi].length) item.appendChild(list("said evidence", said.evidence[oi]));
      waiting.appendChild(item);
    });
    if (said.unknown) {
      var blind = el("li", "unknown-pairs", said.unknown);
      if (said.blind_pairs.length) blind.appendChild(list("said blind-pairs", said.blind_pairs));
      waiting.appendChild(blind);
    }
    if (said.candidates.length) {  // only one witness could look: listed apart
      var apart = el("li", "candidates", said.candidates_heading);
      var each = el("ul", "said candidates");
      said.candidates.forEach(function (c, ci) {
        var item = el("li", "candidate", c[0] + " \\u2014 saves " + secs(t.candidates[ci].saving));
        if (c[1].length) item.appendChild(list("said evidence", c[1]));
        each.appendChild(item);
      });
      apart.appendChild(each);
      waiting.appendChild(apart);
    }
    section.appendChild(waiting);
    var retried = Object.keys(said.retries).map(function (sid) { return said.retries[sid]; });
    if (retried.length) {
      section.appendChild(el("h2", null, "Retries"));
      section.appendChild(list("said retries", retried));
    }

    if (t.fanouts.length) {
      section.appendChild(el("h2", null, "Fan-outs"));
      section.appendChild(list("said fanouts", t.fanouts.filter(function (f) {
        return said.fanouts[f.span_id];
      }).map(function (f) { return said.fanouts[f.span_id]; })));
      var table = el("table", "fanouts");
      var head = el("tr");
      ["fan-out", "branches", "slowest", "median", "straggler", "queue wait", "parallelism",
       "on the path", "cost"].forEach(function (h) { head.appendChild(el("th", null, h)); });
      table.appendChild(head);
      t.fanouts.forEach(function (f) {
        var tr = el("tr");
        [f.name, f.branches, f.slowest_name + " " + secs(f.slowest), secs(f.median),
         f.straggler_ratio.toFixed(1) + "x", secs(f.queue_wait), f.parallelism.toFixed(1),
         f.on_critical_path ? "yes" : "no", said.cost_of[f.span_id] || ""]
          .forEach(function (v, i) { tr.appendChild(el("td", i === 1 ? "num" : null, v)); });
        table.appendChild(tr);
      });
      section.appendChild(table);
    }
    if (said.cost) {  // the cost view: what was spent, where, and what bought nothing
      section.appendChild(el("h2", null, "Cost"));
      var spentOn = el("ul", "cost");
      spentOn.appendChild(el("li", null, said.cost));
      Object.keys(said.fanout_costs).forEach(function (sid) {
        spentOn.appendChild(el("li", null, said.fanout_costs[sid]));
      });
      section.appendChild(spentOn);
      var byCost = el("table", "by-cost");
      var costHead = el("tr");
      ["operation", "cost", "share"].forEach(function (h) {
        costHead.appendChild(el("th", null, h));
      });
      byCost.appendChild(costHead);
      said.by_cost.forEach(function (row) {
        var tr = el("tr");
        tr.appendChild(el("td", null, row[0]));
        tr.appendChild(el("td", "num", row[1]));
        var cell = el("td");
        var bar = el("span", "costbar");
        bar.style.width = Math.round(200 * row[2]) + "px";
        cell.appendChild(bar);
        cell.appendChild(document.createTextNode(" " + pct(row[2])));
        tr.appendChild(cell);
        byCost.appendChild(tr);
      });
      section.appendChild(byCost);
    }
    if (said.budgets.length) {
      section.appendChild(el("h2", null, "Budgets"));
      section.appendChild(list("said budgets", said.budgets));
    }
    app.appendChild(section);
    layout();
    redraw();
  }

  if (data.note) app.appendChild(el("p", "note selection", data.note));
  if (data.loose) app.appendChild(el("p", "note loose", "Note: " + data.loose));
  if (!data.report.traces.length) app.appendChild(el("p", null, "No trace to show."));
  data.report.warnings.forEach(function (w) { app.appendChild(el("p", "warnings", w)); });
  data.report.traces.forEach(trace);
  document.body.setAttribute("data-ready", "1");
})();
</script>
</body></html>
"""


def _csp_hash(element: str) -> str:
    """The CSP source that allows the page's one inline ``<script>`` or ``<style>``."""
    found = re.search(f"<{element}>(.*?)</{element}>", _PAGE, re.DOTALL)
    assert found is not None
    digest = hashlib.sha256(found.group(1).encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


# The page is a static file: no server to hand out a fresh nonce, so its one script and one
# style are allowed by their hashes, and nothing else runs or applies, whatever a span name
# holds (the data element is JSON, which a browser never runs).
_PAGE = _PAGE.replace("__SCRIPT_HASH__", _csp_hash("script")).replace(
    "__STYLE_HASH__", _csp_hash("style")
)
