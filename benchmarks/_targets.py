"""How a benchmark states a target next to its measurement, for ``run_all.py`` to collect.

A benchmark calls :func:`target` once per target it measures; that prints one line::

    target: fan-out overhead, traced, 2,000 branches | 0.98x | <= 1.00x | holds | CPU, median ...

``run_all.py`` (``make bench``) gathers these lines from every benchmark into one table that
says which targets hold and which do not. To add a benchmark's targets: call :func:`target`
in the script, and name the targets (and the quick run's arguments) in ``run_all.py``'s
``BENCHMARKS``, so that a target that stops being printed shows up as not measured.
"""

from __future__ import annotations

PREFIX = "target: "
HOLDS, FAILS = "holds", "DOES NOT HOLD"


def target(
    name: str,
    measured: float,
    bound: float,
    *,
    at_least: bool = False,
    unit: str = "x",
    digits: int = 2,
    note: str = "",
) -> bool:
    """Print one target line and return whether the target holds.

    ``measured`` must be at most ``bound`` (or at least, with ``at_least``); ``unit`` follows
    both numbers ("x", " ms", "%", " MB"...); ``note`` says how it was measured (median of
    what, the spread), in a few words.
    """
    holds = measured >= bound if at_least else measured <= bound
    print(
        f"{PREFIX}{name} | {measured:.{digits}f}{unit} | {'>=' if at_least else '<='} "
        f"{bound:.{digits}f}{unit} | {HOLDS if holds else FAILS} | {note}",
        flush=True,
    )
    return holds


def check(name: str, holds: bool, measured: str, bound: str, note: str = "") -> bool:
    """A target that is not one number against a bound (every span kept, the same winner)."""
    print(
        f"{PREFIX}{name} | {measured} | {bound} | {HOLDS if holds else FAILS} | {note}", flush=True
    )
    return holds
