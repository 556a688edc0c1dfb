"""A hedging policy and what each call site learns under it: when a second attempt may go
(a percentile of the call site's recent latencies, floored by the budget, or fixed seconds)
and the tokens the call site saved. The race of attempts itself is :mod:`fanscope.sdk.hedge`.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk.arguments import checked

_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")


class Hedge:
    """When to send a second attempt of a slow branch, and how many may be sent.

    Args:
        after: ``"p95"`` (any percentile from ``"p50"`` to ``"p99.9"``) of the call site's
            recent latencies, or a number of seconds. A percentile is the earliest a hedge
            goes: the delay is never below the percentile that ``max_extra / 2`` of attempts
            pass (``p97.5`` for the default 5%), so that the bucket can pay for every attempt
            that passes it; :attr:`quantile` is the percentile used.
        max_extra: hedges as a share of attempts, ``0 < max_extra <= 1``: at most 5 hedges
            per 100 attempts with the default.
        burst: tokens a call site may save for later fan-outs (``0``: a fan-out spends only
            what its own attempts earn).
        min_samples: answers needed before a percentile is trusted; default: enough for 5
            answers above the percentile used (200 for ``p97.5``, 500 for ``p99``). Ignored
            with seconds.
        window: recent answers the percentile is taken over, per call site and model.

    .. versionadded:: 0.3
    """

    __slots__ = ("after", "burst", "max_extra", "min_samples", "quantile", "seconds", "window")

    @checked("fanscope.Hedge")
    def __init__(
        self,
        after: str | float = "p95",
        *,
        max_extra: float = 0.05,
        burst: float = 10.0,
        min_samples: int | None = None,
        window: int = 1000,
    ) -> None:
        self.after = after
        self.quantile: float | None = None
        self.seconds: float | None = None
        if isinstance(after, str):
            found = _PERCENTILE.fullmatch(after.strip())
            q = float(found.group(1)) / 100 if found else 0.0
            if not 0.5 <= q < 1.0:
                raise ConfigurationError(
                    "Hedge after must be a percentile from 'p50' to 'p99.9' or seconds > 0",
                    after,
                    "e.g. Hedge(after='p95') or Hedge(after=0.8)",
                )
            self.quantile = q
        elif _number(after) and 0 < after < math.inf:
            self.seconds = float(after)
        else:
            raise ConfigurationError(
                "Hedge after must be a percentile such as 'p95' or a number of seconds > 0",
                after,
                "e.g. Hedge(after='p95') or Hedge(after=0.8)",
            )
        if not _number(max_extra) or not 0 < max_extra <= 1:
            raise ConfigurationError(
                "Hedge max_extra must be a share of attempts, > 0 and <= 1",
                max_extra,
                "e.g. max_extra=0.05 for at most 5 hedges per 100 attempts",
            )
        self.max_extra = float(max_extra)
        if self.quantile is not None:
            # the bucket's own floor: no earlier than the percentile half the budget can pay for
            self.quantile = max(self.quantile, 1.0 - self.max_extra / 2)
        if not _number(burst) or burst < 0 or not math.isfinite(burst):
            raise ConfigurationError(
                "Hedge burst must be a number of tokens >= 0", burst, "e.g. burst=10"
            )
        self.burst = float(burst)
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigurationError(
                "Hedge window must be a whole number of answers >= 1", window, "e.g. 1000"
            )
        given = min_samples is not None
        if min_samples is None:
            # five answers past the percentile used, rounded first: 'p99.9' is
            # 0.9990000000000001 in floats, and needs 5,000, not 5,001
            used = self.quantile
            min_samples = 1 if used is None else max(20, math.ceil(round(5 / (1 - used), 6)))
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ConfigurationError(
                "Hedge min_samples must be a whole number >= 1", min_samples, "e.g. 100"
            )
        if min_samples > window:
            raise ConfigurationError(
                f"Hedge min_samples ({min_samples}) cannot be more than window ({window})"
                if given
                else f"Hedge(after={after!r}) needs {min_samples} answers before it hedges "
                f"(min_samples), more than window ({window}) keeps",
                min_samples,
                f"pass window={min_samples} or more",
            )
        self.min_samples = min_samples
        self.window = window

    def __repr__(self) -> str:
        # the percentile used, not only the one asked for: the floor may have raised it
        used = "" if self.quantile is None else f", quantile={self.quantile:.6g}"
        return (
            f"Hedge(after={self.after!r}{used}, max_extra={self.max_extra}, burst={self.burst}, "
            f"min_samples={self.min_samples}, window={self.window})"
        )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- what a call site learned --------------------------------------------------------------------


class _History:
    """The last ``window`` latencies, kept sorted as well: a percentile is a lookup."""

    __slots__ = ("order", "recent")

    def __init__(self, window: int) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.order: list[float] = []

    def add(self, seconds: float) -> None:
        if len(self.recent) == self.recent.maxlen:
            old = self.recent[0]
            del self.order[bisect.bisect_left(self.order, old)]
        self.recent.append(seconds)
        bisect.insort(self.order, seconds)

    def percentile(self, q: float) -> float:
        """The nearest-rank percentile."""
        return self.order[max(0, math.ceil(q * len(self.order)) - 1)]


class Site:
    """One call site's latencies (per model) and the tokens it saved; shared by its fan-outs,
    across event loops and threads."""

    def __init__(self, policy: Hedge) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._histories: dict[str | None, _History] = {}
        self._last_model: str | None = None
        self.saved = 0.0
        #: every attempt and hedge ever sent here (the bucket's invariant: hedges <= share)
        self.attempts = 0
        self.hedges = 0

    def samples(self, model: str | None = None) -> int:
        with self._lock:
            history = self._histories.get(model)
            return 0 if history is None else len(history.recent)

    def delay(self, model: str | None) -> float | None:
        """Seconds an attempt runs before it is hedged (``None``: too few samples yet)."""
        policy = self.policy
        if policy.seconds is not None:
            return policy.seconds
        assert policy.quantile is not None
        with self._lock:
            history = self._histories.get(model if model is not None else self._last_model)
            if history is None or len(history.recent) < policy.min_samples:
                return None
            return history.percentile(policy.quantile)

    def record(self, model: str | None, seconds: float) -> None:
        if self.policy.seconds is not None:
            return
        with self._lock:
            history = self._histories.get(model)
            if history is None:
                history = self._histories[model] = _History(self.policy.window)
            history.add(seconds)
            self._last_model = model

    def lend(self) -> float:
        """The saved tokens, handed to a fan-out that starts."""
        with self._lock:
            saved, self.saved = self.saved, 0.0
            return saved

    def keep(self, left: float) -> None:
        """What a fan-out did not spend, saved up to ``burst``."""
        with self._lock:
            self.saved = min(self.policy.burst, self.saved + left)


_sites: dict[tuple[Any, ...], Site] = {}
_sites_lock = threading.Lock()


def site_for(policy: Hedge, where: Mapping[str, Any], function: str | None) -> Site:
    """The call site's state: keyed by the function and the ``code.*`` of the calling line."""
    key = (
        id(policy),
        function,
        where.get(A.CODE_FILE),
        where.get(A.CODE_LINE),
        where.get(A.CODE_COLUMN),
    )
    with _sites_lock:
        site = _sites.get(key)
        if site is None:
            site = _sites[key] = Site(policy)
        return site


def sites_of(policy: Hedge) -> list[Site]:
    """Every call site's state under ``policy`` (for tests and benchmarks)."""
    with _sites_lock:
        return [site for key, site in _sites.items() if key[0] == id(policy)]
