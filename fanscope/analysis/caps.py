"""The concurrency caps the what-if schedules under: the recorded ones, or changed.

A fan-out's branches share its cap (``fanscope.fanout.max_concurrency``: the tightest of the
limiters its function goes through). A lone call takes a slot in each capped limiter it goes
through (``fanscope.limiter.names`` and ``.max_concurrency``, so a limiter shared by several
functions is one set of slots), or, when the span records no limiters, in its function's cap
(``fanscope.branch.max_concurrency``).

An adaptive cap (``max_concurrency="auto"``) moves while a fan-out runs: its span records the
cap at its start and each change after (``fanscope.fanout.cap_changes`` and
``.cap_changed_at_s``), and the fan-out's branches are scheduled under the cap as it moved
(:attr:`Caps.changes`), not under its starting value alone, which could be far from where it
spent the fan-out (a what-if that stretched the fan-out would credit reordering its siblings
with time the fan-out never took).

"What if the cap were N" (``fanscope analyze --what-if-cap``) changes them: ``N`` alone
replaces every recorded cap, ``NAME=N`` sets the cap of the function or limiter NAME whether
it had one or not (``docs/analysis.md`` explains the choice).
"""

from __future__ import annotations

from collections.abc import Mapping

from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A

#: A set of slots: its key and how many.
Group = tuple[str, int]

#: The key of ``--what-if-cap N`` without a name: every recorded cap.
EVERY = "*"


class CapPlan:
    """The caps to schedule under.

    Args:
        overrides: ``{"*": N}`` replaces every recorded cap with N; ``{NAME: N}`` sets the cap
            of the fan-outs of function NAME (its name, or its qualified name) and of the
            limiter NAME (a function's own limiter is named after it), capped or not. A name
            wins over ``"*"``.

    With overrides, the steps keep the order they ran in (``keep_order``): the answer is what
    changing the caps alone would do. ``lowered`` says whether a cap was set below the
    recorded one (or set where there was none): then the observed run no longer bounds the
    answer. ``matched`` holds the names that matched something.
    """

    def __init__(self, overrides: Mapping[str, int] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self.keep_order = bool(self.overrides)
        self.lowered = False
        self.matched: set[str] = set()

    def cap(self, names: tuple[str, ...], recorded: int | None) -> int | None:
        """The cap of something called ``names`` (function, limiter) recorded as ``recorded``."""
        overrides = self.overrides
        if not overrides:
            return recorded
        for name in names:
            for key in (name, name.rsplit(".", 1)[-1]):
                if key in overrides:
                    self.matched.add(key)
                    return self._use(overrides[key], recorded)
        if recorded is not None and EVERY in overrides:
            self.matched.add(EVERY)
            return self._use(overrides[EVERY], recorded)
        return recorded

    def _use(self, value: int, recorded: int | None) -> int:
        if recorded is None or value < recorded:
            self.lowered = True
        return value


def _cap(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def cap_changes(changes: object, at: object, duration: int) -> list[tuple[int, int]]:
    """A fan-out's recorded cap changes as ``(ns after its start, cap)``, in time order, within
    its ``duration``; ``[]`` when they are absent or damaged (then only the starting cap is
    known)."""
    if not isinstance(changes, list | tuple) or not isinstance(at, list | tuple):
        return []
    if not changes or len(changes) != len(at):
        return []
    out = []
    for cap, seconds in zip(changes, at, strict=True):
        if _cap(cap) is None or isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return []
        if not 0 <= seconds < float("inf"):
            return []
        out.append((min(max(0, duration), int(seconds * 1e9)), int(cap)))
    out.sort(key=lambda change: change[0])  # stable: changes at one instant keep their order
    return out


class Caps:
    """Which slots each child of ``parent`` must take."""

    def __init__(self, trace: Trace, parent: str, plan: CapPlan) -> None:
        self.spans = trace.spans
        self.plan = plan
        parent_span = trace.spans[parent]
        self.is_fanout = parent_span.attr_str(A.ROLE) == A.ROLE_FANOUT
        self.fanout: list[Group] = []
        #: the fan-out's cap changes (ns after its start, cap) after its starting cap, when it
        #: moved (an adaptive cap) and no ``--what-if-cap`` replaces it
        self.changes: list[tuple[int, int]] = []
        if self.is_fanout:
            function = parent_span.attr_str(A.FUNCTION)
            recorded = _cap(parent_span.attr_int(A.FANOUT_MAX_CONCURRENCY))
            cap = plan.cap((function,) if function else (), recorded)
            if cap is not None:
                self.fanout = [(f"fanout:{parent}", cap)]
            if cap is not None and cap == recorded and not plan.overrides:
                attributes = parent_span.attributes
                self.changes = cap_changes(
                    attributes.get(A.FANOUT_CAP_CHANGES),
                    attributes.get(A.FANOUT_CAP_CHANGED_AT),
                    parent_span.end - parent_span.start,
                )

    def groups(self, child: str) -> list[Group]:
        """The sets of slots ``child`` takes one of each (empty: none)."""
        span = self.spans[child]
        attributes = span.attributes
        if self.is_fanout and attributes.get(A.ROLE) == A.ROLE_BRANCH:
            return self.fanout
        names = attributes.get(A.LIMITER_NAMES)
        caps = attributes.get(A.LIMITER_MAX_CONCURRENCY)
        if isinstance(names, list) and isinstance(caps, list):
            out = []
            for name, recorded in zip(names, caps, strict=False):
                if isinstance(name, str):
                    cap = self.plan.cap((name,), _cap(recorded))
                    if cap is not None:
                        out.append((f"limiter:{name}", cap))
            return out
        recorded = _cap(span.attr_int(A.BRANCH_MAX_CONCURRENCY))
        if recorded is None and (
            not self.plan.overrides or attributes.get(A.ROLE) != A.ROLE_BRANCH
        ):
            return []  # no cap, and none to set (a step, another instrumentation's span)
        function = span.attr_str(A.FUNCTION) or span.name
        cap = self.plan.cap((function,), recorded)
        return [(f"function:{function}", cap)] if cap is not None else []
