"""Hedged attempts: a second attempt for a branch that runs past its call site's usual latency.

::

    @parallel(max_concurrency=64, hedge=fanscope.Hedge(after="p95", max_extra=0.05))
    async def summarize(doc: str) -> str: ...

An attempt that has not answered after the chosen percentile of its call site's recent
latencies (or after a fixed number of seconds) gets a second attempt, the *hedge*; the first
answer wins and the other attempt is cancelled ("The Tail at Scale"; gRPC's hedging policy,
Finagle's and Envoy's backup requests). Three things keep it from costing more than it saves:

* **Samples first.** The percentile is learned in this process, per call site (the line that
  called ``f.map``, or ``await f(x)``) and per model (the model of the attempt's first model
  call), from the last ``window`` answers; no hedge is sent before ``min_samples`` of them.
  The percentile is never below ``1 - max_extra / 2`` (``p97.5`` at 5%): the branches of a
  fan-out pass their delay together, and the bucket must pay for all of them, not for the first
  few (``docs/hedging.md``, "How late a hedge goes").
* **A token bucket.** Each attempt a call site starts earns ``max_extra`` of a token and each
  hedge spends one, so the hedges a call site has sent are never more than ``max_extra`` of
  the attempts it made, at any moment. A fan-out spends what its own attempts earn plus what
  earlier fan-outs at the call site saved, at most ``burst`` tokens (``burst=0``: each fan-out
  on its own). Why saved tokens: ``docs/hedging.md``.
* **The caps hold.** A hedge takes a slot of every limiter of the function, as any attempt
  does, waiting in line for it if it must; if the first attempt answers meanwhile, the hedge
  is never sent and its token is given back. Model calls of a hedge reserve against the
  budgets in force like any other call.

Spans: the hedge runs in a ``hedge {function}`` span (role ``hedge``) under its branch, with its
outcome (``won``, ``lost``, ``failed``, ``cancelled``) and what the attempt that lost cost; the
branch says which attempt won; the fan-out counts hedges sent, won and refused
(``docs/conventions.md``).

.. versionadded:: 0.3
"""

from __future__ import annotations

import asyncio
import bisect
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, cost
from fanscope.sdk.tracing import record_error, tracer

if TYPE_CHECKING:
    from fanscope.sdk.branch import Job

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


# -- one fan-out's share ------------------------------------------------------------------------


class Scope:
    """The hedging of one fan-out (or one lone call): its tokens and its counts."""

    __slots__ = ("_lock", "_waiting", "balance", "denied", "sent", "site", "won")

    def __init__(self, site: Site) -> None:
        self.site = site
        self.balance = site.lend()
        self.sent = 0
        self.won = 0
        self.denied = 0
        self._lock = threading.Lock()
        self._waiting: list[asyncio.Future[None]] = []

    def earn(self) -> None:
        """An attempt starts: it earns ``max_extra`` of a token."""
        with self._lock:
            self.balance += self.site.policy.max_extra
            self.site.attempts += 1
            ready = self.balance >= 1.0
        if ready and self._waiting:
            waiting, self._waiting = self._waiting, []
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    def take(self, first: bool) -> bool:
        """A token for a hedge, or ``False`` (counted as refused on an attempt's ``first`` ask)."""
        with self._lock:
            if self.balance >= 1.0:
                self.balance -= 1.0
                return True
            if first:
                self.denied += 1
            return False

    def when_token(self) -> asyncio.Future[None]:
        """Done when a token may be there (other attempts of the fan-out earned it)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        return future

    def give_back(self) -> None:
        """A hedge that was never sent (the first attempt answered while it waited in line)."""
        with self._lock:
            self.balance += 1.0

    def sending(self) -> None:
        with self._lock:
            self.sent += 1
            self.site.hedges += 1

    def won_one(self) -> None:
        with self._lock:
            self.won += 1

    def close(self) -> None:
        with self._lock:
            left, self.balance = self.balance, 0.0
        self.site.keep(left)

    def attributes(self) -> dict[str, Any]:
        """The fan-out span's hedge counts (none when nothing was hedged or refused)."""
        attrs: dict[str, Any] = {}
        if self.sent:
            attrs[A.FANOUT_HEDGES] = self.sent
        if self.won:
            attrs[A.FANOUT_HEDGES_WON] = self.won
        if self.denied:
            attrs[A.FANOUT_HEDGES_DENIED] = self.denied
        return attrs


_SCOPE = otel_context.create_key("fanscope-hedge-scope")


@contextmanager
def scope(
    policy: Hedge | None, where: Mapping[str, Any], function: str | None
) -> Iterator[Scope | None]:
    """The hedging of one fan-out; its counts go on ``span`` by the caller (``attributes``)."""
    if policy is None:
        yield None
        return
    made = Scope(site_for(policy, where, function))
    try:
        yield made
    finally:
        made.close()


def in_context(made: Scope | None, ctx: Context) -> Context:
    """``ctx`` with the fan-out's hedging in it (for its branches)."""
    if made is None:
        return ctx
    return otel_context.set_value(_SCOPE, made, ctx)


def scope_of(ctx: Context) -> Scope | None:
    found = ctx.get(_SCOPE)
    return found if isinstance(found, Scope) else None


# -- what an attempt learns about itself --------------------------------------------------------


class AttemptTally(cost.Tally):
    """The tally of one attempt of a hedged function; it also remembers the attempt's model."""

    __slots__ = ("model",)

    def __init__(self, parent: cost.Tally | None) -> None:
        super().__init__(parent)
        self.model: str | None = None


def note_model(tally: cost.Tally | None, model: object) -> None:
    """A model call starts under ``tally``: the first one names the attempt's model."""
    if isinstance(tally, AttemptTally) and tally.model is None and isinstance(model, str):
        tally.model = model


# -- the race -----------------------------------------------------------------------------------


class _HedgeRun:
    """The hedge of one attempt: its span, its tally, when it was sent, how it ended."""

    __slots__ = ("outcome", "sent_at", "span", "tally")

    def __init__(self) -> None:
        self.span: Span | None = None
        self.tally: cost.Tally | None = None
        self.sent_at = 0.0
        self.outcome: str | None = None


async def _swallow(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait for each to end, whatever it ends with."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: never "exception was never retrieved"


async def attempt(
    job: Job,
    run: Callable[[], Coroutine[Any, Any, Any]],
    ctx: Context,
    attrs: dict[str, Any],
    lone: Mapping[str, Any] | None,
) -> Any:
    """One attempt of ``job``, hedged by its policy's :class:`Hedge`; its value or its error.

    ``run`` starts one attempt (the per-attempt timeout applied). ``ctx`` is the branch's
    context (its fan-out's hedging scope in it); ``attrs`` are the branch's end attributes,
    which get the winner. A lone call (no fan-out) brings its call site in ``lone``.
    """
    policy = job.policy
    hedge = policy.hedge
    assert hedge is not None
    made = scope_of(ctx)
    own_scope = made is None
    if made is None:
        made = Scope(site_for(hedge, lone or {}, policy.function))
    site = made.site
    loop = asyncio.get_running_loop()
    mine = AttemptTally(ctx.get(cost.KEY))  # type: ignore[arg-type]
    made.earn()
    started = loop.time()
    token = otel_context.attach(cost.with_tally(ctx, mine))
    try:
        primary: asyncio.Task[Any] = loop.create_task(run())
    finally:
        otel_context.detach(token)
    other: asyncio.Task[Any] | None = None
    hedged = _HedgeRun()
    try:
        delay = site.delay(mine.model)
        asked = False
        while delay is not None and not primary.done():
            left = delay - (loop.time() - started)
            if left > 0:
                await asyncio.wait({primary}, timeout=left)
                later = site.delay(mine.model)  # the attempt's model may be known by now
                if later is not None and later > delay:
                    delay = later
                continue
            if made.take(first=not asked):
                other = loop.create_task(_send(job, run, ctx, made, hedged, started))
                break
            # no token yet: the hedge is sent when the fan-out's next attempts earn one
            asked = True
            ready = made.when_token()
            try:
                await asyncio.wait({primary, ready}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
        if other is None:
            value = await primary
            site.record(mine.model, loop.time() - started)
            return value
        return await _race(primary, other, made, hedged, mine, started, attrs)
    finally:
        await _swallow([t for t in (primary, other) if t is not None and not t.done()])
        _end_hedge(hedged, mine)
        if own_scope:
            made.close()


async def _send(
    job: Job,
    run: Callable[[], Coroutine[Any, Any, Any]],
    ctx: Context,
    made: Scope,
    hedged: _HedgeRun,
    started: float,
) -> Any:
    """The hedge: a slot of every limiter (in line if need be), then one attempt in its span."""
    from fanscope.sdk.branch import acquire_first  # a cycle: branch imports this module

    limiters = job.policy.limiters
    try:
        if limiters:
            await acquire_first(limiters)
    except asyncio.CancelledError:
        made.give_back()  # never sent: the first attempt answered while it waited
        raise
    try:
        made.sending()
        loop = asyncio.get_running_loop()
        hedged.sent_at = loop.time()
        name = f"hedge {job.policy.span_name}"
        span = tracer().start_span(name, context=ctx)
        callsite.enter(span, job.policy.code)
        hedged.span = span
        span_ctx, hedged.tally = cost.span_context(span, ctx)
        if span.is_recording():
            span.set_attributes({A.ROLE: A.ROLE_HEDGE, A.HEDGE_DELAY: hedged.sent_at - started})
        token = otel_context.attach(span_ctx)
        try:
            return await run()
        finally:
            otel_context.detach(token)
    finally:
        for limiter in limiters:
            limiter.release()


async def _race(
    primary: asyncio.Task[Any],
    other: asyncio.Task[Any],
    made: Scope,
    hedged: _HedgeRun,
    mine: AttemptTally,
    started: float,
    attrs: dict[str, Any],
) -> Any:
    """The first answer of the two attempts; the other is cancelled. Both failing: the first
    attempt's error (its retry policy decides what follows)."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[Any]] = {primary, other}
    first_error: BaseException | None = None
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        errors = {task: _error_of(task) for task in done}  # every error retrieved
        if errors.get(other) is not None:
            if hedged.span is not None:
                record_error(hedged.span, errors[other])  # type: ignore[arg-type]
            _outcome(hedged, A.HEDGE_OUTCOME_FAILED)
        if errors.get(primary) is not None:
            first_error = errors[primary]
        # the first answer wins; the first attempt's on a tie
        for task in (primary, other):
            if task not in done or errors[task] is not None:
                continue
            await _swallow(list(pending))
            now = loop.time()
            if task is primary:
                made.site.record(mine.model, now - started)
                _outcome(hedged, A.HEDGE_OUTCOME_LOST)
                attrs[A.HEDGE_WINNER] = A.HEDGE_WINNER_PRIMARY
            else:
                made.site.record(mine.model, now - hedged.sent_at)
                made.site.record(mine.model, now - started)  # the first, cut: at least this
                made.won_one()
                _outcome(hedged, A.HEDGE_OUTCOME_WON)
                attrs[A.HEDGE_WINNER] = A.HEDGE_WINNER_HEDGE
            return task.result()
    assert first_error is not None
    raise first_error


def _error_of(task: asyncio.Task[Any]) -> BaseException | None:
    return asyncio.CancelledError() if task.cancelled() else task.exception()


def _outcome(hedged: _HedgeRun, outcome: str) -> None:
    if hedged.span is not None and hedged.outcome is None:
        hedged.outcome = outcome


def _end_hedge(hedged: _HedgeRun, mine: AttemptTally) -> None:
    """End the hedge span: its own calls' cost, and what the attempt that lost cost."""
    span = hedged.span
    if span is None:
        return
    hedged.span = None
    if span.is_recording():
        # the branch ended (cancelled) before either attempt answered
        outcome = hedged.outcome or A.HEDGE_OUTCOME_CANCELLED
        attrs: dict[str, Any] = {A.HEDGE_OUTCOME: outcome}
        loser = mine if outcome == A.HEDGE_OUTCOME_WON else hedged.tally
        if loser is not None and loser.calls:
            attrs[A.HEDGE_LOSER_CALLS] = loser.calls
            if loser.calls > loser.unpriced:
                attrs[A.HEDGE_LOSER_USD] = loser.usd
            if loser.unpriced:
                attrs[A.HEDGE_LOSER_UNPRICED_CALLS] = loser.unpriced
        if hedged.tally is not None:
            attrs.update(hedged.tally.attributes())
        span.set_attributes(attrs)
    callsite.leave(span)
    span.end()
