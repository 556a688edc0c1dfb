"""The Markdown report, sized for a GitHub step summary. Numbers come from ``to_dict()``.

Text from a trace goes through :func:`fanscope.analysis.report.untrusted.markdown` wherever it
is printed: it renders as itself, never as a link, an image, HTML or a table cell break.
"""

from __future__ import annotations

from fanscope.analysis.report.text import opportunity_sentence, path_rows, seconds, share
from fanscope.analysis.report.untrusted import MAX_LINE_CHARS, markdown, markdown_output
from fanscope.analysis.schema import ReportDoc

_cell = markdown


def render(report: ReportDoc, gate_lines: list[str] | None = None) -> str:
    out = ["## fanscope: where the time went", ""]
    for t in report["traces"][:10]:
        speedup = t["duration"] / t["whatif"] if t["whatif"] > 0 else 1.0
        out.append(
            f"**{_cell(t['root'])}** ({_cell(t['service'] or '?')}, trace `{t['trace_id'][:16]}`): "
            f"total **{seconds(t['duration'])}**, what-if **{seconds(t['whatif'])}** "
            f"({speedup:.2f}x), parallelizable {share(t['parallelizable_share'])}, "
            f"waiting behind caps on the path {share(t['queue_wait_share'])}"
        )
        out.append("")
        out.append("| critical path | own time | share |")
        out.append("|---|---:|---:|")
        for name, duration in path_rows(t):
            part = duration / t["duration"] if t["duration"] else 0.0
            out.append(f"| {_cell(name)} | {seconds(duration)} | {share(part)} |")
        out.append("")
        if t["fanouts"]:
            out.append("| fan-out | branches | slowest | straggler | queue wait | parallelism |")
            out.append("|---|---:|---|---:|---:|---:|")
            for f in t["fanouts"][:10]:
                out.append(
                    f"| {_cell(f['name'])} | {f['branches']} | {_cell(f['slowest_name'])} "
                    f"{seconds(f['slowest'])} | {f['straggler_ratio']:.1f}x | "
                    f"{seconds(f['queue_wait'])} | {f['parallelism']:.1f} |"
                )
            out.append("")
        for o in t["opportunities"][:5]:
            sentence = opportunity_sentence(o, markdown)
            out.append(f"- {sentence}: saves **{seconds(o['saving'])}**")
        if t["opportunities"]:
            out.append("")
    if len(report["traces"]) > 1:
        out.append("| operation | p50 on path | p95 on path |")
        out.append("|---|---:|---:|")
        for name, s in list(report["operations"].items())[:15]:
            out.append(f"| {_cell(name)} | {seconds(s['p50'])} | {seconds(s['p95'])} |")
        out.append("")
    for line in gate_lines or []:
        out.append(f"- {markdown(line, MAX_LINE_CHARS)}")
    warnings = report["warnings"] + [w for t in report["traces"] for w in t["warnings"]]
    for w in warnings[:10]:
        out.append(f"> warning: {markdown(w, MAX_LINE_CHARS)}")
    return markdown_output("\n".join(out).rstrip() + "\n")
