"""The HTML report: one self-contained file with a waterfall of each trace.

No network and no CDN: the styles, the script and the data are inline. The data is the
analyzer's report (``to_dict()``, so every number matches the other formats) plus the spans'
names, times and attributes, embedded as JSON inside ``<script type="application/json">``
with ``<`` written as ``\\u003c`` so that no span name can close the element. The page builds
itself with ``textContent`` only: span names and attributes are untrusted text and are never
parsed as HTML (a span named ``<script>`` shows as that text).

The waterfall draws only the rows in view (fixed row height, rows made on scroll), so a trace
of 10,000 spans stays responsive. Critical-path rows are highlighted, each fan-out's slowest
branch is marked, a branch's wait in line is drawn as a hatched bar before it, and the
sequential calls that could run together are listed with the saving. Click a row for its
attributes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fanscope.analysis.model import Span
from fanscope.analysis.tree import build_traces
from fanscope.sdk import attributes as A

MAX_ATTRIBUTE_CHARS = 300


def _rows(spans: Iterable[Span], trace_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Per trace, its spans in tree order (depth-first, children by start time)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for trace in build_traces(spans):
        if trace.trace_id not in trace_ids:
            continue
        start = trace.start
        rows: list[dict[str, Any]] = []
        stack = [(root, 0) for root in sorted(trace.roots, key=lambda r: -trace.spans[r].start)]
        while stack:
            sid, depth = stack.pop()
            span = trace.spans[sid]
            attrs = {
                k: (v if isinstance(v, int | float | bool) else str(v)[:MAX_ATTRIBUTE_CHARS])
                for k, v in span.attributes.items()
            }
            rows.append(
                {
                    "id": sid,
                    "name": span.name,
                    "depth": depth,
                    "start": (span.start - start) / 1e9,
                    "duration": span.duration / 1e9,
                    "role": str(span.attributes.get(A.ROLE, "")),
                    "wait": float(span.attributes.get(A.QUEUE_WAIT, 0.0) or 0.0),
                    "error": span.status == "error",
                    "attributes": attrs,
                }
            )
            kids = sorted(trace.children.get(sid, ()), key=lambda k: -trace.spans[k].start)
            stack.extend((k, depth + 1) for k in kids)
        out[trace.trace_id] = rows
    return out


def render(report: dict[str, Any], spans: Iterable[Span]) -> str:
    """The HTML page for ``report`` (from ``Report.to_dict()``) and the spans it analysed."""
    wanted = {t["trace_id"] for t in report["traces"]}
    data = {"report": report, "rows": _rows(spans, wanted)}
    payload = json.dumps(data, separators=(",", ":"), default=str)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _PAGE.replace("__DATA__", payload)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fanscope report</title>
<style>
:root { --row: 20px; --label: 34%; font: 13px/1.4 system-ui, sans-serif; color: #1d2330; }
body { margin: 0; padding: 16px 20px; background: #fafbfc; }
h1 { font-size: 18px; margin: 0 0 8px; } h2 { font-size: 15px; margin: 20px 0 6px; }
.summary { display: flex; gap: 18px; flex-wrap: wrap; margin: 6px 0 10px; }
.summary div { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 6px 10px; }
.summary b { display: block; font-size: 15px; }
.waterfall { position: relative; height: 520px; overflow-y: auto; background: #fff;
  border: 1px solid #dde1e7; border-radius: 6px; }
.row { position: absolute; left: 0; right: 0; height: var(--row); display: flex;
  align-items: center; cursor: pointer; border-bottom: 1px solid #f0f2f5; }
.row:hover { background: #f3f6fb; }
.row.critical .label { font-weight: 600; color: #b42318; }
.label { width: var(--label); overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
  padding-right: 8px; box-sizing: border-box; }
.lane { position: relative; flex: 1; height: 12px; margin-right: 10px; }
.bar { position: absolute; height: 12px; border-radius: 2px; background: #7a93c8; min-width: 1px; }
.bar.fanout { background: #9aa7bd; } .bar.fanin { background: #c4a35a; }
.bar.step { background: #5b8f6b; } .bar.error { background: #d9534f; }
.row.critical .bar { background: #e0523f; }
.wait { position: absolute; height: 12px; background: repeating-linear-gradient(45deg,
  #f2c94c, #f2c94c 3px, #fff4cf 3px, #fff4cf 6px); border-radius: 2px; }
.bar.queue { background: repeating-linear-gradient(45deg, #f2c94c, #f2c94c 3px, #fff4cf 3px,
  #fff4cf 6px); }
.tag { font-size: 11px; margin-left: 6px; padding: 0 4px; border-radius: 3px; background: #fde2e1;
  color: #b42318; }
.tag.slow { background: #ffe8c2; color: #8a4b00; }
#details { white-space: pre-wrap; font: 12px ui-monospace, monospace; background: #fff;
  border: 1px solid #dde1e7; border-radius: 6px; padding: 8px; min-height: 40px; }
table { border-collapse: collapse; background: #fff; } td, th { border: 1px solid #dde1e7;
  padding: 3px 8px; text-align: left; } td.num { text-align: right; }
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
    return v.toFixed(2) + " s";
  }
  function pct(v) { return Math.round(v * 100) + "%"; }
  data.report.traces.forEach(function (t, ti) {
    var section = el("section");
    section.setAttribute("data-trace-id", t.trace_id);
    section.appendChild(el("h2", null, t.root + " \\u2014 " + (t.service || "?") +
      " \\u2014 trace " + t.trace_id));
    var summary = el("div", "summary");
    [["total", secs(t.duration)], ["what-if", secs(t.whatif)],
     ["parallelizable", pct(t.parallelizable_share)],
     ["waiting behind caps (path)", secs(t.queue_wait_on_path)],
     ["worst straggler", t.straggler_ratio.toFixed(1) + "x"], ["spans", t.spans]
    ].forEach(function (kv) {
      var box = el("div", null, kv[0]); box.appendChild(el("b", null, kv[1]));
      summary.appendChild(box);
    });
    section.appendChild(summary);
    var legend = el("div", "legend");
    [["#e0523f", "critical path"], ["#7a93c8", "branch"], ["#9aa7bd", "fan-out"],
     ["#5b8f6b", "step"], ["#c4a35a", "fan-in"], ["#f2c94c", "waiting in line"]
    ].forEach(function (kv) {
      var item = el("span"); var sw = el("span", "swatch"); sw.style.background = kv[0];
      item.appendChild(sw); item.appendChild(document.createTextNode(kv[1]));
      legend.appendChild(item);
    });
    section.appendChild(legend);

    var critical = {};
    t.critical_path.forEach(function (s) { if (s.span_id) critical[s.span_id] = true; });
    var slowest = {};
    t.fanouts.forEach(function (f) { if (f.branches > 1) slowest[f.slowest_span_id] = f; });
    var rows = data.rows[t.trace_id] || [];
    var total = Math.max(t.duration, 1e-9);
    var box = el("div", "waterfall");
    box.setAttribute("data-rows", rows.length);
    var inner = el("div"); inner.style.position = "relative";
    inner.style.height = (rows.length * 20) + "px";
    box.appendChild(inner);
    var details = el("div"); details.id = "details-" + ti; details.className = "details";
    function row(i) {
      var r = rows[i];
      var node = el("div", "row" + (critical[r.id] ? " critical" : ""));
      node.style.top = (i * 20) + "px";
      node.setAttribute("data-span-id", r.id);
      var label = el("div", "label");
      label.style.paddingLeft = (4 + r.depth * 12) + "px";
      label.appendChild(el("span", null, r.name));
      if (slowest[r.id]) label.appendChild(el("span", "tag slow", "slowest"));
      if (r.error) label.appendChild(el("span", "tag", "error"));
      label.title = r.name + " \\u2014 " + secs(r.duration);
      node.appendChild(label);
      var lane = el("div", "lane");
      if (r.wait > 0) {
        var wait = el("div", "wait");
        wait.style.left = (100 * Math.max(0, r.start - r.wait) / total) + "%";
        wait.style.width = (100 * Math.min(r.wait, r.start) / total) + "%";
        wait.title = "waiting in line " + secs(r.wait);
        lane.appendChild(wait);
      }
      var bar = el("div", "bar " + r.role + (r.error ? " error" : ""));
      bar.style.left = (100 * r.start / total) + "%";
      bar.style.width = (100 * r.duration / total) + "%";
      bar.title = r.name + ": " + secs(r.duration) + " at " + secs(r.start);
      lane.appendChild(bar);
      node.appendChild(lane);
      node.addEventListener("click", function () {
        var lines = [r.name, "start " + secs(r.start) + ", duration " + secs(r.duration)];
        if (r.wait > 0) lines.push("waited in line " + secs(r.wait));
        Object.keys(r.attributes).sort().forEach(function (k) {
          lines.push(k + " = " + JSON.stringify(r.attributes[k]));
        });
        details.textContent = lines.join("\\n");
      });
      return node;
    }
    var drawn = {};
    function draw() {
      var first = Math.max(0, Math.floor(box.scrollTop / 20) - 20);
      var last = Math.min(rows.length, first + Math.ceil(box.clientHeight / 20) + 40);
      Object.keys(drawn).forEach(function (k) {
        if (k < first || k >= last) { inner.removeChild(drawn[k]); delete drawn[k]; }
      });
      for (var i = first; i < last; i++) {
        if (!drawn[i]) { drawn[i] = row(i); inner.appendChild(drawn[i]); }
      }
    }
    box.addEventListener("scroll", draw);
    section.appendChild(box);
    section.appendChild(el("h2", null, "Details (click a row)"));
    details.textContent = "";
    section.appendChild(details);

    section.appendChild(el("h2", null, "Critical path"));
    var path = el("ol", "critical-path");
    t.critical_path.forEach(function (s) {
      if (s.duration <= 0) return;
      var li = el("li", null, s.name + " \\u2014 " + secs(s.duration));
      li.setAttribute("data-span-id", s.span_id);
      path.appendChild(li);
    });
    section.appendChild(path);

    section.appendChild(el("h2", null, "Waiting in line"));
    var waiting = el("ul", "waiting");
    waiting.appendChild(el("li", null, "behind caps: " + secs(t.queue_wait_total) +
      " in all, " + secs(t.queue_wait_on_path) + " on the critical path"));
    if (!t.opportunities.length) waiting.appendChild(el("li", null,
      "behind independent calls: nothing found"));
    t.opportunities.forEach(function (o) {
      var groups = o.run_together.map(function (g) {
        return g.map(function (s) { return s.name; }).join(", ");
      }).join("; ");
      var after = o.keep_after.map(function (k) { return k.step.name; }).join(", ");
      var li = el("li", "opportunity", "under " + o.parent + ": run " + groups + " together" +
        (after ? "; keep " + after + " after them" : "") + " \\u2014 saves " + secs(o.saving));
      waiting.appendChild(li);
    });
    section.appendChild(waiting);

    if (t.fanouts.length) {
      section.appendChild(el("h2", null, "Fan-outs"));
      var table = el("table");
      var head = el("tr");
      ["fan-out", "branches", "slowest", "straggler", "queue wait", "parallelism"]
        .forEach(function (h) { head.appendChild(el("th", null, h)); });
      table.appendChild(head);
      t.fanouts.forEach(function (f) {
        var tr = el("tr");
        [f.name, f.branches, f.slowest_name + " " + secs(f.slowest),
         f.straggler_ratio.toFixed(1) + "x", secs(f.queue_wait), f.parallelism.toFixed(1)]
          .forEach(function (v, i) { tr.appendChild(el("td", i === 1 ? "num" : null, v)); });
        table.appendChild(tr);
      });
      section.appendChild(table);
    }
    app.appendChild(section);
    draw();
  });
  document.body.setAttribute("data-ready", "1");
})();
</script>
</body></html>
"""
