"""Model calls under limiters and budgets: the worst case before, the settlement after.

The wrappers call :func:`reserve_sync` / :func:`reserve` before a Messages request is sent,
:func:`settle` once when the call is over (its answer complete, or the call failed), keep each
answer's headers (:func:`heard`) and tell the limiters of each retried attempt
(:func:`retried`). The mechanism is :mod:`fanscope.sdk.permits`.

The input tokens are bounded, not guessed: Claude's tokenizer never makes more tokens than
the text has UTF-8 bytes, so a call's text in bytes (plus a margin per message, per tool and
per image) is an upper bound that holds for any model. It is about three to four times the
real count for English prose; the settlement gives the difference back at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from fanscope.errors import BudgetExceeded
from fanscope.integrations.anthropic.mapping import refused
from fanscope.sdk import attributes as A
from fanscope.sdk import permits, prices
from fanscope.sdk.permits import NOTHING, Demand, Observation, Reservation, Spent
from fanscope.sdk.tracing import tracer

_PER_MESSAGE = 16  # role and turn markers, with room to spare
_PER_CALL = 64
_PER_TOOLS = 1024  # the tool-use system prompt the API adds when tools are given
_PER_IMAGE = 6400  # images are resized to at most ~1.15 megapixels: ~1,600 tokens, x4 margin


def _bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    return _content_bound(value)


def _content_bound(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return _bytes(content)
    if isinstance(content, list | tuple):
        total = 0
        for block in content:
            kind = block.get("type") if isinstance(block, Mapping) else getattr(block, "type", None)
            if kind == "image":
                total += _PER_IMAGE
            elif kind == "text":
                text = block.get("text") if isinstance(block, Mapping) else block.text
                total += _bytes(str(text or ""))
            else:
                total += _json_bytes(block)
        return total
    return _json_bytes(content)


def _json_bytes(value: Any) -> int:
    try:
        if hasattr(value, "model_dump"):
            value = value.model_dump()
        return len(json.dumps(value, default=str).encode())
    except Exception:
        return len(str(value).encode())


def input_bound(kwargs: Mapping[str, Any]) -> int:
    """An upper bound of the input tokens of a Messages call with these arguments."""
    total = _PER_CALL + _content_bound(kwargs.get("system"))
    messages = kwargs.get("messages") or []
    for message in messages if isinstance(messages, list | tuple) else []:
        total += _PER_MESSAGE
        content = (
            message.get("content")
            if isinstance(message, Mapping)
            else getattr(message, "content", "")
        )
        total += _content_bound(content)
    tools = kwargs.get("tools")
    if tools:
        total += _PER_TOOLS + _json_bytes(list(tools))
    return total


def _price(model: str) -> prices.Price | None:
    """The model's price, or None when it has none."""
    found = prices.lookup(model)
    return None if isinstance(found, str) else found


def worst_usd(model: str, input_tokens: int, max_tokens: int) -> float | None:
    """The most a call can cost: every input token at the dearest input price it may pay
    (a cache write costs more than plain input), ``max_tokens`` at the output price."""
    price = _price(model)
    if price is None:
        return None
    for _, tier in price.above:  # a long-context price may be dearer still
        price = tier if tier.input >= price.input else price
    dearest = max(
        p for p in (price.input, price.cache_write_5m, price.cache_write_1h) if p is not None
    )
    worst = price.worst_case(input_tokens, max_tokens)
    return float(worst + input_tokens * max(0.0, dearest - price.input) / 1e6)


def demand_of(kwargs: Mapping[str, Any], usd: bool) -> Demand:
    model = str(kwargs.get("model", ""))
    max_tokens = kwargs.get("max_tokens")
    out = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 0
    bound = input_bound(kwargs)
    return Demand(model, bound, out, worst_usd(model, bound, out) if usd else None)


def _needs_usd() -> bool:
    return any(m.unit == "usd" for h in permits.in_force() for _, m in h.meters(Demand()))


def _refused(error: BudgetExceeded) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        attrs: dict[str, Any] = {A.BUDGET_NAME: error.budget, A.BUDGET_UNIT: error.unit}
        if error.needed is not None:
            attrs[A.BUDGET_NEEDED] = error.needed
        if error.spent is not None:
            attrs[A.BUDGET_SPENT_USD if error.unit == "usd" else A.BUDGET_SPENT_TOKENS] = (
                error.spent
            )
        if error.limit is not None:
            attrs[A.BUDGET_LIMIT_USD if error.unit == "usd" else A.BUDGET_LIMIT_TOKENS] = (
                error.limit
            )
        span.add_event(A.EVENT_BUDGET_STOP, attrs)


def _waited(res: Reservation | None) -> Reservation | None:
    """A wait for permits is time in line: a ``queue wait`` span under the current span."""
    if res is None or res.waited <= 0 or res.waited_on is None:
        return res
    budget = res.waited_for == "budget"
    end = time.time_ns()
    attributes: dict[str, Any] = {
        A.ROLE: A.ROLE_QUEUE,
        A.QUEUE_REASON: A.QUEUE_REASON_BUDGET if budget else A.QUEUE_REASON_RATE,
        A.QUEUE_LIMITER: res.waited_on,
    }
    if res.waited_shared:
        attributes[A.QUEUE_SHARED] = True  # the rate was spent by other processes too
    span = tracer().start_span(
        A.QUEUE_SPAN_NAME, start_time=end - int(res.waited * 1e9), attributes=attributes
    )
    span.end(end_time=end)
    return res


def reserve_sync(kwargs: Mapping[str, Any]) -> Reservation | None:
    """Before a sync call: take its worst case from everything in force (may block)."""
    if not permits.in_force():
        return None
    try:
        return _waited(permits.reserve_sync(demand_of(kwargs, _needs_usd())))
    except BudgetExceeded as error:
        _refused(error)
        raise


async def reserve(kwargs: Mapping[str, Any]) -> Reservation | None:
    """Before an async call: take its worst case from everything in force."""
    if not permits.in_force():
        return None
    try:
        return _waited(await permits.reserve(demand_of(kwargs, _needs_usd())))
    except BudgetExceeded as error:
        _refused(error)
        raise


def _spent(tracked: Any, res: Reservation, error: BaseException | None) -> Spent | None:
    """What the call used, as far as a budget may count it: its final usage; nothing when the
    API refused it with an error status; else (cancelled, timed out, cut off) at most what it
    was allowed: the input it reported and ``max_tokens`` of output, or the whole worst case
    when not even its input is known (``None``)."""
    call = tracked.call
    if not call.usage_final and error is not None and refused(error):
        return NOTHING
    if call.usage_final:
        usage = call.priced_usage()
    elif "input_tokens" in call.usage:
        usage = call.priced_usage()
        usage = prices.Usage(
            input_tokens=usage.input_tokens,
            output_tokens=res.demand.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_5m_tokens=usage.cache_write_5m_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            web_searches=usage.web_searches,
        )
    else:
        return None
    usd: float | None = None
    if any(m.unit == "usd" for _, m, _ in res.taken):
        model = call.response_model or call.model
        priced = prices.cost(model, usage, call.service_tier, call.speed)
        if not isinstance(priced, float):
            return None  # not priceable after all: the worst case stays spent
        usd = priced
    return Spent(usage.total_input, usage.output_tokens, usd)


def settle(tracked: Any, error: BaseException | None) -> None:
    """The call is over: settle its permits to what it used, say so on its span, and tell its
    limiters what the answer said (once; a no-op without permits)."""
    res: Reservation | None = tracked.reservation
    if res is None:
        return
    tracked.reservation = None
    spent = _spent(tracked, res, error) if res.taken else None
    res.settle(spent)
    _record(tracked.span, res, spent, complete=tracked.call.usage_final)
    status = getattr(error, "status_code", None) if error is not None else 200
    headers = tracked.heard
    response = getattr(error, "response", None)
    if response is not None:
        headers = getattr(response, "headers", headers)
    if error is not None and status is None:
        names = {cls.__name__ for cls in type(error).__mro__}
        if "APITimeoutError" not in names:
            return  # a cancellation or a lost connection says nothing about load
    res.observe(observation(status, headers, time.monotonic() - tracked.call.started))


def _record(span: Any, res: Reservation, spent: Spent | None, *, complete: bool) -> None:
    if span is None or not span.is_recording() or not res.taken:
        return
    demand = res.demand
    reserved: dict[str, Any] = {
        A.PERMIT_HOLDERS: [h.name for h in res.holders],
        A.PERMIT_INPUT_TOKENS: demand.input_tokens,
        A.PERMIT_OUTPUT_TOKENS: demand.output_tokens,
    }
    if demand.usd is not None:
        reserved[A.PERMIT_USD] = demand.usd
    if res.waited > 0 and res.waited_on is not None:
        reserved[A.PERMIT_WAIT] = res.waited
        reserved[A.PERMIT_WAITED_ON] = res.waited_on
    span.add_event(A.EVENT_PERMIT_RESERVED, reserved, timestamp=int(res.reserved_at * 1e9))
    settled: dict[str, Any] = {}
    if spent is None or (not complete and spent is not NOTHING):
        settled[A.PERMIT_WORST_CASE_KEPT] = True
    amounts = res.settled_amounts
    for unit, key in (
        ("input_tokens", A.PERMIT_INPUT_TOKENS),
        ("output_tokens", A.PERMIT_OUTPUT_TOKENS),
    ):
        if spent is not None:
            settled[key] = int(getattr(spent, unit) or 0)
    if "usd" in amounts:
        settled[A.PERMIT_USD] = amounts["usd"]
    span.add_event(A.EVENT_PERMIT_SETTLED, settled)


def heard(tracked: Any, response: Any) -> None:
    """A successful HTTP answer of the call: keep its headers for the settlement."""
    if tracked is not None and tracked.reservation is not None and response is not None:
        tracked.heard = response.headers


def retried(tracked: Any, response: Any) -> None:
    """An attempt failed and the client will retry it: a 429 pauses the limiters in force
    now, and an adaptive limit hears of it, before the client sleeps."""
    if tracked is None or tracked.reservation is None or response is None:
        return
    latency = time.monotonic() - tracked.call.started
    tracked.reservation.observe(observation(int(response.status_code), response.headers, latency))


# -- what the answers say --------------------------------------------------------------------

_BUCKETS = {
    "requests": "requests",
    "input-tokens": "input_tokens",
    "output-tokens": "output_tokens",
    "tokens": "tokens",
}


def remaining_of(headers: Any) -> dict[str, tuple[float, float]]:
    """``anthropic-ratelimit-<bucket>-limit`` and ``-remaining`` -> ``{bucket: (limit, left)}``."""
    found: dict[str, tuple[float, float]] = {}
    for name, unit in _BUCKETS.items():
        try:
            limit = float(headers.get(f"anthropic-ratelimit-{name}-limit"))
            left = float(headers.get(f"anthropic-ratelimit-{name}-remaining"))
        except (TypeError, ValueError):
            continue
        found[unit] = (limit, left)
    return found


def retry_after_of(headers: Any) -> float | None:
    """The wait an answer asks for (``retry-after-ms`` first, as the client reads it)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name)) * scale)
        except (TypeError, ValueError):
            continue
    return None


def observation(status: int | None, headers: Any, latency: float | None) -> Observation:
    return Observation(
        status=status,
        latency=latency,
        retry_after=retry_after_of(headers) if headers is not None else None,
        remaining=remaining_of(headers) if headers is not None else None,
    )
