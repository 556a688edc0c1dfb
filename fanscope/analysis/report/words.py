"""The sentences every report prints, made from the JSON document's fields only.

The terminal, Markdown and HTML reports say the same things in the same words: each sentence
is built here, once, as plain text, from the fields of ``fanscope.report/v1`` named in its
docstring. Text from the trace (span and limiter names) goes through the ``escape`` function
each renderer passes for its output (span names are untrusted text); the rest is ours.

Choices of words, for a reader new to the tool:

- A fan-out's slowest branch is given with the fan-out's own time, not as a share of it: the
  slowest branch of a fan-out without a cap is *always* as long as the fan-out ("filings
  271 ms = 100% of the fan-out" read as a contradiction), so the sentence says the fan-out
  waited for it.
- Cancelled branches are not stragglers; a vote's cancelled voters are counted as cancelled,
  with what its early stop saved (the wall time as an estimate, and said to be one).
- A retried branch's time is split into its attempts and its waits to retry.
- Where the trace cannot see (a span with no spans inside that holds most of the time), the
  report says so and how to trace it, instead of "nothing found".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fanscope.analysis.schema import (
    BlindPair,
    Fanout,
    OperationStats,
    Opportunity,
    PairEvidence,
    QueueWait,
    RetriedBranch,
    StepRef,
    TraceDoc,
    Untraced,
)

Escape = Callable[[str], str]


def _as_is(text: str) -> str:
    return text


#: A slowest branch this close to its fan-out's time is what the fan-out waited for.
WAITED_FOR = 0.95


def seconds(value: float) -> str:
    """A duration for people: ``850 ms``, ``2.41 s``, ``3 min 12 s``."""
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.0095 else f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{int(value // 60)} min {value % 60:.0f} s"


def share(value: float) -> str:
    return f"{value * 100:.0f}%"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def names(items: list[str], limit: int = 6, escape: Escape = _as_is) -> str:
    """``a, b x3, c``: repeated names counted, in order of first appearance; past ``limit``
    names, cut: ``step x2000, fetch x3, 4 more``."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    parts = [f"{escape(name)} x{n}" if n > 1 else escape(name) for name, n in counts.items()]
    if len(parts) > limit:
        parts = [*parts[: limit - 1], f"{len(parts) - limit + 1} more"]
    return ", ".join(parts)


def places(
    refs: list[StepRef],
    limit: int = 6,
    named: frozenset[str] = frozenset(),
    escape: Escape = _as_is,
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


def opportunity(o: Opportunity, escape: Escape = _as_is) -> str:
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


def _pair(e: PairEvidence) -> tuple[str, str]:
    """``agent.py:42 -> :47``, and the file both lines are in (``""`` when not one)."""
    first = e["earlier"]["where"] or e["earlier"]["name"]
    second = e["later"]["where"] or e["later"]["name"]
    file = first.rpartition(":")[0] if e["earlier"]["where"] else ""
    if file and e["later"]["where"] and second.startswith(f"{file}:"):
        return f"{first} -> {second[len(file) :]}", file
    return f"{first} -> {second}", ""


def evidence(e: PairEvidence, escape: Escape = _as_is) -> str:
    """Which witness decided about two steps, and what it saw (``opportunities[].evidence``:
    ``classification``, ``decided_by``, ``source``, ``fingerprints``). The evidence quotes
    the program's source and the trace: escaped whole. The pair names the file once; the
    evidence then names lines of it as ``:47``."""
    (pair, file), kind = _pair(e), e["classification"]
    source = e["source"]
    if file:  # the pair named the file: the evidence's lines of it as ``:47``
        source = re.sub(rf"(^| ){re.escape(file)}:(?=\d)", r"\1:", source)
    if kind == "independent":
        text = f"{pair}: independent: {source}; no fingerprint overlap"
    elif kind == "dependent":
        said = source if e["decided_by"] in ("source", "both") else e["fingerprints"]
        text = f"{pair}: dependent ({e['decided_by']}): {said}"
    elif kind == "candidate" and e["decided_by"] == "fingerprints":
        text = f"{pair}: candidate (fingerprints only); source: {source}"
    elif kind == "candidate":
        text = f"{pair}: candidate (source only): {source}; {e['fingerprints']}"
    else:
        text = f"{pair}: unknown, neither witness could look: {source}"
    return escape(text)


def candidates(t: TraceDoc) -> str:
    """``candidate_saving``, ``candidates_counted``: the heading of the candidates."""
    counted = "counted" if t["candidates_counted"] else "not counted"
    return (
        f"candidates (only one witness could look; {counted}): "
        f"{seconds(t['candidate_saving'])} more could be saved"
    )


def fanout(f: Fanout, escape: Escape = _as_is) -> str:
    """One fan-out: its time, its slowest branch and what that means, the median, how many
    ran at a time; failed and cancelled branches; hedges sent and won; a vote's early stop.

    Fields: ``name``, ``branches``, ``duration``, ``slowest_name``, ``slowest``,
    ``slowest_share``, ``median``, ``straggler_ratio``, ``parallelism``, ``failed``,
    ``cancelled``, ``kind``, ``early_stop``, ``hedges``, ``hedges_won``.
    """
    vote = f["kind"] == "vote"
    unit = "voter" if vote else "branch"
    units = "voters" if vote else "branches"
    head = f"{escape(f['name'])} ({plural(f['branches'], unit, units)}, {seconds(f['duration'])})"
    stop = f["early_stop"]
    ran = f["branches"] - f["cancelled"]
    if ran <= 0:
        return f"{head}: every {unit} was cancelled"
    parts = []
    if f["cancelled"]:
        ended = "answered or failed" if vote else "ran to an end"
        parts.append(f"{ran} of {f['branches']} {ended}")
    slowest = f"slowest {escape(f['slowest_name'])} {seconds(f['slowest'])}"
    if f["slowest_share"] >= WAITED_FOR and ran > 1:
        slowest += ": the fan-out waited for it"
    parts.append(slowest)
    if ran > 1:
        parts.append(
            f"median {seconds(f['median'])} (slowest {f['straggler_ratio']:.1f}x the median)"
        )
        parts.append(f"{f['parallelism']:.1f} {units} ran at a time on average")
    if f["failed"]:
        parts.append(f"{f['failed']} failed")
    if hedges := f.get("hedges", 0):
        parts.append(f"{plural(hedges, 'hedge')} sent, {f.get('hedges_won', 0)} won")
    sentence = f"{head}: " + "; ".join(parts)
    if stop is not None and f["cancelled"]:
        sentence += "; " + early_stop(f)
    elif f["cancelled"]:
        sentence += f"; {f['cancelled']} cancelled (not counted as stragglers)"
    return sentence


def early_stop(f: Fanout) -> str:
    """A vote's cancelled voters and what the early stop saved (``early_stop``, ``cancelled``).

    The saving said is what is known: the vote returned when the count was decided instead of
    waiting for the cancelled voters; calls never sent spent no tokens; calls cut mid-call
    stopped generating. How long they would have run is not known, so no figure is given.
    """
    stop = f["early_stop"]
    if stop is None:
        return ""
    how = []
    if stop["cancelled_waiting"]:
        how.append(f"{stop['cancelled_waiting']} before sending its call (no tokens spent)")
    if stop["cancelled_running"]:
        how.append(
            f"{stop['cancelled_running']} mid-call, after {seconds(stop['cancelled_ran'])} "
            "of running in all"
        )
    voters = plural(f["cancelled"], "voter")
    decided = seconds(stop["decided_at"])
    if stop["stopped_early"]:
        text = (
            f"early stop: {voters} cancelled once the count was decided at {decided}, so the "
            "vote returned then instead of waiting for them"
        )
    else:
        text = f"{voters} cancelled (the count was decided at {decided})"
    if how:
        text += ": " + ", ".join(how)
    return text


def queue_wait(w: QueueWait, escape: Escape = _as_is) -> str:
    """Who held branches in line: ``holder``, ``waited`` of ``branches``, ``wait``,
    ``wait_max``, ``limiter``, ``max_concurrency``, ``parallelism``."""
    holder = escape(w["holder"])
    if w.get("kind") == "pool":
        return _pool_wait(w, holder, escape)
    who = holder if w["holder_span_id"] else f"{holder} (calls outside a fan-out)"
    text = (
        f"{who}: {w['waited']} of {plural(w['branches'], 'branch', 'branches')} waited, "
        f"{seconds(w['wait'])} summed over them (longest {seconds(w['wait_max'])})"
    )
    held = []
    if w["limiter"]:
        held.append(f"limiter {escape(w['limiter'])}")
    if w["max_concurrency"] is not None:
        held.append(f"cap {w['max_concurrency']}")
    if held:
        text += " behind " + ", ".join(held)
    if w["parallelism"] is not None:
        text += f"; {w['parallelism']:.1f} ran at a time on average"
        if w["max_concurrency"] is not None:
            text += f" of the {w['max_concurrency']} allowed"
    return text


def _pool_wait(w: QueueWait, holder: str, escape: Escape) -> str:
    """Jobs a span submitted to a busy thread pool that waited for a worker."""
    details = []
    if w["limiter"] == "asyncio":  # the event loop's default pool, asyncio.to_thread's
        pool = "asyncio's default thread pool"
        details.append("asyncio.to_thread")
    else:
        pool = f"thread pool {escape(w['limiter'])}" if w["limiter"] else "a thread pool"
    if w["max_concurrency"] is not None:
        details.append(f"max_workers {w['max_concurrency']}")
    if details:
        pool += f" ({', '.join(details)})"
    return (
        f"{holder}: {plural(w['waited'], 'job')} waited for a worker of {pool}; "
        f"{seconds(w['wait'])} summed over them (longest {seconds(w['wait_max'])})"
    )


def retried(r: RetriedBranch, escape: Escape = _as_is) -> str:
    """A retried branch's time split: ``attempts``, ``attempt_time``, ``backoff``,
    ``retry_after``, ``slot_wait``, ``client_resends``, ``client_wait``."""
    parts = [f"{plural(r['attempts'], 'attempt')} {seconds(r['attempt_time'])}"]
    if r["backoff"] > 0:
        wait = f"waiting to retry {seconds(r['backoff'])}"
        if r["retry_after"] > 0:
            wait += f" (retry-after asked for {seconds(r['retry_after'])}, honoured)"
        parts.append(wait)
    if r["slot_wait"] > 0:
        parts.append(f"waiting for a slot again {seconds(r['slot_wait'])}")
    text = f"{escape(r['name'])} {seconds(r['duration'])} = " + ", ".join(parts)
    if r["client_resends"]:
        text += (
            f"; inside its attempts the client resent {plural(r['client_resends'], 'request')}"
            f", sleeping {seconds(r['client_wait'])}"
        )
    if r["outcome"] and r["outcome"] != "ok":
        text += f"; it ended {r['outcome']}"
    return text


def untraced(u: Untraced, escape: Escape = _as_is) -> str:
    """``name``, ``own``, ``share``: a span whose calls are not traced, and how to trace them."""
    return (
        f"{escape(u['name'])} spent {seconds(u['own'])} ({share(u['share'])} of the trace) in "
        "its own code with no spans inside: what it calls is not traced. Decorate the functions it "
        "awaits with @traced (or @parallel), and trace the clients they use "
        "(fanscope.configure() instruments anthropic; other clients have OpenTelemetry "
        "instrumentations)"
    )


def operations_heading(traces: int) -> str:
    return (
        f"per operation, its time on the critical path over the traces where it is on the path "
        f"(p50 / p95; in how many of the {traces:,})"
    )


def operation_where(s: OperationStats, traces: int) -> str:
    return f"in {int(s['traces']):,} of {traces:,}"


def skipped(shown: int, total: int) -> str:
    """The line that says which traces the terminal left out, and how to see them."""
    which = "the newest trace" if shown == 1 else f"the newest trace of each file ({shown:,})"
    return (
        f"showing {which}; {plural(total - shown, 'earlier trace')} not shown (--all prints "
        f"them, --last N analyses only the newest N; gates and per-operation figures count all "
        f"{total:,})"
    )


def behind_caps(total: float, on_path: float, path_share: float) -> str:
    """``queue_wait_total``, ``queue_wait_on_path``, ``queue_wait_share``: summed over
    branches (it can exceed the trace's time), then what of it the critical path waited."""
    if total <= 0:
        return "behind caps: none"
    return (
        f"behind caps: {seconds(total)} summed over the waiting branches; "
        f"{seconds(on_path)} of the critical path ({share(path_share)}) was waiting in line"
    )


def outside_steps(roots: list[str], escape: Escape = _as_is) -> str:
    """Several traces whose root is not a ``@traced`` step (``root``, ``root_role``)."""
    counts: dict[str, int] = {}
    for root in roots:
        counts[root] = counts.get(root, 0) + 1
    listed = names([f"{escape(r)} x{n}" if n > 1 else escape(r) for r, n in counts.items()])
    return (
        f"{plural(len(roots), 'trace')} start outside any @traced step ({listed}). If they "
        "came from one run, decorate its entry point with @traced: one run is then one trace, "
        "and the analyzer sees its calls in sequence"
    )


def unknown_pairs(count: int) -> str:
    """``unknown_pairs``: how many sibling pairs were kept in order for want of fingerprints."""
    return (
        f"{plural(count, 'step pair')} had no fingerprints to compare, so each was kept in "
        "order (no saving claimed for it)"
    )


def blind_pair(b: BlindPair, escape: Escape = _as_is) -> str:
    """One such pair: ``step``, ``after``, ``missing``, ``blind``, ``why``."""
    side = "inputs" if b["missing"] == "inputs" else "outputs"
    return (
        f"{escape(b['step']['name'])} kept after {escape(b['after']['name'])}: "
        f"{escape(b['blind']['name'])} recorded no {side} ({b['why']})"
    )
