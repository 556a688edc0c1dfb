"""An adaptive cap's changes while a fan-out runs, for the fan-out's span.

A fan-out whose function has an adaptive limiter (``max_concurrency="auto"``) records the cap
in force when it starts, then every change of it while its branches run
(``fanscope.fanout.cap_changes`` and ``fanscope.fanout.cap_changed_at``,
``docs/conventions.md``), so the analyzer can say what the cap did. :class:`CapChanges`
listens to the limiters and keeps that list; it is apart from
:class:`~fanscope.sdk.fanout.FanOut` because it is the one part of a fan-out that the
limiters call into from outside, and it costs nothing to a fan-out without an adaptive cap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry.trace import Span

from fanscope.sdk import attributes as A
from fanscope.sdk import permits
from fanscope.sdk.limits import Limiter

#: an adaptive cap's changes a fan-out span records at most; the last entry then holds the
#: latest cap (changes come at most once per round trip: a fan-out seldom sees this many)
MAX_CAP_CHANGES = 1000


class CapChanges:
    """The changes of the tightest cap among a fan-out's limiters, once it has started."""

    __slots__ = ("_cap", "_changes", "_holders", "adaptive", "started")

    def __init__(self, holders: Sequence[permits.Holder], max_concurrency: int | None) -> None:
        self._holders = holders
        #: the adaptive limiters to listen to (none for a fan-out without a cap)
        self.adaptive = (
            [h for h in holders if isinstance(h, Limiter) and h.adaptive is not None]
            if max_concurrency is not None
            else []
        )
        self._changes: list[tuple[int, int]] = []  # (ns after the start, the cap)
        self._cap = max_concurrency
        #: when the fan-out started (``time.time_ns()``): changes are timed from then
        self.started = 0

    def watch(self) -> int | None:
        """Listen to the adaptive limiters; return the cap in force now."""
        self._cap = self._cap_now()
        for limiter in self.adaptive:
            limiter.watch(self._cap_moved)
        return self._cap

    def unwatch(self, span: Span) -> None:
        """Stop listening; put the changes seen, if any, on the fan-out's ``span``."""
        for limiter in self.adaptive:
            limiter.unwatch(self._cap_moved)
        if self._changes and span.is_recording():
            span.set_attributes(
                {
                    A.FANOUT_CAP_CHANGES: [cap for _, cap in self._changes],
                    A.FANOUT_CAP_CHANGED_AT: [at / 1e9 for at, _ in self._changes],
                }
            )

    def _cap_now(self) -> int | None:
        caps = [h.max_concurrency for h in self._holders if isinstance(h, Limiter)]
        return min((c for c in caps if c is not None), default=None)

    def _cap_moved(self) -> None:
        """An adaptive limiter of the branches changed its cap: note the fan-out's."""
        cap = self._cap_now()
        if cap is None or cap == self._cap:
            return
        self._cap = cap
        at = max(0, time.time_ns() - self.started)
        if len(self._changes) < MAX_CAP_CHANGES:
            self._changes.append((at, cap))
        else:
            self._changes[-1] = (self._changes[-1][0], cap)
