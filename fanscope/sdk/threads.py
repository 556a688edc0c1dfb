"""Threads for sync functions used from async code, and event loops for sync code.

* :class:`Pool`: threads that each wait for the next call on an inbox of their own, started
  lazily (one for a call that finds none idle). Two kinds: :class:`Workers`, on which the
  async face of a sync ``@parallel`` function (``f.aio``) and a sync ``@vote`` run each
  attempt and await it from the event loop; and the helpers on which a sync branch runs an
  attempt with a ``timeout`` (:mod:`~fanscope.sdk.thread_branch`, the sync path itself, which
  needs no event loop). They are not asyncio's shared default pool (``asyncio.to_thread``),
  whose size is a cap nobody chose.
* :func:`run_sync`: runs a coroutine to its end from sync code (a sync ``@vote``, an async
  ``reduce`` given to a sync fan-out), on a private event loop in the calling thread, or,
  when the calling thread already runs a loop (a notebook cell, sync code called from an
  ``async def``), on a private loop in a helper thread while the caller waits.

A thread cannot be stopped from outside. When an attempt's ``timeout`` passes, or its fan-out
cancels it (a sibling failed, the deadline passed, the caller was cancelled), the attempt is
**abandoned**: the fan-out stops waiting for it at once (the branch ends ``timeout`` or
``cancelled``, and its limiter slot is given back), its thread runs the call to its end in
the background and its result or error is dropped, and the fan-out may start one more thread
in its place so the cap of running attempts stays usable. Pool threads are daemon threads:
an abandoned call never keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from concurrent.futures import Future
from typing import Any, Self, TypeVar

from fanscope.sdk import callsite

T = TypeVar("T")


class Call:
    """One call handed to a pool thread, run in the context it was handed over in."""

    __slots__ = ("args", "ctx", "fn", "kwargs")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> None:
        self.ctx = contextvars.copy_context()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs


class Pool:
    """Threads that run calls, each waiting on an inbox of its own for the next one, so a
    call is handed to a thread that is really free. A thread starts for a call that finds
    none idle: never more threads than calls running at once (abandoned ones included).

    Subclasses say where a result goes (:meth:`_deliver`). Use as a context manager:
    leaving it lets idle threads end; a thread still running a call ends after it.

    Args:
        name: thread names are ``fanscope {name} {n}``.
    """

    def __init__(self, name: str = "fan-out") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Any]] = []
        self._started = 0
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def started(self) -> int:
        """Threads started so far."""
        return self._started

    def _hand(self, item: Call) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the fan-out's threads are closed")
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self._started += 1
                number = self._started
        if inbox is not None:
            inbox.put(item)
        else:
            threading.Thread(
                target=self._work, args=(item,), name=f"fanscope {self._name} {number}", daemon=True
            ).start()

    def _deliver(self, item: Any, value: Any, error: BaseException | None) -> None:
        raise NotImplementedError

    def _work(self, first: Call) -> None:
        inbox: queue.SimpleQueue[Call | None] = queue.SimpleQueue()
        item: Call | None = first
        while item is not None:
            value: Any = None
            error: BaseException | None = None
            try:
                value = item.ctx.run(item.fn, *item.args, **item.kwargs)
            except BaseException as exc:
                error = exc
            # idle before the result is out: the next call, made once this one's result is
            # in, must find this thread free rather than start another
            with self._lock:
                closing = self._closed
                if not closing:
                    self._idle.append(inbox)
            self._deliver(item, value, error)
            item = value = error = None  # drop references before waiting
            if closing:
                return
            item = inbox.get()

    def close(self) -> None:
        """Let idle threads end; a thread still running a call ends after it."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(None)


class _Item(Call):
    """One attempt handed to a worker thread, and the future on its loop its result goes to."""

    __slots__ = ("fut", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__(fn, args, kwargs)
        self.loop = loop
        self.fut: asyncio.Future[Any] = loop.create_future()


def _deliver(fut: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if fut.done():  # the awaiting branch was cancelled or timed out: nobody wants it
        return
    if error is None:
        fut.set_result(value)
    elif isinstance(error, StopIteration):  # a future refuses it (as a coroutine would)
        wrapped = RuntimeError(f"the function raised StopIteration: {error!r}")
        wrapped.__cause__ = error
        fut.set_exception(wrapped)
    else:
        fut.set_exception(error)


class Workers(Pool):
    """The threads the async face of a sync function runs its attempts on (``f.aio``).

    Each attempt of a branch is handed to one of them with the branch's context and awaited
    on the branch's loop; the fan-out's limiters bound how many run at once (its cap), plus
    the threads of abandoned attempts still running.
    """

    def __init__(self, name: str = "fan-out") -> None:
        super().__init__(name)
        # results waiting for their loop, and whether a wake-up of that loop is on its way:
        # one call_soon_threadsafe (one write to the loop's self-pipe) per burst of results
        # instead of one per result
        self._done: list[tuple[_Item, Any, BaseException | None]] = []
        self._waking = False

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a worker thread in the current context; await it.

        Cancelling the awaiting task abandons the call: see the module's docstring.
        """
        item = _Item(asyncio.get_running_loop(), fn, args, kwargs)
        self._hand(item)
        return await item.fut  # type: ignore[no-any-return]

    def _deliver(self, item: _Item, value: Any, error: BaseException | None) -> None:
        if item.fut.done():  # a cancelled (abandoned) attempt's result is dropped
            return
        with self._lock:
            self._done.append((item, value, error))
            if self._waking:
                return
            self._waking = True
        try:
            item.loop.call_soon_threadsafe(self._deliver_all)
        except RuntimeError:  # its loop is closed: the fan-out is gone
            with self._lock:
                self._done.clear()
                self._waking = False

    def _deliver_all(self) -> None:
        with self._lock:
            done, self._done = self._done, []
            self._waking = False
        for item, value, error in done:
            if item.loop is asyncio.get_running_loop():
                _deliver(item.fut, value, error)
            else:  # a Workers shared by two loops (not done by fanscope itself)
                with contextlib.suppress(RuntimeError):
                    item.loop.call_soon_threadsafe(_deliver, item.fut, value, error)


# -- from sync code ------------------------------------------------------------------------------


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end from sync code and return its result (or raise its error).

    On a private event loop in this thread, or in a helper thread when this thread already
    runs a loop (which then waits, as it would for any blocking call). The current context
    (the active span, a tracer provider set for this context) carries over either way.
    """
    token = callsite.hand_over()  # the caller's line, for the spans the work starts
    try:
        if _running_loop() is None:
            with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
                return runner.run(coro)
        with _LoopThread() as loop:
            return loop.run(coro)
    finally:
        callsite.take_back(token)


class _LoopThread:
    """A private event loop on a helper thread, for sync code on a thread that runs a loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fanscope loop", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> _LoopThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the helper loop in the caller's context; block until it ends."""
        ctx = contextvars.copy_context()
        done: Future[T] = Future()
        task_box: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self._loop.create_task(coro, context=ctx)
            task_box.append(task)
            task.add_done_callback(_copy_to(done))

        self._loop.call_soon_threadsafe(start)
        try:
            return done.result()
        except BaseException:
            # KeyboardInterrupt in the caller: cancel the fan-out and wait until it has ended
            if not done.done():
                self._loop.call_soon_threadsafe(lambda: [t.cancel() for t in task_box])
                with contextlib.suppress(BaseException):  # the caller's error is raised
                    done.exception()
            raise

    def close(self) -> None:
        async def finish() -> None:
            await self._loop.shutdown_asyncgens()

        asyncio.run_coroutine_threadsafe(finish(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def _copy_to(done: Future[T]) -> Callable[[asyncio.Task[T]], None]:
    def copy(task: asyncio.Task[T]) -> None:
        if task.cancelled():
            done.cancel()
        elif (exc := task.exception()) is not None:
            done.set_exception(exc)
        else:
            done.set_result(task.result())

    return copy


def iterate_sync(agen: AsyncGenerator[T, None]) -> Generator[T, None, None]:
    """Iterate an async generator from sync code, its loop running on a helper thread.

    The loop keeps running while the caller handles each item, so branches still in flight
    go on meanwhile. Leaving the loop early (``break``) closes the generator, which cancels
    what is still running, when this iterator is closed or collected.
    """
    with _LoopThread() as loop:
        try:
            while True:
                try:
                    item = loop.run(_anext(agen))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            loop.run(agen.aclose())


async def _anext(agen: AsyncGenerator[T, None]) -> T:
    return await agen.__anext__()


async def on_own_thread(fn: Callable[..., T], name: str, /, *args: Any, **kwargs: Any) -> T:
    """One attempt of a lone call of a sync function, on a thread of its own."""
    with Workers(name) as workers:
        return await workers.call(fn, *args, **kwargs)
