"""A limiter's pacing of model calls: requests and tokens per minute, and what the provider says.

Two sets of :class:`~fanscope.sdk.meters.Rate` meters, reserved together with any budget:

* the limits the user gave (``Limiter(tokens_per_minute=..., requests_per_minute=...)``);
* the limits the provider announces in its answers' rate-limit headers (Anthropic's
  ``anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining}``):
  learned from the first answer that carries them, and after every answer set to never assume
  more than the provider says ``remaining``. So a fan-out slows down *before* a 429, by
  exactly what the provider has left, even when nobody configured a number.

A ``retry-after`` pause is a meter too: every model call under the limiter waits it out, not
only the next branch attempt.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from fanscope.sdk import permits
from fanscope.sdk.meters import Meter, Rate, Unit
from fanscope.sdk.permits import Demand, Ledger
from fanscope.sdk.redis_ledger import Unavailable

if TYPE_CHECKING:
    from fanscope.sdk.redis_backend import Heard, SharedLimit

# the units of the provider's buckets, by the name in its headers
HEARD_UNITS: Mapping[str, Unit] = {
    "requests": "requests",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "tokens": "tokens",
}


_ANSWERED = 256  # calls over whose place in the server's order is kept for their answer


class Pause:
    """A meter that holds every call until a ``retry-after`` has passed (never takes anything)."""

    unit: Unit = "requests"
    #: the latest ``resume_at`` of any pause of this process (``time.monotonic()``): once it
    #: has passed no local pause is in force, which a branch checks in one comparison
    latest = 0.0

    def __init__(self, name: str) -> None:
        self.name = name
        self.resume_at = 0.0

    def extend(self, until: float) -> None:
        """Hold every call until ``until`` at least (``time.monotonic()``)."""
        if until > self.resume_at:
            self.resume_at = until
            Pause.latest = max(Pause.latest, until)

    def check(self, amount: float, now: float) -> float:
        return max(0.0, self.resume_at - now)

    def take(self, amount: float, now: float) -> None:
        return None

    def settle(self, reserved: float, actual: float, now: float) -> None:
        return None


class Pacing:
    """The rate meters of one limiter (configured and heard) and its pause."""

    def __init__(
        self,
        name: str,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
        follow_headers: bool = True,
        shared: SharedLimit | None = None,
    ) -> None:
        self.name = name
        self.follow_headers = follow_headers
        self.shared = shared
        self.ledger: Ledger = permits.LOCAL if shared is None else shared.ledger
        self.configured: list[Meter] = []
        for unit, amount in (
            ("requests", requests_per_minute),
            ("tokens", tokens_per_minute),
            ("input_tokens", input_tokens_per_minute),
            ("output_tokens", output_tokens_per_minute),
        ):
            if amount is not None:
                self.configured.append(Rate(name, unit, amount))  # type: ignore[arg-type]
        self.heard: dict[str, Rate] = {}
        #: what this process's calls under the limiter have sent and not yet had answered,
        #: by unit: the provider may not have counted it when it wrote its headers
        self.in_flight: dict[Unit, float] = dict.fromkeys(HEARD_UNITS.values(), 0.0)
        #: the same, by call (its ``seq``): what it asked for in each unit
        self._calls: dict[int, dict[Unit, float]] = {}
        #: with a shared limit: each call's place in the server's order of sending, while in
        #: flight, and for the last calls over (their answers are heard after they settle)
        self._order: dict[int, int] = {}
        self._answered: dict[int, int] = {}
        self.pause = Pause(name)
        self._room: dict[str, float] = {}  # a shared heard bucket's available share
        if shared is not None:
            for meter in self.configured:
                shared.ledger.register(meter, f"meter:{meter.unit}")
            shared.ledger.register(self.pause, "pause")

    @property
    def counts_tokens(self) -> bool:
        return any(m.unit != "requests" for m in self.configured) or bool(self.heard)

    def meters(self, demand: Demand) -> Sequence[tuple[Ledger, Meter]]:
        found: list[tuple[Ledger, Meter]] = [(self.ledger, m) for m in self.configured]
        found += [(self.ledger, m) for m in self.heard.values()]
        if self.shared is not None:  # another process may have paused the shared limit
            found.append((self.ledger, self.pause))
        elif self.pause.resume_at > time.monotonic():
            found.append((permits.LOCAL, self.pause))
        return found

    def sending(self, demand: Demand, sign: int, seq: int) -> None:
        """Call ``seq`` is sent (``sign`` 1) or over (-1).

        With a shared limit, the call is counted in flight on the server too, in the server's
        order of sending, so that the headers another process hears come off by it if it was
        sent after the call they answer (one round trip each way).
        """
        if not self.follow_headers:
            return
        shared = self.shared
        with permits.LOCK:
            if sign > 0:
                amounts = {u: a for u in self.in_flight if (a := demand.of(u))}
                if not amounts:
                    return
                self._calls[seq] = amounts
            else:
                found = self._calls.pop(seq, None)
                if found is None:
                    return
                amounts = found
            for unit, amount in amounts.items():
                self.in_flight[unit] = max(0.0, self.in_flight[unit] + sign * amount)
            order = self._order.pop(seq, None) if sign < 0 else None
            if order is not None:
                self._answered[seq] = order  # its answer's headers are heard after this
                while len(self._answered) > _ANSWERED:
                    del self._answered[next(iter(self._answered))]
        if shared is None or (sign > 0 and not shared.up()):
            return
        with suppress(Unavailable):  # Redis down: this process's own count still holds
            if sign > 0:
                order = shared.fly(amounts)
                with permits.LOCK:
                    if seq in self._calls:  # not over meanwhile
                        self._order[seq] = order
                    else:
                        shared.landed(order)
            elif order is not None:
                shared.landed(order)

    def _own(self, unit: Unit, after: int | None) -> float:
        """This process's calls in flight in ``unit``, of those sent after call ``after``
        (``None``: all of them). Under :data:`permits.LOCK`."""
        if after is None:
            return self.in_flight[unit]
        return sum(a.get(unit, 0.0) for seq, a in self._calls.items() if seq > after)

    def hear(self, state: Mapping[str, tuple[float, float]], after: int | None = None) -> None:
        """The provider's buckets: ``{name: (limit, remaining)}`` (see :data:`HEARD_UNITS`),
        in the answer to call ``after`` (its :attr:`~permits.Reservation.seq`; ``None``: not
        known).

        What ``remaining`` says is what the provider had left when it answered, counting the
        requests it had received by then: the call it answers, and the calls sent before that
        one. Calls sent after it may have reached it later (a busy machine sends them long
        before the answer is read): they are taken from ``remaining``, so the limiter never
        assumes more than is really left; the calls sent before it are not taken off again.
        Some calls sent after it may have been counted too, which lowers the burst, not the
        rate, and only until the next answer. With a shared limit, the calls sent after it
        by every process sharing the limit are taken off, in the server's order of sending
        (counted on the server: :meth:`sending`).
        """
        if not self.follow_headers:
            return
        if "input_tokens" in state or "output_tokens" in state:
            state = {k: v for k, v in state.items() if k != "tokens"}  # the two say it better
        shared = self.shared
        heard: list[tuple[str, Heard]] = []
        with permits.LOCK:
            order = -1 if after is None else self._order.get(after, self._answered.get(after, -1))
        for name, (limit, remaining) in state.items():
            unit = HEARD_UNITS.get(name)
            if unit is None or not limit > 0:
                continue
            with permits.LOCK:
                own = self._own(unit, after)
                now = time.monotonic()
                meter = self.heard.get(name)
                old = limit
                if meter is None:
                    meter = Rate(f"{self.name} (provider)", unit, limit)
                    if shared is not None:
                        shared.ledger.register(meter, f"heard:{unit}")
                    self.heard[name] = meter
                elif meter.amount != limit:
                    old = meter.amount
                    meter.resize(limit, now)
                meter.align(remaining - own, now)  # kept for when Redis is down
            heard.append((name, (unit, remaining, limit, meter.per, old, own)))
        if heard and shared is not None and shared.up():
            with suppress(Unavailable):  # Redis down: the local buckets above pace alone
                # less the calls every process sharing the limit sent after this one
                rooms = shared.align([h for _, h in heard], order)
                self._room.update(zip((name for name, _ in heard), rooms, strict=True))

    def room(self) -> float:
        """The smallest share of a heard bucket still available (1.0: all, or none heard)."""
        if self.shared is not None and self.shared.up() and self._room:
            return min(self._room.values())
        now = time.monotonic()
        with permits.LOCK:
            shares = [m.available(now) / m.amount for m in self.heard.values()]
        return min(shares, default=1.0)
