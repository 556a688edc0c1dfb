"""The two kinds of meter a model call takes permits from in this process.

* a **rate** (:class:`Rate`): requests or tokens per period, a GCRA bucket that refills; a
  reservation that does not fit yet waits until it does (a token limit paces);
* a **pot** (:class:`Pot`): a budget of tokens or USD that never refills; a reservation that
  can never fit is refused, one that would fit once other calls in flight settle waits.

What a :class:`Meter` is asked (:meth:`Meter.check`, :meth:`~Meter.take`,
:meth:`~Meter.settle`) is all :mod:`fanscope.sdk.permits` knows of it; the meters shared
through Redis answer the same questions on the server (:mod:`fanscope.sdk.redis_ledger`).
Local meters are guarded by :data:`fanscope.sdk.permits.LOCK`.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

Unit = Literal["requests", "input_tokens", "output_tokens", "tokens", "usd"]

REFUSE = math.inf  # a meter's answer: this demand can never fit
SETTLING = -1.0  # a meter's answer: it fits once calls in flight settle


class Meter(Protocol):
    """Something a call takes permits from. Local meters are guarded by
    :data:`fanscope.sdk.permits.LOCK`."""

    name: str
    unit: Unit

    def check(self, amount: float, now: float) -> float:
        """0.0: it fits now; > 0: seconds to wait; :data:`SETTLING`; :data:`REFUSE`."""
        ...

    def take(self, amount: float, now: float) -> None: ...

    def settle(self, reserved: float, actual: float, now: float) -> None:
        """The call used ``actual`` of the ``reserved``: give back (or charge) the difference."""
        ...


class Rate:
    """``amount`` per ``per`` seconds, in bursts of up to ``amount``: a weighted GCRA bucket.

    One timestamp (the theoretical arrival time, ``tat``) is the whole state: the bucket is
    full when ``tat <= now``; taking ``n`` moves it ``n * per / amount`` seconds on; giving
    back moves it back. A demand larger than the whole bucket goes once the bucket is full
    (it then owes the rest), instead of never.
    """

    def __init__(self, name: str, unit: Unit, amount: float, per: float = 60.0) -> None:
        self.name = name
        self.unit = unit
        self.amount = float(amount)
        self.per = float(per)
        self._interval = self.per / self.amount
        self.tat = 0.0

    def check(self, amount: float, now: float) -> float:
        tat = max(self.tat, now)
        if amount >= self.amount:
            return max(0.0, tat - now)
        return max(0.0, tat + amount * self._interval - self.per - now)

    def take(self, amount: float, now: float) -> None:
        self.tat = max(self.tat, now) + amount * self._interval

    def settle(self, reserved: float, actual: float, now: float) -> None:
        self.tat += (actual - reserved) * self._interval

    def available(self, now: float) -> float:
        return max(0.0, min(self.amount, (now + self.per - max(self.tat, now)) / self._interval))

    def align(self, remaining: float, now: float) -> None:
        """The provider says only ``remaining`` is left now: never assume more than that."""
        self.tat = max(self.tat, now + self.per - max(0.0, remaining) * self._interval)

    def resize(self, amount: float, now: float) -> None:
        """A new limit (a header says so): keep what is left, in the new units' time."""
        left = self.available(now)
        self.amount = float(amount)
        self._interval = self.per / self.amount
        self.tat = now + self.per - min(left, self.amount) * self._interval

    def __repr__(self) -> str:
        return f"Rate({self.name!r}, {self.unit}, {self.amount:g} per {self.per:g}s)"


class Pot:
    """A budget of ``limit`` (tokens or USD) that never refills.

    ``spent`` counts settled calls, ``reserved`` the worst cases of calls in flight. A demand
    that would take ``spent`` past the limit is refused; one that fits only once calls in
    flight settle waits for them.
    """

    def __init__(self, name: str, unit: Unit, limit: float) -> None:
        self.name = name
        self.unit = unit
        self.limit = float(limit)
        self.spent = 0.0
        self.reserved = 0.0
        self.refused = 0
        self.refused_need = 0.0  # the last refused worst case

    def check(self, amount: float, now: float) -> float:
        if self.spent + amount > self.limit * (1 + 1e-12):
            self.refused += 1
            self.refused_need = amount
            return REFUSE
        if self.spent + self.reserved + amount > self.limit * (1 + 1e-12):
            return SETTLING
        return 0.0

    def take(self, amount: float, now: float) -> None:
        self.reserved += amount

    def settle(self, reserved: float, actual: float, now: float) -> None:
        self.reserved = max(0.0, self.reserved - reserved)
        self.spent += actual

    def __repr__(self) -> str:
        return f"Pot({self.name!r}, {self.spent:g} of {self.limit:g} {self.unit})"
