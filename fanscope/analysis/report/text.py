"""The terminal report: what a person reads in ten seconds.

Every number comes from :meth:`Report.to_dict` (``docs/analysis.md``). Text from a trace goes
through :func:`fanscope.analysis.report.untrusted.terminal` wherever it is printed (``words``
takes it as its ``escape``), and the whole report through ``terminal_output``.
"""

from __future__ import annotations

from collections.abc import Collection

from fanscope.analysis.report import budgets, costs, evidence, limits, opportunities, words
from fanscope.analysis.report.untrusted import MAX_LINE_CHARS, terminal, terminal_output
from fanscope.analysis.report.words import names, seconds, share
from fanscope.analysis.schema import Opportunity, ReportDoc, TraceDoc

__all__ = ["names", "opportunity_sentence", "path_rows", "render", "seconds", "share"]

MAX_PATH_ROWS = 12
NAME = 48


def path_rows(trace: TraceDoc, limit: int = MAX_PATH_ROWS) -> list[tuple[str, float]]:
    """The critical path merged by consecutive span, longest first up to ``limit``."""
    merged: list[tuple[str, float]] = []
    for seg in trace["critical_path"]:
        within = seg["within"]
        name = f"{within} > {seg['name']}" if within else seg["name"]
        if merged and merged[-1][0] == name:
            merged[-1] = (name, merged[-1][1] + seg["duration"])
        else:
            merged.append((name, seg["duration"]))
    total = sum(d for _, d in merged)
    longest = sorted(range(len(merged)), key=lambda i: -merged[i][1])[:limit]
    # rows under 0.5% of the total are noise, unless nothing else is left to show
    kept = [i for i in longest if merged[i][1] > 0 and merged[i][1] >= total * 0.005]
    kept = kept or [i for i in longest if merged[i][1] > 0]
    return [merged[i] for i in sorted(kept)]


def opportunity_sentence(o: Opportunity) -> str:
    """What to change under one parent (``opportunities.opportunity``)."""
    return opportunities.opportunity(o, escape=terminal)


def _retry_waits(t: TraceDoc) -> dict[str, float]:
    """Per path-row name, the seconds a retried branch of that name spent waiting to retry."""
    out: dict[str, float] = {}
    for r in t["retries"]:
        waited = r["backoff"] + r["slot_wait"]
        if waited > 0:
            out[r["name"]] = out.get(r["name"], 0.0) + waited
    return out


def _evidence(o: Opportunity, indent: str) -> list[str]:
    """What the witnesses said of ``o``, a sentence per finding (``evidence.shown``)."""
    return evidence.shown(o["evidence"], terminal, indent)


def cap_sentence(t: TraceDoc) -> str:
    """``what-if with cap 16: 1.20 s instead of 2.41 s (steps in the order they ran)``."""
    asked = t["whatif_cap"]
    if asked is None:
        return ""
    caps = ", ".join(
        f"cap {n}" if name == "*" else f"{name} cap {n}" for name, n in asked["caps"].items()
    )
    text = (
        f"what-if with {caps}: {seconds(asked['whatif'])} instead of {seconds(t['duration'])} "
        "(steps in the order they ran)"
    )
    unmatched = sorted(set(asked["caps"]) - set(asked["matched"]))
    if unmatched:
        text += f"; no cap matched {', '.join(unmatched)}"
    return text


def render_trace(t: TraceDoc) -> list[str]:
    lines = [
        f"trace {t['trace_id']}  {terminal(t['service'] or '?')}  {terminal(t['root'])}  "
        f"total {seconds(t['duration'])}  ({t['spans']:,} spans)"
    ]
    lines.append("  critical path (own time on the path)")
    rows = path_rows(t)
    retry_waits = _retry_waits(t)
    for name, duration in rows:
        part = duration / t["duration"] if t["duration"] else 0.0
        row = f"    {terminal(name, NAME):<{NAME}} {seconds(duration):>10}  {share(part):>4}"
        if name in retry_waits:
            row += f"  (of which {seconds(retry_waits[name])} waiting to retry)"
        lines.append(row)
    if not rows:
        lines.append("    (none: every span of this trace has zero duration)")
    if t["cost"] is not None:
        lines.append(f"  cost: {costs.trace_cost(t['cost'])}")
    if t["budgets"]:
        lines.append("  budgets")
        lines.extend(f"    {budgets.budget(b, terminal)}" for b in t["budgets"][:5])
        if len(t["budgets"]) > 5:
            lines.append(f"    ... and {len(t['budgets']) - 5:,} more (--format json has them all)")
    fanouts = [f for f in t["fanouts"] if f["branches"] >= 2]
    if fanouts:
        lines.append("  fan-outs (slowest first)")
        for f in sorted(fanouts, key=lambda f: -f["slowest"])[:3]:
            lines.append(f"    {words.fanout(f, escape=terminal)}")
            if f["cost"] is not None:
                lines.append(f"      {costs.fanout_cost(f, terminal)}")
        if len(fanouts) > 3:
            lines.append(f"    ... and {len(fanouts) - 3:,} more (--format json has them all)")
    lines.append("  waiting in line")
    if t["queue_wait_total"] > 0:
        total, on_path = t["queue_wait_total"], t["queue_wait_on_path"]
        lines.append(f"    {words.behind_caps(total, on_path, t['queue_wait_share'])}")
        for w in t["queue_waits"][:3]:
            lines.append(f"      {words.queue_wait(w, escape=terminal)}")
        if len(t["queue_waits"]) > 3:
            lines.append(f"      ... and {len(t['queue_waits']) - 3:,} more")
    else:
        lines.append("    behind caps: none")
    lines.extend(f"    {limits.limit(x, terminal)}" for x in t["limits"][:5])
    if len(t["limits"]) > 5:
        lines.append(f"    ... and {len(t['limits']) - 5:,} more adaptive limits")
    if t["opportunities"]:
        lines.append(
            f"    behind independent calls: {seconds(t['saving'])} could be saved "
            f"({share(t['parallelizable_share'])})"
        )
        for o in t["opportunities"][:3]:
            sentence = opportunities.opportunity(o, escape=terminal)
            lines.append(f"      {sentence} (saves {seconds(o['saving'])})")
            lines.extend(_evidence(o, "        "))
    elif t["untraced"]:
        lines.append("    behind independent calls: none visible (see 'not traced' below)")
    else:
        lines.append("    behind independent calls: nothing found")
    if t["candidates"]:
        lines.append(f"    {opportunities.candidates(t)}")
        for o in t["candidates"][:3]:
            lines.append(
                f"      {opportunities.opportunity(o, terminal)} (saves {seconds(o['saving'])})"
            )
            lines.extend(_evidence(o, "        "))
    if t["retries"]:
        lines.append("  retries")
        ordered = sorted(t["retries"], key=lambda r: (not r["on_critical_path"], -r["duration"]))
        for r in ordered[:5]:
            lines.append(f"    {words.retried(r, escape=terminal)}")
        if len(ordered) > 5:
            lines.append(f"    ... and {len(ordered) - 5:,} more retried branches")
    speedup = t["duration"] / t["whatif"] if t["whatif"] > 0 else 1.0
    lines.append(
        f"  what-if: {seconds(t['whatif'])} instead of {seconds(t['duration'])} ({speedup:.2f}x)"
    )
    if t["whatif_rate_wait"] > 0:
        lines.append(
            f"    of which {seconds(t['whatif_rate_wait'])} waiting for rate limits "
            "(the limits recorded on the spans)"
        )
    if t["whatif_cap"] is not None:
        lines.append(f"  {cap_sentence(t)}")
    for u in t["untraced"]:
        lines.append(f"  not traced: {words.untraced(u, escape=terminal)}")
    if t["unknown_pairs"]:
        lines.append(f"  note: {words.unknown_pairs(t['unknown_pairs'])}")
        for b in t["blind_pairs"][:3]:
            lines.append(f"    {words.blind_pair(b, escape=terminal)}")
        if len(t["blind_pairs"]) > 3:
            lines.append(f"    ... and more (--format json lists up to {len(t['blind_pairs'])})")
    return lines


def render(report: ReportDoc, shown: Collection[str] | None = None, note: str | None = None) -> str:
    """The terminal report.

    Args:
        report: the JSON document.
        shown: the trace ids to print (all when ``None``); the others still count in the
            per-operation figures.
        note: a line after the header (which traces were left out, and how to see them).
    """
    traces = report["traces"]
    spans = sum(t["spans"] for t in traces)
    head = f"fanscope: {len(traces):,} trace(s), {spans:,} spans"
    if report.get("sources"):
        head += f" from {', '.join(terminal(s) for s in report['sources'])}"
    lines = [head]
    if note:
        lines.append(terminal(note, MAX_LINE_CHARS))
    loose = [t["root"] for t in traces if t["root_role"] != "step"]
    if len(loose) >= 2:
        lines.append(f"note: {words.outside_steps(loose, escape=terminal)}")
    lines.append("")
    printed = [t for t in traces if shown is None or t["trace_id"] in shown]
    for t in printed[:20]:
        lines.extend(render_trace(t))
        lines.append("")
    if len(printed) > 20:
        lines.append(f"... and {len(printed) - 20} more traces (use --trace-id or --format json)")
    if len(traces) > 1:
        lines.append(words.operations_heading(len(traces)))
        for name, s in list(report["operations"].items())[:10]:
            lines.append(
                f"    {terminal(name, NAME):<{NAME}} {seconds(s['p50']):>10} "
                f"{seconds(s['p95']):>10}  "
                f"{words.operation_where(s, len(traces))}"
            )
        lines.append("")
        if report["operation_costs"]:
            lines.append(costs.operations_heading(len(traces)))
            for name, c in list(report["operation_costs"].items())[:10]:
                lines.append(
                    f"    {terminal(name, NAME):<{NAME}} {costs.usd(c['p50']):>10} "
                    f"{costs.usd(c['p95']):>10}  {costs.operation_where(c, len(traces))}"
                )
            lines.append("")
    if len(traces) > 1 and report["cost"] is not None:
        lines.append(costs.total(report["cost"], len(traces)))
        lines.append("")
    for warning in report["warnings"] + [w for t in printed for w in t["warnings"]]:
        lines.append(f"warning: {terminal(warning, MAX_LINE_CHARS)}")
    return terminal_output("\n".join(lines).rstrip() + "\n")
