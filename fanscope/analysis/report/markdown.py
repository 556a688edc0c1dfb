"""The Markdown report, sized for a GitHub step summary.

Numbers come from ``to_dict()``; sentences are the terminal report's (``words``). Text from a
trace goes through :func:`fanscope.analysis.report.untrusted.markdown` wherever it is printed
(``words`` takes it as its ``escape``): it renders as itself, never as a link, an image, HTML
or a table cell break; the whole report then goes through ``markdown_output``.
"""

from __future__ import annotations

from fanscope.analysis.report import budgets, costs, evidence, limits, opportunities, words
from fanscope.analysis.report.text import cap_sentence, path_rows, seconds, share
from fanscope.analysis.report.untrusted import MAX_LINE_CHARS, markdown, markdown_output
from fanscope.analysis.schema import Opportunity, ReportDoc, TraceDoc

_cell = markdown  # trace text in a table cell or a sentence
DOLLAR = "\\$"  # GitHub reads text between two dollar signs as math


def _evidence(o: Opportunity, indent: str) -> list[str]:
    """What the witnesses said of ``o``, a sentence per finding (``evidence.shown``)."""
    return evidence.shown(o["evidence"], markdown, f"{indent}- ")


def _trace(t: TraceDoc) -> list[str]:
    speedup = t["duration"] / t["whatif"] if t["whatif"] > 0 else 1.0
    out = [
        f"**{_cell(t['root'])}** ({_cell(t['service'] or '?')}, trace `{t['trace_id'][:16]}`): "
        f"total **{seconds(t['duration'])}**, what-if **{seconds(t['whatif'])}** "
        f"({speedup:.2f}x), parallelizable {share(t['parallelizable_share'])}, "
        f"waiting behind caps on the path {share(t['queue_wait_share'])}",
        "",
        "| critical path | own time | share |",
        "|---|---:|---:|",
    ]
    for name, duration in path_rows(t):
        part = duration / t["duration"] if t["duration"] else 0.0
        out.append(f"| {_cell(name)} | {seconds(duration)} | {share(part)} |")
    out.append("")
    if t["cost"] is not None:
        out.extend([f"Cost: {costs.trace_cost(t['cost'], DOLLAR, markdown)}", ""])
    if t["budgets"]:
        out.append("Budgets:")
        out.extend(f"- {budgets.budget(b, markdown, DOLLAR)}" for b in t["budgets"][:10])
        if len(t["budgets"]) > 10:
            out.append(f"- ... and {len(t['budgets']) - 10:,} more")
        out.append("")
    if t["whatif_cap"] is not None:
        out.extend([f"- {markdown(cap_sentence(t), MAX_LINE_CHARS)}", ""])
    fanouts = [f for f in t["fanouts"] if f["branches"] >= 1]
    if fanouts:
        out.append("Fan-outs:")
        for f in fanouts[:10]:
            out.append(f"- {words.fanout(f, escape=markdown)}")
            if f["cost"] is not None:
                out.append(f"  - {costs.fanout_cost(f, markdown, DOLLAR)}")
        if len(fanouts) > 10:
            out.append(f"- ... and {len(fanouts) - 10:,} more")
        out.append("")
    waiting = []
    if t["queue_wait_total"] > 0:
        total, on_path = t["queue_wait_total"], t["queue_wait_on_path"]
        waiting.append(f"- {words.behind_caps(total, on_path, t['queue_wait_share'])}")
        waiting.extend(f"  - {words.queue_wait(w, escape=markdown)}" for w in t["queue_waits"][:5])
    for o in t["opportunities"][:5]:
        waiting.append(
            f"- {opportunities.opportunity(o, escape=markdown)}: saves **{seconds(o['saving'])}**"
        )
        waiting.extend(_evidence(o, "  "))
    if t["candidates"]:
        waiting.append(f"- {opportunities.candidates(t)}")
        for o in t["candidates"][:5]:
            text = opportunities.opportunity(o, escape=markdown)
            waiting.append(f"  - {text}: saves {seconds(o['saving'])}")
            waiting.extend(_evidence(o, "    "))
    if waiting:
        out.extend(["Waiting in line:", *waiting, ""])
    if t["limits"]:
        out.append("Adaptive limits:")
        out.extend(f"- {limits.limit(x, markdown)}" for x in t["limits"][:10])
        if len(t["limits"]) > 10:
            out.append(f"- ... and {len(t['limits']) - 10:,} more")
        out.append("")
    if t["retries"]:
        out.append("Retries:")
        ordered = sorted(t["retries"], key=lambda r: (not r["on_critical_path"], -r["duration"]))
        out.extend(f"- {words.retried(r, escape=markdown)}" for r in ordered[:5])
        out.append("")
    for u in t["untraced"]:
        out.extend([f"> **Not traced**: {words.untraced(u, escape=markdown)}", ""])
    if t["unknown_pairs"]:
        out.append(f"> note: {words.unknown_pairs(t['unknown_pairs'])}")
        out.extend(f">  - {words.blind_pair(b, escape=markdown)}" for b in t["blind_pairs"][:3])
        out.append("")
    return out


def render(report: ReportDoc, gate_lines: list[str] | None = None, note: str | None = None) -> str:
    out = ["## fanscope: where the time went", ""]
    if note:
        out.extend([markdown(note, MAX_LINE_CHARS), ""])
    loose = [t["root"] for t in report["traces"] if t["root_role"] != "step"]
    if len(loose) >= 2:
        out.extend([f"> note: {words.outside_steps(loose, escape=markdown)}", ""])
    for t in report["traces"][:10]:
        out.extend(_trace(t))
    if len(report["traces"]) > 10:
        out.extend([f"... and {len(report['traces']) - 10:,} more traces", ""])
    traces = len(report["traces"])
    if traces > 1:
        out.append(words.operations_heading(traces) + ":")
        out.append("")
        out.append("| operation | p50 on path | p95 on path | traces |")
        out.append("|---|---:|---:|---:|")
        for name, s in list(report["operations"].items())[:15]:
            out.append(
                f"| {_cell(name)} | {seconds(s['p50'])} | {seconds(s['p95'])} | "
                f"{words.operation_where(s, traces)} |"
            )
        out.append("")
        if report["operation_costs"]:
            out.extend([costs.operations_heading(traces) + ":", ""])
            out.append("| operation | p50 cost | p95 cost | traces |")
            out.append("|---|---:|---:|---:|")
            for name, c in list(report["operation_costs"].items())[:15]:
                out.append(
                    f"| {_cell(name)} | {costs.usd(c['p50'], DOLLAR)} | "
                    f"{costs.usd(c['p95'], DOLLAR)} | {costs.operation_where(c, traces)} |"
                )
            out.append("")
        if report["cost"] is not None:
            out.extend([costs.total(report["cost"], traces, DOLLAR, markdown), ""])
    for line in gate_lines or []:
        out.append(f"- {markdown(line, MAX_LINE_CHARS)}")
    warnings = report["warnings"] + [w for t in report["traces"] for w in t["warnings"]]
    for w in warnings[:10]:
        out.append(f"> warning: {markdown(w, MAX_LINE_CHARS)}")
    return markdown_output("\n".join(out).rstrip() + "\n")
