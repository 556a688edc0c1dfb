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
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, cost
from fanscope.sdk.admission import acquire_first
from fanscope.sdk.hedge_policy import Hedge, Site, site_for
from fanscope.sdk.tracing import record_error, tracer

__all__ = ["Hedge", "Scope", "Site", "attempt", "note_model", "scope", "site_for"]

if TYPE_CHECKING:
    from fanscope.sdk.branch import Job


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
