"""One limit for every process that names the same key: a :class:`Limiter`'s state in Redis.

::

    shared = fanscope.RedisBackend("redis://10.0.0.5:6379/0", key="anthropic-org")
    provider = fanscope.Limiter(32, tokens_per_minute=400_000, backend=shared)

With a backend, the limiter's concurrency cap, its attempt rate, its request and token rates
(configured and heard from the provider's headers), the pause after a ``retry-after`` and the
adaptive limit of ``max_concurrency="auto"`` live on the Redis server, under ``key``; every
process (worker, pod, CI shard) whose limiter names that key shares them.

* **Caps are leases.** A slot is a member of a sorted set scored by when its lease runs out
  (``lease`` seconds after it was taken or last renewed). A thread of each process renews the
  leases it holds every ``lease / 3`` seconds, whatever its event loop is doing; a process
  killed with ``SIGKILL`` stops renewing, and its slots return within ``lease`` seconds. Until
  then they still count: the cap is never exceeded while a holder might be running.
* **Rates are GCRA** (one timestamp per rate, the server's clock), each reservation one atomic
  Lua script over every rate and the pause at once: all or nothing, as in a single process.
* **Waiting is polled**, every ``poll`` seconds, by one thread per process for all of its
  waiting branches (not one poll per branch). Processes that wait take turns: a slot freed goes
  to the process that has waited longest before one that just asked.
* **Budgets** given the backend (``fanscope.budget(usd=..., backend=...)``) are one pot; a
  process's calls in flight are renewed with its leases, and count as spent at their worst case
  when it dies (:mod:`fanscope.sdk.redis_ledger`).
* **Redis unreachable** (at start or mid-run): the limiter keeps a local limit of
  ``local_share`` times its numbers, logs one warning on the ``fanscope`` logger, and tries
  Redis again every ``retry_every`` seconds. Every Redis call has a ``timeout``; none waits on
  the network longer than that. Slots taken locally meanwhile are not counted in Redis when it
  comes back (they end on their own).

``backend.close()`` (or ``with RedisBackend(url) as shared:``) gives back what this process
holds and stops its thread; its limiters then keep a local limit.

Each Redis call is a blocking round trip on the calling thread (the event loop's thread for
async code), with the ``redis`` client's connection pool: about as long as one ``PING``.
``import fanscope`` does not import ``redis``; constructing a backend does.

.. versionadded:: 0.2
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from fanscope.errors import ConfigurationError
from fanscope.sdk import redis_scripts as lua
from fanscope.sdk.arguments import checked
from fanscope.sdk.redis_ledger import RedisLedger, Unavailable

if TYPE_CHECKING:
    from fanscope.sdk.limits import RateLimit
    from fanscope.sdk.meters import Unit

log = logging.getLogger("fanscope")

#: one bucket the provider's headers announced: unit, what remains, its limit, its period in
#: seconds, the limit before (when it changed; else the same), this process's calls in flight
Heard = tuple[str, float, float, float, float, float]


def _seconds(name: str, value: float, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > low:
        raise ConfigurationError(
            f"RedisBackend {name} must be a number of seconds > {low:g}",
            value,
            f"e.g. {name}=10",
        )
    return float(value)


def require_backend(backend: object) -> RedisBackend:
    """``backend`` as a :class:`RedisBackend`, or the one-line error a wrong ``backend=`` gets."""
    if not isinstance(backend, RedisBackend):
        raise ConfigurationError(
            "backend must be a fanscope RedisBackend",
            backend,
            "pass backend=fanscope.RedisBackend('redis://host:6379/0'), or leave it out",
        )
    return backend


class RedisBackend:
    """Where a :class:`~fanscope.Limiter` keeps its state so that processes share it.

    Args:
        url: the Redis server, ``redis://host:port/db`` (``rediss://`` for TLS).
        key: the name of the shared limit; every limiter given a backend with this key is one
            limit. Default: ``fanscope:`` followed by the limiter's ``name``.
        lease: seconds a slot stays counted after its holder stops renewing it (a crashed
            process's slots come back after at most this long).
        timeout: seconds any one Redis call may take before the limit falls back to local.
        poll: seconds between two tries of a process whose branches wait for a slot.
        retry_every: seconds between two tries to reach Redis after it failed.
        local_share: the share of the limiter's numbers each process keeps while Redis is
            unreachable (1.0: the whole limit in every process; ``1 / workers`` to stay under
            it together).
    """

    @checked("fanscope.RedisBackend")
    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key: str | None = None,
        lease: float = 10.0,
        timeout: float = 0.5,
        poll: float = 0.02,
        retry_every: float = 5.0,
        local_share: float = 1.0,
    ) -> None:
        if not isinstance(url, str) or "://" not in url:
            raise ConfigurationError(
                "RedisBackend url must be a Redis URL", url, "e.g. 'redis://127.0.0.1:6379/0'"
            )
        if key is not None and (not isinstance(key, str) or not key):
            raise ConfigurationError(
                "RedisBackend key must be a non-empty string", key, "e.g. key='anthropic-org'"
            )
        self.url = url
        self.key = key
        self.lease = _seconds("lease", lease, 0.05)
        self.timeout = _seconds("timeout", timeout)
        self.poll = _seconds("poll", poll)
        self.retry_every = _seconds("retry_every", retry_every)
        if (
            isinstance(local_share, bool)
            or not isinstance(local_share, int | float)
            or not 0 < local_share <= 1
        ):
            raise ConfigurationError(
                "RedisBackend local_share must be a number in (0, 1]",
                local_share,
                "e.g. local_share=0.25 for four workers",
            )
        self.local_share = float(local_share)
        try:
            import redis  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "RedisBackend needs the redis client", url, "pip install 'fanscope[redis]'"
            ) from None
        self._lock = threading.Lock()
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._pid = 0
        self.owner = ""
        self._down_until = 0.0
        self._down = False
        self.failures = 0  # Redis calls that failed, over the backend's life
        self.calls = 0  # Redis calls made
        self._limits: weakref.WeakSet[SharedLimit] = weakref.WeakSet()
        self._kick = threading.Event()
        self._worker: threading.Thread | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, key={self.key!r}, lease={self.lease:g})"

    # -- the connection -------------------------------------------------------------------

    def _connect(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if self.closed:
            raise Unavailable  # closed: the limiters keep a local limit, as without Redis
        pid = os.getpid()
        if self._client is None or self._pid != pid:  # first use, or a forked child
            self._client = redis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self._scripts = {}
            self._pid = pid
            self.owner = uuid.uuid4().hex
            self._worker = None
        return self._client

    def owner_id(self) -> str:
        """This process's id on the server (a forked child gets its own)."""
        if self.closed:
            return self.owner
        with self._lock:
            self._connect()
            return self.owner

    def up(self) -> bool:
        """Whether the next call goes to Redis (it may still fail)."""
        return not self.closed and (not self._down or time.monotonic() >= self._down_until)

    def call(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run one Lua script; :class:`Unavailable` when Redis cannot be reached."""
        import redis

        if self.closed:
            raise Unavailable
        if self._down and time.monotonic() < self._down_until:
            raise Unavailable
        with self._lock:
            client = self._connect()
            runner = self._scripts.get(script)
            if runner is None:
                runner = self._scripts[script] = client.register_script(script)
        self.calls += 1
        try:
            result = runner(keys=list(keys), args=list(args), client=client)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            raise Unavailable from exc
        if self._down:
            self._down = False
            log.info("fanscope: Redis at %s answers again; limits are shared again", self.url)
        return result

    def command(self, name: str, *args: Any) -> Any:
        """One plain Redis command (``ZREM`` of a released lease), with the same fallback."""
        import redis

        if self.closed:
            raise Unavailable
        if self._down and time.monotonic() < self._down_until:
            raise Unavailable
        with self._lock:
            client = self._connect()
        self.calls += 1
        try:
            return client.execute_command(name, *args)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            raise Unavailable from exc

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self._down_until = time.monotonic() + self.retry_every
        if not self._down:
            self._down = True
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning(
                "fanscope: Redis at %s is unreachable (%s): each process keeps a local limit "
                "(%g of its numbers) and tries Redis again every %gs",
                self.url,
                reason,
                self.local_share,
                self.retry_every,
            )

    def close(self) -> None:
        """Give back what this process holds on the server and stop its lease thread.

        The slots its limiters hold are released and its calls in flight stop counting at
        once; a budget's reservations still in flight count as spent at their worst case when
        their lease runs out, as a dead process's do (their outcome is not known). Limiters
        given this backend keep a local limit afterwards, as when Redis is unreachable.
        Closing twice does nothing more. ``with RedisBackend(url) as shared:`` closes it at
        the end of the block.
        """
        with self._lock:
            if self.closed:
                return
            self.closed = True  # the lease thread ends at its next turn; no call goes out
            worker, self._worker = self._worker, None
            client, self._client = self._client, None
            mine = client is not None and self._pid == os.getpid()
            self._kick.set()
        if worker is not None and worker is not threading.current_thread():
            worker.join(self.timeout + self.poll + 1.0)  # a renewal under way ends first
        for limit in list(self._limits):
            limit.drop(client if mine else None)
            limit.serve_waiters()  # branches waiting for a shared slot go to the local limit
        if mine:
            with suppress(Exception):
                client.close()

    def __enter__(self) -> RedisBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the limits it holds --------------------------------------------------------------

    def bind(self, name: str, serve: Callable[[], bool]) -> SharedLimit:
        """The shared state of one limiter; ``serve`` hands out slots to its waiters."""
        key = self.key if self.key is not None else f"fanscope:{name}"
        limit = SharedLimit(self, key, serve)
        self._limits.add(limit)
        return limit

    def kick(self) -> None:
        """Wake the worker thread: a slot was released, or a branch started to wait."""
        self.ensure_worker(kick=True)

    def ensure_worker(self, *, kick: bool = False) -> None:
        """Start this process's thread (renewing leases, serving waiters) if it is not running.

        The thread ends when it has nothing to do (no lease held, no branch waiting); its end
        and this check take the same lock, so a lease taken or a waiter queued meanwhile always
        finds a thread.
        """
        with self._lock:
            if self.closed:
                return
            self._connect()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._run, name="fanscope-redis-leases", daemon=True
                )
                self._worker.start()
            if kick:
                self._kick.set()

    def _run(self) -> None:
        """Renew this process's leases, and hand out slots to its waiting branches."""
        every = self.lease / 3
        renew_at = time.monotonic() + every
        idle = False  # nothing happened over the last wait
        while not self.closed:
            busy = False
            for limit in list(self._limits):
                busy = limit.serve_waiters() or busy
            now = time.monotonic()
            if now >= renew_at:
                renew_at = now + every
                for limit in list(self._limits):
                    limit.renew()
            held = any(x.holds() for x in self._limits)
            if idle and not busy and not held:
                with self._lock:
                    if not self._kick.is_set() and not any(x.holds() for x in self._limits):
                        self._worker = None  # nothing held, nobody waits: done until needed
                        return
            woke = self._kick.wait(self.poll if busy else max(0.0, renew_at - now))
            self._kick.clear()
            idle = not (woke or busy or held)


class SharedLimit:
    """The Redis side of one limiter: its leases, rates, pause and adaptive limit."""

    def __init__(self, backend: RedisBackend, key: str, serve: Callable[[], bool]) -> None:
        self.backend = backend
        self.key = key
        self._serve = weakref.WeakMethod(serve)
        self.leases: list[str] = []  # held by this process
        self.full = False  # the last try found no free slot
        self.lost = 0  # leases found run out while held (the process stalled past `lease`)
        self._pause_until = 0.0  # monotonic, as the last answer said
        self.ledger = RedisLedger(self)
        self._keys = [f"{key}:{part}" for part in ("leases", "queue", "alive", "ticket")]
        self._flying_keys = [f"{key}:flying:{part}" for part in ("calls", "owners", "seq")]
        #: this process's model calls under the limit in flight on the server, by their place
        #: in its order of sending
        self.flying: set[int] = set()

    def holds(self) -> bool:
        """Whether this process has something on the server to renew (leases, calls)."""
        return bool(self.leases or self.ledger.pots or self.flying)

    @property
    def local_share(self) -> float:
        return self.backend.local_share

    def up(self) -> bool:
        return self.backend.up()

    def _heard_pause(self, pause_us: int) -> None:
        self._pause_until = time.monotonic() + pause_us / 1e6

    def pause_left(self) -> float:
        return max(0.0, self._pause_until - time.monotonic())

    def _admit(self, cap: int | None, want: int, rate: RateLimit | None, mode: str) -> int:
        b = self.backend
        interval = tolerance = -1.0
        if rate is not None:
            interval = rate.per / rate.requests * 1000
            tolerance = rate.per * 1000 - interval
        ids = [uuid.uuid4().hex for _ in range(want if cap is not None else 0)]
        granted, _wait, pause = b.call(
            lua.ADMIT,
            [*self._keys, f"{self.key}:rate", f"{self.key}:pause"],
            [
                -1 if cap is None else cap,
                want,
                b.lease * 1000,
                b.owner,
                max(1000.0, b.poll * 50_000),
                interval,
                tolerance,
                mode,
                *ids,
            ],
        )
        self._heard_pause(int(pause))
        self.full = cap is not None and int(granted) < want
        if cap is not None and granted:
            self.leases += ids[: int(granted)]
            b.ensure_worker()  # held leases must be renewed
        return int(granted)

    def try_admit(self, cap: int | None, rate: RateLimit | None) -> bool:
        """A slot, a rate token and no pause, all now, or nothing (never waits)."""
        return self._admit(cap, 1, rate, "try") == 1

    def take(self, cap: int, want: int) -> int:
        """Up to ``want`` slots under ``cap``, in turn with the other processes that wait."""
        return self._admit(cap, want, None, "slots")

    def give(self, *, kick: bool = True) -> None:
        """Give one held slot back; ``kick``: branches of this process wait for one."""
        if not self.leases:
            return
        lease = self.leases.pop()
        try:
            self.backend.command("ZREM", self._keys[0], lease)
        finally:
            if kick:
                self.backend.kick()

    def reserve_rate(self, rate: RateLimit) -> float:
        """Reserve the next attempt under the shared attempt rate; seconds to wait for it."""
        interval = rate.per / rate.requests * 1000
        wait, pause = self.backend.call(
            lua.RATE,
            [f"{self.key}:rate", f"{self.key}:pause"],
            [interval, rate.per * 1000 - interval],
        )
        self._heard_pause(int(pause))
        return int(wait) / 1e6

    def pause(self, seconds: float) -> None:
        left = self.backend.call(lua.PAUSE, [f"{self.key}:pause"], [seconds * 1000])
        self._heard_pause(int(left))

    def fly(self, amounts: Mapping[Unit, float]) -> int:
        """A model call of this process is sent, asking for ``amounts`` by unit: every process
        takes it off what the provider's headers say remains, in the answers to calls sent
        before it, until it is over (:meth:`landed`) or this process stops renewing it.
        Returns its place in the server's order of sending (:class:`Unavailable` when Redis
        cannot be reached)."""
        b = self.backend
        order = int(
            b.call(
                lua.FLY,
                self._flying_keys,
                [
                    b.owner_id(),
                    b.lease * 1000,
                    "+",
                    0,
                    *(amounts.get(u, 0.0) for u in lua.FLYING_UNITS),
                ],
            )
        )
        self.flying.add(order)
        b.ensure_worker()  # it is renewed with the leases
        return order

    def landed(self, order: int) -> None:
        """The call :meth:`fly` placed at ``order`` is over (:class:`Unavailable` when Redis
        cannot be reached: it then stops counting when this process's lease runs out)."""
        self.flying.discard(order)
        b = self.backend
        b.call(lua.FLY, self._flying_keys, [b.owner_id(), b.lease * 1000, "-", order])

    def drop(self, client: Any) -> None:
        """Forget what this process holds, and give its slots and calls in flight back on the
        server through ``client`` (``None``: they run out with their leases)."""
        leases, self.leases = self.leases, []
        flying, self.flying = self.flying, set()
        self.ledger.pots.clear()  # their worst cases are spent when their lease runs out
        if client is None:
            return
        import redis

        with suppress(redis.RedisError, OSError):  # Redis gone: they run out with their leases
            if leases:
                client.zrem(self._keys[0], *leases)
            if flying:
                owner = self.backend.owner
                client.hdel(self._flying_keys[0], *(f"{owner}|{order}" for order in flying))

    def renew(self) -> None:
        self.ledger.renew()
        if self.flying:
            with suppress(Unavailable):
                b = self.backend
                b.call(lua.FLY_RENEW, self._flying_keys, [b.owner_id(), b.lease * 1000])
        held = list(self.leases)
        if not held:
            return
        try:
            missing = self.backend.call(
                lua.RENEW, [self._keys[0]], [self.backend.lease * 1000, *held]
            )
        except Unavailable:
            return
        still = set(self.leases)  # a lease given back while the script ran is not lost
        lost = sum(1 for x in missing if (x.decode() if isinstance(x, bytes) else x) in still)
        if lost and not self.lost:
            log.warning(
                "fanscope: %d slot(s) of the shared limit %r ran out while held (the process "
                "stalled longer than lease=%gs, or Redis lost them): raise the lease",
                lost,
                self.key,
                self.backend.lease,
            )
        self.lost += lost

    def serve_waiters(self) -> bool:
        serve = self._serve()
        return serve() if serve is not None else False

    def adjust(self, op: str, value: float, lo: int, hi: int, initial: int) -> float:
        """The adaptive limit: ``+`` a change, ``=`` at most a value; returns the shared limit."""
        got = self.backend.call(lua.LIMIT, [f"{self.key}:limit"], [op, value, lo, hi, initial])
        return int(got) / 1000

    def align(self, heard: Sequence[Heard], after: int = -1) -> list[float]:
        """What the provider's headers of one answer say remains of each bucket, less the
        calls every process sent after the call the answer is to (its place ``after`` in the
        server's order of sending, :meth:`fly`; -1: not known, every call in flight): one
        round trip for all of them. Returns each bucket's available share."""
        keys: list[str] = []
        args: list[Any] = [after]
        for unit, remaining, amount, per, old, own in heard:
            keys.append(f"{self.key}:heard:{unit}")
            interval = per / amount * 1000
            old_interval = per / old * 1000 if old and old != amount else 0
            args += [remaining, interval, per * 1000, old_interval, unit, own]
        got = self.backend.call(lua.ALIGN, [*keys, *self._flying_keys[:2]], args)
        return [int(x) / 1000 for x in got]
