"""Permits: the one reserve/settle mechanism behind token limits and budgets.

Before a model call, the integration asks :func:`reserve` for its worst case (a
:class:`Demand`: one request, an upper bound of its input tokens, ``max_tokens`` of output,
and their price). Every :class:`Meter` in force takes its share *atomically*: all of them or
none. After the call, :meth:`Reservation.settle` tells each meter what the call really used
(:class:`Spent`) and gives back the rest. Two kinds of meter share this path
(:mod:`fanscope.sdk.meters`):

* a **rate** (:class:`~fanscope.sdk.meters.Rate`): requests or tokens per period, a GCRA
  bucket that refills; a reservation that does not fit yet *waits* until it does (a token
  limit paces);
* a **pot** (:class:`~fanscope.sdk.meters.Pot`): a budget of tokens or USD that never
  refills; a reservation that can never fit is *refused* (:class:`~fanscope.BudgetExceeded`);
  one that would fit once other calls in flight settle below their worst case waits for them,
  so a budget is spent to within one call's worst case of its limit, and never beyond it.

Which meters are in force is carried by a context variable (:func:`scope`): the limiters of
the branch that runs, and every enclosing budget. Local meters of the process share one lock,
so a reservation against several of them is one atomic step. A :class:`Ledger` is the unit
of atomicity: a reservation that spans several ledgers gives back what it took from one when
another refuses.

A call whose outcome is unknown (cancelled, timed out, cut off mid-stream) keeps its whole
reservation as spent: the provider may have billed it, and a budget must not be overspent.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Protocol

from opentelemetry import context as otel_context

from fanscope.errors import BudgetExceeded
from fanscope.sdk.meters import REFUSE, SETTLING, Meter, Unit


@dataclass(frozen=True, slots=True)
class Demand:
    """The worst case of one model call, known before it is made.

    Attributes:
        model: the model asked for.
        input_tokens: an upper bound of the call's input tokens (cached ones included).
        output_tokens: ``max_tokens``.
        usd: what the worst case costs, or ``None`` when the model has no known price.
    """

    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float | None = None
    requests: int = 1

    def of(self, unit: Unit) -> float | None:
        if unit == "requests":
            return float(self.requests)
        if unit == "input_tokens":
            return float(self.input_tokens)
        if unit == "output_tokens":
            return float(self.output_tokens)
        if unit == "tokens":
            return float(self.input_tokens + self.output_tokens)
        return self.usd


@dataclass(frozen=True, slots=True)
class Spent:
    """What a call really used; ``None`` for a figure that is not known (keep the worst case)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    usd: float | None = None
    requests: int = 1

    def of(self, unit: Unit) -> float | None:
        if unit == "requests":
            return float(self.requests)
        if unit == "usd":
            return self.usd
        if self.input_tokens is None or self.output_tokens is None:
            return None
        if unit == "input_tokens":
            return float(self.input_tokens)
        if unit == "output_tokens":
            return float(self.output_tokens)
        return float(self.input_tokens + self.output_tokens)


NOTHING = Spent(input_tokens=0, output_tokens=0, usd=0.0, requests=1)
"""A call the provider answered with an error status: no tokens billed (the request counts)."""


class Ledger(Protocol):
    """Meters that are reserved together in one atomic step (this process, or one Redis)."""

    def try_reserve(self, wants: Sequence[tuple[Meter, float]]) -> tuple[float, Meter | None]:
        """Take every amount, or none; (0.0, None) when taken, else the wait and whose."""
        ...

    def settle(self, done: Sequence[tuple[Meter, float, float]]) -> None: ...


class _Notifier:
    """Wakes waiters (threads and tasks on any loop) when a reservation settles."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 0
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def version(self) -> int:
        return self._version

    def notify(self) -> None:
        with self._cond:
            self._version += 1
            futures, self._futures = self._futures, []
            self._cond.notify_all()
        for loop, fut in futures:
            with suppress(RuntimeError):  # its loop closed meanwhile
                loop.call_soon_threadsafe(_done, fut)

    def wait(self, seen: int, timeout: float) -> None:
        with self._cond:
            if self._version == seen:
                self._cond.wait(timeout)

    async def wait_async(self, seen: int, within: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._version != seen:
                return
            self._futures.append((loop, fut))
        with suppress(TimeoutError):
            await asyncio.wait_for(fut, within)


def _done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


LOCK = threading.Lock()
_SEQ = itertools.count(1)  # the order in which this process's calls are sent (next() is atomic)
"""Guards every local meter: a reservation against several of them is one step."""
settled = _Notifier()


class LocalLedger:
    """The meters of this process, under :data:`LOCK`."""

    def try_reserve(self, wants: Sequence[tuple[Meter, float]]) -> tuple[float, Meter | None]:
        with LOCK:
            now = time.monotonic()
            worst, whose = 0.0, None
            for meter, amount in wants:
                wait = meter.check(amount, now)
                if wait == REFUSE:
                    return REFUSE, meter
                if wait == SETTLING and worst != SETTLING:
                    worst, whose = SETTLING, meter
                elif wait > 0 and worst != SETTLING and wait > worst:
                    worst, whose = wait, meter
            if whose is not None:
                return worst, whose
            for meter, amount in wants:
                meter.take(amount, now)
            return 0.0, None

    def settle(self, done: Sequence[tuple[Meter, float, float]]) -> None:
        with LOCK:
            now = time.monotonic()
            for meter, reserved, actual in done:
                meter.settle(reserved, actual, now)


LOCAL = LocalLedger()


# -- what is in force ------------------------------------------------------------------------


class Holder(Protocol):
    """A limiter or a budget: what the running code is under; gives its meters for a demand."""

    name: str

    def meters(self, demand: Demand) -> Sequence[tuple[Ledger, Meter]]: ...

    def observe(self, event: Observation) -> None:
        """After a call: what the provider said (headers, status, latency)."""
        ...

    def sending(self, demand: Demand, sign: int, seq: int) -> None:
        """A call under it is sent (``sign`` 1) or over (-1: answered, failed or given up);
        ``seq`` is the call's place in this process's order of sending (the same both times)."""
        ...


@dataclass(frozen=True, slots=True)
class Observation:
    """What one answer of the provider said, for limiters that learn from it."""

    status: int | None = None  # HTTP status; None: no answer (timeout, connection error)
    latency: float | None = None  # seconds from the request to the answer
    retry_after: float | None = None
    remaining: Mapping[str, tuple[float, float]] | None = None  # bucket: (limit, remaining)
    #: the :attr:`Reservation.seq` of the call whose answer this is: calls sent after it may
    #: not have reached the provider when it answered (None: unknown, every call in flight)
    sent_seq: int | None = None


# Kept in the OpenTelemetry context, not a context variable of its own: whatever carries a
# span's parent into a task or a thread (fanscope's own threads, OpenTelemetry's threading
# instrumentation that configure() installs) carries the limits and budgets in force with it.
_KEY = otel_context.create_key("fanscope-permits-in-force")

Token = object


def in_force() -> tuple[Holder, ...]:
    """The limiters and budgets the running code is under, outermost first."""
    found = otel_context.get_value(_KEY)
    return found if isinstance(found, tuple) else ()


def with_holders(holders: Sequence[Holder], ctx: otel_context.Context) -> otel_context.Context:
    """``ctx`` with ``holders`` in force too (``ctx`` itself when they already are)."""
    found = ctx.get(_KEY)
    if found is holders or not holders:  # a branch under its own fan-out: nothing to add
        return ctx
    current = found if isinstance(found, tuple) else ()
    added = tuple(h for h in holders if h not in current)
    if not added:
        return ctx
    if not current and len(added) == len(holders) and isinstance(holders, tuple):
        added = holders  # the same tuple: its branches then find it by identity
    return otel_context.set_value(_KEY, current + added if current else added, ctx)


def enter(holders: Sequence[Holder]) -> Token | None:
    """Put ``holders`` in force until :func:`leave` (what a branch does for its limiters)."""
    if not holders:
        return None
    current = in_force()
    added = tuple(h for h in holders if h not in current)
    if not added:
        return None
    return otel_context.attach(otel_context.set_value(_KEY, current + added))


def leave(token: Token | None) -> None:
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


@contextmanager
def scope(*holders: Holder) -> Iterator[None]:
    """Put ``holders`` in force (on top of those already) for the block."""
    token = enter(holders)
    try:
        yield
    finally:
        leave(token)


# -- a reservation ----------------------------------------------------------------------------


@dataclass
class Reservation:
    """The permits one call holds, from :func:`reserve` until :meth:`settle`."""

    demand: Demand
    holders: tuple[Holder, ...]
    taken: list[tuple[Ledger, Meter, float]] = field(default_factory=list)
    reserved_at: float = field(default_factory=time.time)
    waited: float = 0.0
    waited_on: str | None = None
    waited_for: str = "rate"  # "rate" (a rate's refill, a pause) or "budget" (settlements)
    waited_shared: bool = False  # the meter waited on is shared with other processes (Redis)
    spent: Spent | None = None
    settled_amounts: dict[str, float] = field(default_factory=dict)
    in_flight: bool = False  # counted by its holders as sent and not yet over
    seq: int = 0  # its place in this process's order of sending (:meth:`sent`)

    def sent(self) -> Reservation:
        """The call goes out: each holder counts it in flight until :meth:`settle`."""
        self.in_flight = True
        self.seq = next(_SEQ)
        for holder in self.holders:
            holder.sending(self.demand, 1, self.seq)
        return self

    def amount(self, unit: Unit) -> float:
        return max((a for _, m, a in self.taken if m.unit == unit), default=0.0)

    def settle(self, spent: Spent | None) -> None:
        """The call is over: it used ``spent`` (``None``: unknown, the worst case stays spent)."""
        if self.in_flight:
            self.in_flight = False
            for holder in self.holders:
                holder.sending(self.demand, -1, self.seq)
        if self.spent is not None or not self.taken:
            return
        self.spent = spent if spent is not None else Spent()
        by_ledger: dict[int, tuple[Ledger, list[tuple[Meter, float, float]]]] = {}
        for ledger, meter, reserved in self.taken:
            actual = self.spent.of(meter.unit)
            if actual is None:
                actual = reserved
            self.settled_amounts[meter.unit] = actual
            by_ledger.setdefault(id(ledger), (ledger, []))[1].append((meter, reserved, actual))
        for ledger, done in by_ledger.values():
            ledger.settle(done)
        settled.notify()

    def observe(self, event: Observation) -> None:
        """What the answer to this call said (it carries the call's :attr:`seq`)."""
        if event.sent_seq is None and self.seq:
            event = replace(event, sent_seq=self.seq)
        for holder in self.holders:
            holder.observe(event)


def _wants(demand: Demand, holders: Sequence[Holder]) -> list[tuple[Ledger, Meter, float]]:
    wants: list[tuple[Ledger, Meter, float]] = []
    for holder in holders:
        for ledger, meter in holder.meters(demand):
            amount = demand.of(meter.unit)
            if amount is None:
                raise BudgetExceeded.unpriced(meter.name, demand.model)
            wants.append((ledger, meter, amount))
    return wants


def _attempt(
    wants: list[tuple[Ledger, Meter, float]],
) -> tuple[float, Meter | None, list[tuple[Ledger, Meter, float]]]:
    """Try every ledger in turn; on a refusal or a wait, give back what earlier ones took."""
    taken: list[tuple[Ledger, Meter, float]] = []
    ledgers: dict[int, tuple[Ledger, list[tuple[Meter, float]]]] = {}
    for ledger, meter, amount in wants:
        ledgers.setdefault(id(ledger), (ledger, []))[1].append((meter, amount))
    for ledger, pairs in ledgers.values():
        wait, whose = ledger.try_reserve(pairs)
        if whose is not None:
            for done_ledger, meter, amount in taken:
                done_ledger.settle([(meter, amount, 0.0)])
            return wait, whose, []
        taken += [(ledger, meter, amount) for meter, amount in pairs]
    return 0.0, None, taken


_POLL = 0.05  # a waiter for settlements looks again at least this often (other processes)


def _refusal(meter: Meter, demand: Demand) -> BudgetExceeded:
    spent = getattr(meter, "spent", None)
    limit = getattr(meter, "limit", None)
    return BudgetExceeded(meter.name, meter.unit, spent, limit, demand.of(meter.unit))


def _reserving(
    demand: Demand, holders: Sequence[Holder] | None
) -> Generator[tuple[int, float], None, Reservation | None]:
    """The reservation loop both faces share: yields what to wait for (``(version, _POLL)``
    with the settled counter's version when a budget waits for settlements, else
    ``(-1, seconds)`` to sleep) and returns the reservation."""
    holders = tuple(in_force() if holders is None else holders)
    if not holders:
        return None
    wants = _wants(demand, holders)
    if not wants:  # nothing to take yet: the answer still tells the limiters (headers, 429s)
        return Reservation(demand, holders).sent()
    started = time.monotonic()
    waited_on: str | None = None
    waited_for = "rate"
    waited_shared = False
    while True:
        seen = settled.version()
        wait, whose, taken = _attempt(wants)
        if whose is None:
            break
        if wait == REFUSE:
            raise _refusal(whose, demand)
        waited_on = whose.name
        waited_for = "budget" if wait == SETTLING else "rate"
        waited_shared = any(m is whose and getattr(lg, "shared", False) for lg, m, _ in wants)
        yield (seen, _POLL) if wait == SETTLING else (-1, wait)
    res = Reservation(demand, holders, taken).sent()
    res.waited, res.waited_on = time.monotonic() - started, waited_on
    res.waited_for = waited_for
    res.waited_shared = waited_shared
    return res


def reserve_sync(demand: Demand, holders: Sequence[Holder] | None = None) -> Reservation | None:
    """Reserve ``demand`` against everything in force, blocking this thread while it waits.

    Returns ``None`` when nothing is in force (a reservation that holds nothing when only
    limiters without a meter yet are: their answers are still observed). Raises
    :class:`~fanscope.BudgetExceeded` when a budget can never take it.
    """
    steps = _reserving(demand, holders)
    try:
        while True:
            seen, wait = next(steps)
            if seen >= 0:
                settled.wait(seen, wait)
            else:
                time.sleep(wait)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def reserve(demand: Demand, holders: Sequence[Holder] | None = None) -> Reservation | None:
    """:func:`reserve_sync` for async code: waits without blocking the loop."""
    steps = _reserving(demand, holders)
    try:
        while True:
            seen, wait = next(steps)
            if seen >= 0:
                await settled.wait_async(seen, wait)
            else:
                await asyncio.sleep(wait)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


Pricer = Callable[[str, int, int], float | None]
"""``(model, input_tokens, output_tokens) -> USD`` of the worst case, or None if unpriced."""
