"""The opportunity sentence: which lines to run together and which to keep after them.

:func:`opportunity` says what to change under one parent, each step named by the line that
made it (:func:`places`: ``agent.py:42, :47``), numbering the steps of one line that the
sentence names in different places (``:24 (1st)``, ``:24 (2nd)``); :func:`candidates` heads
the opportunities only one witness could judge (what the witnesses saw is said by
``evidence.py``). Built, like every sentence, from the fields of
``fanscope.report/v1`` only, and printed alike by the terminal, Markdown and HTML reports.

They are apart from ``words.py`` (the shared vocabulary, durations and counts, and the other
sentences) because naming steps by their lines, without ever writing ``:24 after :24``, is a
piece of work of its own, as the cost, budget and limit sentences are.
"""

from __future__ import annotations

from fanscope.analysis.report.words import Escape, as_is, seconds
from fanscope.analysis.schema import Opportunity, StepRef, TraceDoc


def places(
    refs: list[StepRef],
    limit: int = 6,
    named: frozenset[str] = frozenset(),
    escape: Escape = as_is,
    file: str | None = None,
    suffix: dict[str, str] | None = None,
) -> str:
    """Steps named by the line that made them, so a user knows which lines to change:
    ``agent.py:42, :47, :53``; repeats counted (``agent.py:20 x5``). A step whose span does
    not say where is named by its span name; one from a line in ``named`` (a line that made
    differently named steps) by both: ``agent.py:18 (lookup)``. Fields: ``where``, ``name``.
    ``file``: the file the sentence has already named (its lines are then ``:47``).
    ``suffix``: text to show after a step (by span id), inside the parentheses of its name if
    it has them: ``agent.py:18 (lookup, 2nd)``.
    """
    counts: dict[tuple[str, str], int] = {}
    for r in refs:
        at, extra = r["where"], (suffix or {}).get(r["span_id"], "")
        if not at:
            key = (f"{r['name']} ({extra})" if extra else r["name"], "")
        elif at in named:
            key = (f"{at} ({r['name']}{', ' + extra if extra else ''})", at)
        else:
            key = (f"{at} ({extra})" if extra else at, at)
        counts[key] = counts.get(key, 0) + 1
    parts: list[str] = []
    last_file = file
    for (text, at), n in counts.items():
        shown = text
        if at:
            file = at.rpartition(":")[0]
            if file == last_file:
                shown = text[len(file) :]
            last_file = file
        else:
            last_file = None
        parts.append(f"{escape(shown)} x{n}" if n > 1 else escape(shown))
    if len(parts) > limit:
        parts = [*parts[: limit - 1], f"{len(parts) - limit + 1} more"]
    return ", ".join(parts)


def _shared_lines(o: Opportunity) -> frozenset[str]:
    """The lines that made steps of different names in ``o``."""
    seen: dict[str, set[str]] = {}
    refs = [r for g in o["run_together"] for r in g] + [k["step"] for k in o["keep_after"]]
    for r in refs:
        if r["where"]:
            seen.setdefault(r["where"], set()).add(r["name"])
    return frozenset(w for w, n in seen.items() if len(n) > 1)


def opportunity(o: Opportunity, escape: Escape = as_is) -> str:
    """``run_together``, ``keep_after``, ``parent``: what to change (without the saving), each
    step named by the line that made it (``places``).

    A group whose steps must wait for an earlier step says so (``run :27 x3 together, after
    :26``); the steps to keep in order are the others, named once: ``keep :28 after them``
    when they wait only for the groups, else each with what it waits for (``keep :28 after
    :26 and :30 after them``). A line that made several of the steps a sentence names in
    different places (a loop's calls, some run together and some kept after them) names
    each by its order among them: ``run :21, :24 (1st) together; keep :24 (2nd) after
    them``, never ``:24 after :24``."""
    groups = [g for g in o["run_together"] if g]
    if not groups:  # the saving is inside its steps (a nested fan-out's schedule, say)
        parent = escape(o["parent"])
        return f"under {parent}: its steps could finish sooner; nothing to reorder here"
    named = _shared_lines(o)
    grouped = {r["span_id"] for g in groups for r in g}
    waits = {k["step"]["span_id"]: k["after"] for k in o["keep_after"]}
    refs = [r for g in groups for r in g]
    refs += [r for k in o["keep_after"] for r in (k["step"], *k["after"])]
    files = {r["where"].rpartition(":")[0] for r in refs if r["where"]}
    one = files.pop() if len(files) == 1 and all(r["where"] for r in refs) else None

    shown_groups = []
    for g in groups[:3]:
        members = {r["span_id"] for r in g}
        waited = [a for r in g for a in waits.get(r["span_id"], [])]
        shown_groups.append((g, _unique([a for a in waited if a["span_id"] not in members])))
    kept = [k for k in o["keep_after"] if k["step"]["span_id"] not in grouped]
    buckets: dict[tuple[str, ...], tuple[list[StepRef], list[StepRef]]] = {}
    for k in kept:
        before = _unique(k["after"])
        key = ("",) if all(a["span_id"] in grouped for a in before) else _ids(before)
        buckets.setdefault(key, ([], before))[0].append(k["step"])
    if len(buckets) > 3:  # too many to say one by one: what they all wait for
        before = _unique([a for k in kept for a in k["after"]])
        key = ("",) if all(a["span_id"] in grouped for a in before) else _ids(before)
        buckets = {key: ([k["step"] for k in kept], before)}
    mentions = [m for g, before in shown_groups for m in (g, before)]
    for key, (steps, before) in buckets.items():
        mentions += [steps] if key == ("",) else [steps, before]  # "after them" names none
    ordinal = _ordinals(mentions, named)

    def said(steps: list[StepRef], first: bool = False) -> str:
        # once the sentence has named the one file, its lines are ``:47``
        shown, suffix = _numbered(steps, ordinal, named)
        return places(shown, named=named, escape=escape, file=None if first else one, suffix=suffix)

    shown = []
    for i, (g, before) in enumerate(shown_groups):
        text = said(g, first=i == 0)
        if before:
            text += f" (after {said(before)})"
        shown.append(text)
    text = "; ".join(shown)
    if len(groups) > 3:
        text += f"; and {len(groups) - 3} more groups"
    sentence = f"under {escape(o['parent'])}: run {text} together"
    clauses = [
        f"{said(steps)} after {'them' if key == ('',) else said(before)}"
        for key, (steps, before) in buckets.items()
    ]
    if clauses:
        sentence += "; keep " + " and ".join(clauses)
    return sentence


def _ids(refs: list[StepRef]) -> tuple[str, ...]:
    return tuple(r["span_id"] for r in refs)


def _label(r: StepRef, named: frozenset[str]) -> tuple[str, str]:
    """What ``places`` shows a step as: its line (with its name when the line made steps of
    several names), or its name."""
    if not r["where"]:
        return ("", r["name"])
    return (r["where"], r["name"] if r["where"] in named else "")


def _ordinals(mentions: list[list[StepRef]], named: frozenset[str]) -> dict[str, int]:
    """The steps a sentence would show alike in different places, by order of start among
    the steps shown alike (1 for the first): ``span_id -> n``. A label that names the same
    steps wherever it appears needs no number."""
    seen: dict[tuple[str, str], set[frozenset[str]]] = {}
    steps: dict[tuple[str, str], dict[str, StepRef]] = {}
    for refs in mentions:
        by_label: dict[tuple[str, str], set[str]] = {}
        for r in refs:
            label = _label(r, named)
            by_label.setdefault(label, set()).add(r["span_id"])
            steps.setdefault(label, {})[r["span_id"]] = r
        for label, ids in by_label.items():
            seen.setdefault(label, set()).add(frozenset(ids))
    out: dict[str, int] = {}
    for label, sets in seen.items():
        if len(sets) > 1:
            ordered = sorted(steps[label].values(), key=lambda r: (r["start"], r["span_id"]))
            out.update((r["span_id"], n) for n, r in enumerate(ordered, 1))
    return out


def _numbered(
    refs: list[StepRef], ordinal: dict[str, int], named: frozenset[str]
) -> tuple[list[StepRef], dict[str, str]]:
    """``refs`` with the steps that need a number shown once per label, and the numbers to
    show after each (``places``' ``suffix``): ``agent.py:24 (2nd)``, ``:7 (1st-3rd)``."""
    if not any(r["span_id"] in ordinal for r in refs):
        return refs, {}
    numbers: dict[tuple[str, str], list[int]] = {}
    for r in refs:
        if r["span_id"] in ordinal:
            numbers.setdefault(_label(r, named), []).append(ordinal[r["span_id"]])
    out: list[StepRef] = []
    suffix: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    for r in refs:
        label = _label(r, named)
        if r["span_id"] not in ordinal:
            out.append(r)
        elif label not in done:
            done.add(label)
            out.append(r)
            suffix[r["span_id"]] = _spans_of(numbers[label])
    return out, suffix


def _spans_of(numbers: list[int]) -> str:
    """``1st-3rd and 5th``."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = [_nth(r[0]) if len(r) == 1 else f"{_nth(r[0])}-{_nth(r[-1])}" for r in runs]
    return " and ".join(parts) if len(parts) < 3 else ", ".join(parts)


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _unique(refs: list[StepRef]) -> list[StepRef]:
    """``refs`` without repeats, in order of first appearance."""
    seen: set[str] = set()
    out = []
    for r in refs:
        if r["span_id"] not in seen:
            seen.add(r["span_id"])
            out.append(r)
    return out


def candidates(t: TraceDoc) -> str:
    """``candidate_saving``, ``candidates_counted``: the heading of the candidates."""
    counted = "counted" if t["candidates_counted"] else "not counted"
    return (
        f"candidates (only one witness could look; {counted}): "
        f"{seconds(t['candidate_saving'])} more could be saved"
    )
