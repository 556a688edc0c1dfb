"""The sentences about adaptive limits every report prints, from ``traces[].limits`` only.

As in ``words``: built once, as plain text, with the renderer's ``escape`` for the limiter's
name (the trace's, so untrusted). One sentence per limiter::

    limit 'anthropic': converged to 24 (started at 4, ended at 24; 4-33); 3 decreases
    (2 overload, 1 latency), 9 increases; below 24 for 12.3 s (41% of the trace)

A limiter still growing when the trace ended (no decrease in the trace's second half, only
increases) says so instead of "converged to", with the median it had reached.
"""

from __future__ import annotations

from fanscope.analysis.report.words import Escape, plural, seconds, share
from fanscope.analysis.schema import AdaptiveLimitDoc


def limit(lim: AdaptiveLimitDoc, escape: Escape) -> str:
    """One limiter's sentence (see the module's docstring)."""
    name = escape(lim["name"])
    level = lim["converged"]
    if lim["still_growing"]:  # no limit met yet: the median is only where it had got to
        head = f"limit '{name}': still growing when the trace ended (median {level})"
    else:
        head = f"limit '{name}': converged to {level}"
    spread = f"{lim['min']}-{lim['max']}" if lim["min"] != lim["max"] else f"{lim['min']}"
    head += f" (started at {lim['start']}, ended at {lim['final']}; {spread})"
    causes = ", ".join(f"{n} {why}" for why, n in sorted(lim["causes"].items(), key=_most))
    changes = plural(lim["decreases"], "decrease")
    if causes:
        changes += f" ({causes})"
    changes += f", {plural(lim['increases'], 'increase')}"
    if lim["below_converged"] > 0:
        below = (
            f"below {level} for {seconds(lim['below_converged'])} "
            f"({share(lim['below_share'])} of the trace)"
        )
    else:
        below = f"never below {level}"
    return f"{head}; {changes}; {below}"


def _most(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])
