"""The permits side of a limit shared through Redis: rates, the pause and budget pots.

A :class:`RedisLedger` is the :class:`~fanscope.sdk.permits.Ledger` of one shared limit (or
shared budget): a model call's reservation against all of its meters is one Lua script
(:data:`~fanscope.sdk.redis_scripts.RESERVE`), its settlement another. While Redis cannot be
reached, the same meters are reserved in this process (:data:`~fanscope.sdk.permits.LOCAL`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from fanscope.sdk import permits
from fanscope.sdk import redis_scripts as lua
from fanscope.sdk.meters import REFUSE, SETTLING, Meter, Pot

if TYPE_CHECKING:
    from fanscope.sdk.redis_backend import SharedLimit


class Unavailable(Exception):
    """Redis did not answer (or is being left alone after it did not): use the local limit."""


class RedisLedger:
    """Rates, the pause and budget pots of one shared limit, reserved together in one script."""

    def __init__(self, limit: SharedLimit) -> None:
        self.limit = limit
        self._keys: dict[int, str] = {}
        self.pots: dict[str, float] = {}  # pot key -> worst cases this process has in flight

    @property
    def shared(self) -> bool:
        """Whether a wait on these meters is a wait on other processes too (Redis is up)."""
        return self.limit.up()

    def register(self, meter: Meter, part: str) -> None:
        self._keys[id(meter)] = f"{self.limit.key}:{part}"

    def key_of(self, meter: Meter) -> str:
        return self._keys.get(id(meter), f"{self.limit.key}:pause")

    def _spec(self, meter: Meter) -> tuple[str, str, float, float]:
        """(key, kind, and for a rate: ms per unit and period in ms; for a pot: limit, lease)."""
        key = self.key_of(meter)
        if isinstance(meter, Pot):
            return key, "pot", meter.limit, self.limit.backend.lease * 1000
        per = float(getattr(meter, "per", 60.0))
        amount = float(getattr(meter, "amount", 0.0))
        if amount <= 0:
            return key, "pause", 0.0, 0.0
        return key, "rate", per / amount * 1000, per * 1000

    def try_reserve(self, wants: Sequence[tuple[Meter, float]]) -> tuple[float, Meter | None]:
        if not self.limit.up():
            return permits.LOCAL.try_reserve(wants)
        keys: list[str] = []
        args: list[Any] = [self.limit.backend.owner]
        for meter, amount in wants:
            key, kind, x, y = self._spec(meter)
            keys.append(key)
            args += [kind, amount, x, y]
        try:
            args[0] = self.limit.backend.owner_id()
            wait_us, whose = self.limit.backend.call(lua.RESERVE, keys, args)
        except Unavailable:
            return permits.LOCAL.try_reserve(wants)
        wait_us, whose = int(wait_us), int(whose)
        if whose == 0:
            for meter, amount in wants:
                if isinstance(meter, Pot):
                    key = self.key_of(meter)
                    self.pots[key] = self.pots.get(key, 0.0) + amount
                    meter.reserved += amount
            if self.pots:
                self.limit.backend.ensure_worker()  # reservations in flight are renewed
            return 0.0, None
        meter = wants[whose - 1][0]
        if wait_us == -1:
            if isinstance(meter, Pot):
                meter.refused += 1
                meter.refused_need = wants[whose - 1][1]
                total = self.spent(meter)  # the error says what every process spent
                if total is not None:
                    meter.spent = max(meter.spent, total)
            return REFUSE, meter
        if wait_us == -2:
            return SETTLING, meter
        return wait_us / 1e6, meter

    def settle(self, done: Sequence[tuple[Meter, float, float]]) -> None:
        keys: list[str] = []
        args: list[Any] = [self.limit.backend.owner_id()]
        for meter, reserved, actual in done:
            key, kind, interval, per = self._spec(meter)
            if kind == "pot":
                keys.append(key)
                args += ["pot", reserved, actual]
                self.pots[key] = max(0.0, self.pots.get(key, 0.0) - reserved)
                if self.pots[key] <= 1e-9:
                    del self.pots[key]
                meter.settle(reserved, actual, 0.0)  # this process's own share, for its record
            elif kind == "rate" and actual != reserved:
                keys.append(key)
                args += ["rate", (actual - reserved) * interval, per]
        if not keys:
            return
        if not self.limit.up():
            permits.LOCAL.settle([d for d in done if not isinstance(d[0], Pot)])
            return
        try:
            self.limit.backend.call(lua.SETTLE, keys, args)
        except Unavailable:
            permits.LOCAL.settle([d for d in done if not isinstance(d[0], Pot)])

    def renew(self) -> None:
        """Keep this process's budget reservations counted as in flight."""
        if self.pots:
            with suppress(Unavailable):
                backend = self.limit.backend
                backend.call(
                    lua.POT_RENEW, list(self.pots), [backend.owner_id(), backend.lease * 1000]
                )

    def spent(self, meter: Meter) -> float | None:
        """What a shared pot has spent over every process (None: Redis cannot say now)."""
        if not self.limit.up():
            return None
        try:
            return float(self.limit.backend.call(lua.POT_SPENT, [self.key_of(meter)], []))
        except Unavailable:
            return None
