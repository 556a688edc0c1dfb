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

  var HEDGE_OUTCOMES = new Set(["won", "lost", "failed", "cancelled"]);
  function shares(cls, what, rows) {  // [text, amount, share of the trace's cost] as a table
    var table = el("table", cls);
    var head = el("tr");
    [what, "cost", "share"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    table.appendChild(head);
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", null, row[0]));
      tr.appendChild(el("td", "num", row[1]));
      var cell = el("td");
      var bar = el("span", "costbar");
      bar.style.width = Math.round(200 * row[2]) + "px";
      cell.appendChild(bar);
      cell.appendChild(document.createTextNode(" " + pct(row[2])));
      tr.appendChild(cell);
      table.appendChild(tr);
    });
    return table;
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
      var sentence = said.opportunities[oi] + " \u2014 saves " + secs(o.saving);
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
    section.appendChild(el("h2", null, t.root + " \u2014 " + (t.service || "?") +
      " \u2014 trace " + t.trace_id));
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
      var lines = [r.label ? r.label + " (" + r.name + ")" : r.name,
        r.role ? "role " + r.role : "not a fanscope span",
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
      details.textContent = lines.join("\n");
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
      var arrow = el("span", "toggle", hasKids ? (folded[i] ? "\u25b8" : "\u25be") : "");
      if (hasKids) arrow.addEventListener("click", function (e) {
        e.stopPropagation(); toggle(i);
      });
      label.appendChild(arrow);
      label.appendChild(el("span", "name", r.label || r.name));  // a call: its line
      if (r.model) label.appendChild(el("span", "model", r.model));
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
      if (r.role === "hedge") {  // its outcome, if it is one the SDK writes
        var outcome = r.attributes["fanscope.hedge.outcome"];
        if (!HEDGE_OUTCOMES.has(outcome)) outcome = "outcome unknown";
        label.appendChild(el("span", outcome === "won" ? "tag hedge" : "tag cancelled",
          "hedge " + outcome));
      }
      if (said.cost_of[r.id]) label.appendChild(el("span", "tag cost", said.cost_of[r.id]));
      (said.budget_of[r.id] || []).forEach(function (text) {
        label.appendChild(el("span", "tag budget", text));
      });
      if (r.refused) label.appendChild(el("span", "tag refused",
        r.refused > 1 ? r.refused + " calls refused by a budget" : "call refused by a budget"));
      label.title = (r.label ? r.label + " \u2014 " : "") + r.name + " \u2014 " +
        secs(r.duration);
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
      var text = "\u2026 " + v.hidden + " more branches";
      if (f) text += " (median " + secs(f.median) + ", waited in line " + secs(f.queue_wait) +
        " in all)";
      var node = el("div", "row more");
      node.setAttribute("data-more", v.hidden);
      var label = el("div", "label", text + " \u2014 click to show");
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
      var row = byId.has(s.span_id) ? rows[byId.get(s.span_id)] : null;
      var name = row && row.label ? row.label + " (" + s.name + ")" : s.name;
      var li = el("li", null, name + " \u2014 " + secs(s.duration) + " (" +
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
      var item = el("li", "opportunity", said.opportunities[oi] + " \u2014 saves " +
        secs(o.saving) + " (" + secs(o.observed) + " \u2192 " + secs(o.whatif) + ")");
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
        var item = el("li", "candidate", c[0] + " \u2014 saves " + secs(t.candidates[ci].saving));
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
      var hedged = Object.keys(said.hedges_of).length > 0;  // a column only when any hedged
      ["fan-out", "branches", "slowest", "median", "straggler", "queue wait", "parallelism",
       "on the path", "cost"].concat(hedged ? ["hedges"] : [])
        .forEach(function (h) { head.appendChild(el("th", null, h)); });
      table.appendChild(head);
      t.fanouts.forEach(function (f) {
        var tr = el("tr");
        [f.name, f.branches, f.slowest_name + " " + secs(f.slowest), secs(f.median),
         f.straggler_ratio.toFixed(1) + "x", secs(f.queue_wait), f.parallelism.toFixed(1),
         f.on_critical_path ? "yes" : "no", said.cost_of[f.span_id] || ""]
          .concat(hedged ? [said.hedges_of[f.span_id] || ""] : [])
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
      section.appendChild(shares("by-cost", "operation", said.by_cost));
      if (said.waste.length) {  // what bought nothing, by class
        section.appendChild(el("h3", null, "Wasted spend"));
        section.appendChild(shares("waste", "wasted on", said.waste));
      }
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
