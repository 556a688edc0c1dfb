"""One branch: one unit of work under its limiters, retry policy and per-attempt timeout.

:func:`run_branch` runs a :class:`Job` inside a branch span and returns an
:class:`~fanscope.Outcome` (errors become ``error``/``timeout`` outcomes; cancellation is
recorded on the span and re-raised, so a cancelled branch task really ends cancelled).
:func:`lone_call` is one such branch on its own: what ``await f(x)`` runs for a
``@parallel`` function. Taking the limiters before each attempt (slots, rate limits,
retry-after pauses) is :mod:`fanscope.sdk.admission`'s part.

Parent/child links do not depend on the ambient context surviving task switches: a branch
span gets its fan-out's context explicitly, and the branch's own context is attached while
it runs, so work the branch starts (nested fan-outs, threads, the anthropic client) nests
under it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from fanscope.errors import ConfigurationError, DeadlineExceeded
from fanscope.sdk import attributes as A
from fanscope.sdk import callsite, cost, fingerprint, permits
from fanscope.sdk import hedge as hedging
from fanscope.sdk.admission import acquire_again, acquire_first, pause_of
from fanscope.sdk.budget import Budget, applied
from fanscope.sdk.hedge import Hedge
from fanscope.sdk.limits import Limiter
from fanscope.sdk.outcomes import Outcome, Status
from fanscope.sdk.pacing import Pause
from fanscope.sdk.retry import Retry
from fanscope.sdk.tracing import error_type, record_error, tracer


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How each attempt of a branch runs: limiters, retry, timeout, and what it is called."""

    span_name: str
    function: str | None = None
    limiters: tuple[Limiter, ...] = ()
    retry: Retry | None = None
    timeout: float | None = None
    code: CodeType | None = None  # what the branch runs: where its children are called from
    budget: Budget | None = None  # a template: each fan-out (or lone call) gets a fresh pot
    hedge: Hedge | None = None  # a second attempt for a slow one (hedge.py)
    #: the branch attributes that depend only on the policy and the fan-out's kind, made once
    #: per kind (a branch copies them instead of deciding each again)
    _fixed: dict[str | None, dict[str, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    #: a limiter may be shared with other processes (it has a backend)
    backed: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "backed", any(lim.backend for lim in self.limiters))

    def fixed_attributes(self, kind: str | None) -> dict[str, Any]:
        """The attributes every branch of this policy under a fan-out of ``kind`` carries
        (``None``: a lone call). Shared: copy before adding to it."""
        fixed = self._fixed.get(kind)
        if fixed is None:
            fixed = self._make_fixed(kind)
            if not any(lim.adaptive is not None for lim in self.limiters):
                self._fixed[kind] = fixed  # an adaptive cap changes: made again each time
        return fixed

    def _make_fixed(self, kind: str | None) -> dict[str, Any]:
        attrs: dict[str, Any] = {A.ROLE: A.ROLE_BRANCH}
        # kind, and a map's function, are read from the parent (conventions.md); gather and
        # vote branches may each call a different function (vote.among): they carry their own
        if self.function is not None and kind != A.KIND_MAP:
            attrs[A.FUNCTION] = self.function
        if self.timeout is not None:
            attrs[A.BRANCH_TIMEOUT] = self.timeout
        if kind is None and self.max_concurrency is not None:
            attrs[A.BRANCH_MAX_CONCURRENCY] = self.max_concurrency
        limiters = self.limiters
        if limiters and (kind is None or any(lim.rate is not None for lim in limiters)):
            # what the analyzer's what-if needs to respect every cap and rate limit (a shared
            # limiter's cap spans functions; a rate limit spans a fan-out's branches)
            # (tuples: shared by every branch's copy)
            attrs[A.LIMITER_NAMES] = tuple(lim.name for lim in limiters)
            attrs[A.LIMITER_MAX_CONCURRENCY] = tuple(lim.max_concurrency or 0 for lim in limiters)
            attrs[A.LIMITER_RATE] = tuple(
                float(lim.rate.requests) if lim.rate else 0.0 for lim in limiters
            )
            attrs[A.LIMITER_PER] = tuple(lim.rate.per if lim.rate else 0.0 for lim in limiters)
        return attrs

    @property
    def max_concurrency(self) -> int | None:
        """The tightest cap among the limiters (``None`` when unbounded)."""
        caps = [lim.max_concurrency for lim in self.limiters if lim.max_concurrency is not None]
        return min(caps) if caps else None


@dataclass(slots=True)
class Job:
    """One branch to run: a fresh awaitable per attempt, plus what to record about it."""

    policy: CallPolicy
    call: Callable[[], Awaitable[Any]]
    index: int | None = None
    name: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    once: bool = False  # a plain awaitable: it cannot be awaited twice, so it is never retried
    #: code.* of the call (lone calls; a map's is its fan-out's)
    site: Mapping[str, Any] | None = None
    #: when the branch was submitted (``time.time_ns()``): where its wait in line starts.
    #: 0: when :func:`run_branch` starts.
    submitted: int = 0
    #: the fan-out took every limiter for the first attempt before starting the branch
    admitted: bool = False
    #: the limiter the branch waited on before its first attempt (``None``: no wait)
    waited_on: str | None = None
    #: :func:`run_branch` began (a task cancelled before its first step never runs it)
    started: bool = False

    @property
    def label(self) -> str:
        if self.name is not None:
            return self.name
        if self.index is None:
            return self.policy.span_name
        return f"{self.policy.span_name}[{self.index}]"


def check_timeout(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"{name} must be a number of seconds > 0",
            value,
            f"pass e.g. {name}=30, or {name}=None for no limit",
        )
    return float(value)


# -- one branch -------------------------------------------------------------------------------


async def _attempt(job: Job) -> Any:
    timeout = job.policy.timeout
    if timeout is None:
        return await job.call()
    async with asyncio.timeout(timeout):
        return await job.call()


def _branch_attrs(job: Job, kind: str | None, fingerprinted: bool) -> dict[str, Any]:
    """The branch's attributes known at its start; set together with the end ones.

    Setting every attribute in one call at the end costs the SDK about half of what passing
    some to ``start_span`` and the rest later does (span processors' ``on_start`` therefore
    sees no fanscope attributes on a branch). What depends only on the policy is made once
    per fan-out kind (:meth:`CallPolicy.fixed_attributes`) and copied.
    """
    attrs = job.policy.fixed_attributes(kind).copy()
    if job.index is not None:
        attrs[A.BRANCH_INDEX] = job.index
    if job.name is not None:
        attrs[A.BRANCH_NAME] = job.name
    if fingerprinted and (job.args or job.kwargs):  # inputs_of is [] while they are off
        prints = fingerprint.inputs_of(job.args, job.kwargs, scalars=kind != A.KIND_MAP)
        if prints:
            attrs[A.DATAFLOW_INPUTS] = prints
    return attrs


def _cancelled(span: Span, job: Job, reasons: Mapping[int, str] | None) -> str:
    """Record a cancellation on ``span``; return the outcome (``timeout`` for a deadline)."""
    reason = (reasons or {}).get(job.index if job.index is not None else -1) or A.CANCEL_CALLER
    status = A.OUTCOME_CANCELLED
    if reason == A.CANCEL_DEADLINE:
        status = A.OUTCOME_TIMEOUT
        record_error(span, DeadlineExceeded(job.label))
    if span.is_recording():
        span.set_attribute(A.CANCEL_REASON, reason)
    return status


def end_in_line(
    job: Job, *, parent: Context | None, kind: str | None, reasons: Mapping[int, str] | None
) -> str:
    """The span of a branch cancelled while it waited in line: from its submission to now.

    Returns its outcome (``cancelled``, or ``timeout`` for a deadline).
    """
    submitted = job.submitted or time.time_ns()
    span = tracer().start_span(job.policy.span_name, context=parent, start_time=submitted)
    ended = _cancelled(span, job, reasons)
    if span.is_recording():
        attrs = _branch_attrs(job, kind, True)
        attrs[A.BRANCH_OUTCOME] = ended
        attrs[A.BRANCH_ATTEMPTS] = 0
        attrs[A.QUEUE_WAIT] = (time.time_ns() - submitted) / 1e9
        span.set_attributes(attrs)
    span.end()
    return ended


def start_span(
    job: Job, parent: Context | None, kind: str | None
) -> tuple[Span, dict[str, Any], Context, cost.Tally]:
    """Open the branch span once its limiters are taken (both faces).

    Returns the span, the attributes to set when it ends (:func:`end_span`; empty when the
    span is not recording), the context to run the branch in (the span current, its
    limiters in force) and the tally of the calls made under it.
    """
    policy = job.policy
    begun = time.time_ns()
    span = tracer().start_span(policy.span_name, context=parent, start_time=begun)
    callsite.enter(span, policy.code)
    attrs: dict[str, Any] = {}  # empty: not recording
    if span.is_recording():
        attrs = _branch_attrs(job, kind, True)
        if job.site:
            attrs.update(job.site)
        if job.waited_on is not None:
            attrs[A.QUEUE_LIMITER] = job.waited_on
            if policy.backed and any(
                lim.name == job.waited_on and lim.shared for lim in policy.limiters
            ):
                attrs[A.QUEUE_SHARED] = True  # a process outside this trace may have held it
            # the wait in line runs from the submission to the span's start (conventions.md)
            if waited := (begun - job.submitted) / 1e9:
                attrs[A.QUEUE_WAIT] = waited
    ctx, tally = cost.span_context(span, parent)  # the calls under it are charged to tally
    # model calls in the branch count against its limiters (a fan-out's context has them)
    return span, attrs, permits.with_holders(policy.limiters, ctx), tally


def retry_or_fail(job: Job, span: Span, exc: Exception, attempts: int) -> float | Outcome[Any]:
    """After a failed attempt: the delay before the next one, or the branch's failure.

    Records the retry event (and pauses the limiters for a ``retry-after``), or the error.
    """
    policy = job.policy
    decision = None
    if policy.retry is not None and not job.once:
        decision = policy.retry.next_delay(attempts, exc)
    if decision is None:
        failed: Status = "timeout" if isinstance(exc, TimeoutError) else "error"
        record_error(span, exc)
        return Outcome(job.index or 0, failed, error=exc, name=job.name, attempts=attempts)
    delay, after = decision
    if span.is_recording():
        event: dict[str, Any] = {
            A.RETRY_ATTEMPT: attempts,
            A.RETRY_DELAY: delay,
            A.ERROR_TYPE: error_type(exc),
        }
        if after is not None:
            event[A.RETRY_AFTER] = after
        span.add_event(A.EVENT_RETRY, event)
    if after is not None:
        for limiter in policy.limiters:
            limiter.pause(after)
    return delay


def succeeded(
    job: Job, value: Any, attrs: dict[str, Any], kind: str | None, attempts: int
) -> Outcome[Any]:
    """The outcome of an attempt that returned ``value`` (its fingerprints in ``attrs``)."""
    if attrs:  # outputs_of is [] while fingerprints are off
        prints = fingerprint.outputs_of(value, scalars=kind != A.KIND_MAP)
        if prints:
            attrs[A.DATAFLOW_OUTPUTS] = prints
    return Outcome(job.index or 0, "ok", value=value, name=job.name, attempts=attempts)


def end_span(
    span: Span, attrs: dict[str, Any], status: str, attempts: int, waited: float, tally: cost.Tally
) -> None:
    """Close the branch span with what only its end knows (both faces)."""
    if attrs:
        # attempts and wait are set only when they differ from 1 and 0 (like OTel's
        # http.request.resend_count): each attribute costs about a microsecond per branch
        attrs[A.BRANCH_OUTCOME] = status
        if attempts != 1:
            attrs[A.BRANCH_ATTEMPTS] = attempts
        if waited:
            attrs[A.QUEUE_WAIT] = attrs.get(A.QUEUE_WAIT, 0.0) + waited
        if tally.calls:
            attrs.update(tally.attributes())
        span.set_attributes(attrs)
    callsite.leave(span)
    span.end()


async def run_branch(
    job: Job,
    *,
    parent: Context | None = None,
    kind: str | None = None,
    reasons: Mapping[int, str] | None = None,
    ended: Callable[[], None] | None = None,
) -> Outcome[Any]:
    """Run ``job`` as one branch span; return its outcome.

    Errors become an ``error``/``timeout`` outcome; cancellation is recorded on the span and
    re-raised. ``reasons`` maps a branch index to why its fan-out cancelled it. A job the
    fan-out ``admitted`` already holds its limiters for the first attempt. ``ended`` is
    called last, however the branch ends, in the branch's own task: a fan-out learns that the
    task is ending without a done-callback (one scheduled callback less per branch).
    """
    try:
        job.started = True
        policy = job.policy
        if not job.submitted:
            job.submitted = time.time_ns()
        if policy.limiters and not job.admitted:
            try:
                job.waited_on = await acquire_first(policy.limiters)
            except asyncio.CancelledError:
                # cancelled while waiting in line: the branch span covers the wait it never finished
                end_in_line(job, parent=parent, kind=kind, reasons=reasons)
                raise
        elif policy.limiters and (policy.backed or Pause.latest > time.monotonic()):
            # the fan-out took the limiters before this task's first step: a 429 may have paused
            # them since, and no attempt starts inside a pause already known (none can be in force
            # once the latest local pause has passed, unless a limiter is shared)
            try:
                while (pause := pause_of(policy.limiters))[0] > 0:
                    job.waited_on = job.waited_on or pause[1].name
                    await asyncio.sleep(pause[0])
            except asyncio.CancelledError:
                for limiter in policy.limiters:
                    limiter.release()
                end_in_line(job, parent=parent, kind=kind, reasons=reasons)
                raise
        span, attrs, ctx, tally = start_span(job, parent, kind)
        token = otel_context.attach(ctx)
        attempts = 0
        waited = 0.0
        status: str = A.OUTCOME_OK
        try:
            while True:
                attempts += 1
                if attempts > 1:
                    waited += await acquire_again(policy.limiters, ctx, span)
                try:
                    if policy.hedge is not None and not job.once:
                        value = await hedging.attempt(
                            job, lambda: _attempt(job), ctx, attrs, job.site
                        )
                    else:
                        value = await (_attempt(job) if policy.timeout is not None else job.call())
                except Exception as exc:
                    step = retry_or_fail(job, span, exc, attempts)
                    if isinstance(step, Outcome):
                        status = step.status
                        return step
                    await asyncio.sleep(step)
                    continue
                finally:
                    for limiter in policy.limiters:
                        limiter.release()
                return succeeded(job, value, attrs, kind, attempts)
        except asyncio.CancelledError:
            status = _cancelled(span, job, reasons)
            raise
        except BaseException as exc:  # KeyboardInterrupt and friends: record, end, propagate
            status = A.OUTCOME_ERROR
            record_error(span, exc)
            raise
        finally:
            otel_context.detach(token)
            end_span(span, attrs, status, attempts, waited, tally)
    finally:
        if ended is not None:
            ended()


async def lone_call(
    policy: CallPolicy,
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """One bounded, traced call of a ``@parallel`` function (what ``await f(x)`` runs)."""
    site = callsite.here()
    job = Job(policy, lambda: fn(*args, **kwargs), args=args, kwargs=kwargs, site=site)
    with applied(policy.budget):
        outcome = await run_branch(job, parent=None)
    if outcome.error is not None:
        raise outcome.error
    return outcome.value
