"""The terminal report: what a person reads in ten seconds.

Every number comes from :meth:`Report.to_dict` (``docs/analysis.md``). Text from a trace goes
through :func:`fanscope.analysis.report.untrusted.terminal` wherever it is printed.
"""

from __future__ import annotations

from collections.abc import Callable

from fanscope.analysis.report.untrusted import MAX_LINE_CHARS, terminal, terminal_output
from fanscope.analysis.schema import Opportunity, ReportDoc, TraceDoc

MAX_PATH_ROWS = 12
NAME = 48


def seconds(value: float) -> str:
    """A duration for people: ``850 ms``, ``2.41 s``, ``3 min 12 s``."""
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.0095 else f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{int(value // 60)} min {value % 60:.0f} s"


def share(value: float) -> str:
    return f"{value * 100:.0f}%"


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


def names(items: list[str], limit: int = 6, escape: Callable[[str], str] = terminal) -> str:
    """``a, b, c``; a longer list counted by name and cut: ``step x2000, fetch x3, 4 more``.

    Each name passes through ``escape`` (trace text: the terminal's by default).
    """
    if len(items) <= limit:
        return ", ".join(escape(item) for item in items)
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    parts = [f"{escape(name)} x{n}" if n > 1 else escape(name) for name, n in counts.items()]
    if len(parts) > limit:
        parts = [*parts[: limit - 1], f"{len(parts) - limit + 1} more"]
    return ", ".join(parts)


def opportunity_sentence(o: Opportunity, escape: Callable[[str], str] = terminal) -> str:
    """The sentence of one opportunity, its names through ``escape``."""
    groups = "; ".join(names([s["name"] for s in g], escape=escape) for g in o["run_together"][:3])
    if len(o["run_together"]) > 3:
        groups += f"; and {len(o['run_together']) - 3} more groups"
    after = sorted({k["step"]["name"] for k in o["keep_after"]})
    text = f"under {escape(o['parent'])}: run {groups} together"
    if after:
        text += f"; keep {names(after, escape=escape)} after them"
    return text


def render_trace(t: TraceDoc) -> list[str]:
    lines = [
        f"trace {t['trace_id']}  {terminal(t['service'] or '?')}  {terminal(t['root'])}  "
        f"total {seconds(t['duration'])}  ({t['spans']:,} spans)"
    ]
    lines.append("  critical path (own time on the path)")
    rows = path_rows(t)
    for name, duration in rows:
        part = duration / t["duration"] if t["duration"] else 0.0
        cell = terminal(name, NAME)
        lines.append(f"    {cell:<{NAME}} {seconds(duration):>10}  {share(part):>4}")
    if not rows:
        lines.append("    (none: every span of this trace has zero duration)")
    slow = [f for f in t["fanouts"] if f["branches"] >= 2]
    if slow:
        lines.append("  slowest branches")
        for f in sorted(slow, key=lambda f: -f["slowest"])[:3]:
            lines.append(
                f"    {terminal(f['name'])}: {terminal(f['slowest_name'])} {seconds(f['slowest'])} "
                f"= {share(f['slowest_share'])} of the fan-out, "
                f"{f['straggler_ratio']:.1f}x the median; parallelism {f['parallelism']:.1f}"
            )
    lines.append("  waiting in line")
    if t["queue_wait_total"] > 0:
        lines.append(
            f"    behind caps: {seconds(t['queue_wait_total'])} in all, "
            f"{seconds(t['queue_wait_on_path'])} on the critical path "
            f"({share(t['queue_wait_share'])})"
        )
    else:
        lines.append("    behind caps: none")
    if t["opportunities"]:
        lines.append(
            f"    behind independent calls: {seconds(t['saving'])} could be saved "
            f"({share(t['parallelizable_share'])})"
        )
        for o in t["opportunities"][:3]:
            lines.append(f"      {opportunity_sentence(o)} (saves {seconds(o['saving'])})")
    else:
        lines.append("    behind independent calls: nothing found")
    speedup = t["duration"] / t["whatif"] if t["whatif"] > 0 else 1.0
    lines.append(
        f"  what-if: {seconds(t['whatif'])} instead of {seconds(t['duration'])} ({speedup:.2f}x)"
    )
    if t["unknown_pairs"]:
        lines.append(
            f"  note: {t['unknown_pairs']:,} step pair(s) had no fingerprints; treated as dependent"
        )
    return lines


def render(report: ReportDoc) -> str:
    traces = report["traces"]
    spans = sum(t["spans"] for t in traces)
    head = f"fanscope: {len(traces):,} trace(s), {spans:,} spans"
    if report.get("sources"):
        head += f" from {', '.join(terminal(s) for s in report['sources'])}"
    lines = [head, ""]
    for t in traces[:20]:
        lines.extend(render_trace(t))
        lines.append("")
    if len(traces) > 20:
        lines.append(f"... and {len(traces) - 20} more traces (use --trace-id or --format json)")
    if len(traces) > 1:
        lines.append("per operation, time on the critical path over traces (p50 / p95)")
        for name, s in list(report["operations"].items())[:10]:
            lines.append(
                f"    {terminal(name, NAME):<{NAME}} {seconds(s['p50']):>10} "
                f"{seconds(s['p95']):>10}"
            )
        lines.append("")
    for warning in report["warnings"] + [w for t in traces for w in t["warnings"]]:
        lines.append(f"warning: {terminal(warning, MAX_LINE_CHARS)}")
    return terminal_output("\n".join(lines).rstrip() + "\n")
