"""The sentences every report prints, made from the JSON document's fields only.

The terminal, Markdown and HTML reports say the same things in the same words: each sentence
is built once, as plain text, from the fields of ``fanscope.report/v1`` named in its
docstring: here, or beside this module for a topic of its own (``opportunities.py``: what to
run together; ``evidence.py``: what the witnesses saw; ``costs.py``, ``budgets.py``,
``limits.py``). Text from the trace (span and limiter names) goes through the ``escape``
function each renderer passes for its output (span names are untrusted text); the rest is
ours.

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

from collections.abc import Callable

from fanscope.analysis.schema import (
    BlindPair,
    Fanout,
    OperationStats,
    QueueWait,
    RetriedBranch,
    Untraced,
)

Escape = Callable[[str], str]


def as_is(text: str) -> str:
    """No escaping: a sentence as plain text (the default ``escape``)."""
    return text


#: A slowest branch this close to its fan-out's time is what the fan-out waited for.
WAITED_FOR = 0.95


def seconds(value: float) -> str:
    """A duration for people: ``850 ms``, ``2.41 s``, ``3 min 12 s``."""
    if not value < 1e9:  # past 31 years or no number: a damaged trace's sum (inf, 1e+308 s)
        return f"{value:.3g} s"
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.0095 else f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{int(value // 60)} min {value % 60:.0f} s"


def share(value: float) -> str:
    return f"{value * 100:.0f}%"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def names(items: list[str], limit: int = 6, escape: Escape = as_is) -> str:
    """``a, b x3, c``: repeated names counted, in order of first appearance; past ``limit``
    names, cut: ``step x2000, fetch x3, 4 more``."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    parts = [f"{escape(name)} x{n}" if n > 1 else escape(name) for name, n in counts.items()]
    if len(parts) > limit:
        parts = [*parts[: limit - 1], f"{len(parts) - limit + 1} more"]
    return ", ".join(parts)


def fanout(f: Fanout, escape: Escape = as_is) -> str:
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


def queue_wait(w: QueueWait, escape: Escape = as_is) -> str:
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


def retried(r: RetriedBranch, escape: Escape = as_is) -> str:
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


def untraced(u: Untraced, escape: Escape = as_is) -> str:
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


def outside_steps(roots: list[str], escape: Escape = as_is) -> str:
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


def blind_pair(b: BlindPair, escape: Escape = as_is) -> str:
    """One such pair: ``step``, ``after``, ``missing``, ``blind``, ``why``."""
    side = "inputs" if b["missing"] == "inputs" else "outputs"
    return (
        f"{escape(b['step']['name'])} kept after {escape(b['after']['name'])}: "
        f"{escape(b['blind']['name'])} recorded no {side} ({b['why']})"
    )
