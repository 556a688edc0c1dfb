"""The thread path: sync functions run by the same fan-out machinery as ``async def`` ones.

A sync ``@parallel`` function (a plain ``def``) is run by the very code that runs async
ones (:mod:`~fanscope.sdk.branch`, :mod:`~fanscope.sdk.fanout`, :mod:`~fanscope.sdk.policy`),
so limiters, retries, timeouts, failure policies, deadlines, spans and fingerprints are the
same by construction. Two pieces make that possible:

* :class:`Workers`: the threads a fan-out owns. Each attempt of a branch is handed to one of
  them with the branch's context (so spans made by the function, e.g. the anthropic client's,
  nest under the branch) and awaited; the fan-out's cap bounds how many run at once, and
  the fan-out starts at most that many threads, lazily. They are not asyncio's shared
  default pool (``asyncio.to_thread``), whose size is a cap nobody chose.
* :func:`run_sync`: runs the fan-out's coroutine to the end from sync code, on a private
  event loop in the calling thread, or, when the calling thread already runs a loop (a
  notebook cell, sync code called from an ``async def``), on a private loop in a helper
  thread while the caller waits.

A thread cannot be stopped from outside. When an attempt's ``timeout`` passes, or its fan-out
cancels it (a sibling failed, the deadline passed, the caller was cancelled), the attempt is
**abandoned**: the fan-out stops waiting for it at once (the branch ends ``timeout`` or
``cancelled``, and its limiter slot is given back), its thread runs the call to its end in
the background and its result or error is dropped, and the fan-out may start one more thread
in its place so the cap of running attempts stays usable. Worker threads are daemon threads:
an abandoned call never keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from fanscope.sdk import callsite

T = TypeVar("T")


class _Item:
    """One attempt handed to a worker thread, and where its result goes."""

    __slots__ = ("args", "ctx", "fn", "fut", "kwargs", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.loop = loop
        self.fut: asyncio.Future[Any] = loop.create_future()
        self.ctx = contextvars.copy_context()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs


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


class Workers:
    """The threads one fan-out (or one lone call) runs its sync attempts on.

    A thread starts for an attempt that finds none idle, so there are never more threads
    than attempts running at once, which the fan-out's limiters bound (its cap), plus the
    threads of abandoned attempts still running. Each idle thread waits on a queue of its
    own, so an attempt is handed to a thread that is really free.

    Use as a context manager: leaving it lets idle threads end; a thread still running an
    abandoned attempt ends when that attempt does.

    Args:
        name: thread names are ``fanscope {name} {n}``.
    """

    def __init__(self, name: str = "fan-out") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Item | None]] = []
        self._started = 0
        self._closed = False
        # results waiting for their loop, and whether a wake-up of that loop is on its way:
        # one call_soon_threadsafe (one write to the loop's self-pipe) per burst of results
        # instead of one per result
        self._done: list[tuple[_Item, Any, BaseException | None]] = []
        self._waking = False

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def started(self) -> int:
        """Threads started so far."""
        return self._started

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a worker thread in the current context; await it.

        Cancelling the awaiting task abandons the call: see the module's docstring.
        """
        item = _Item(asyncio.get_running_loop(), fn, args, kwargs)
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
        return await item.fut  # type: ignore[no-any-return]

    def _work(self, first: _Item) -> None:
        inbox: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        item: _Item | None = first
        while item is not None:
            value: Any = None
            error: BaseException | None = None
            try:
                value = item.ctx.run(item.fn, *item.args, **item.kwargs)
            except BaseException as exc:
                error = exc
            # idle before the result is out: the next attempt, started when this one's
            # slot is given back, must find this thread free rather than start another
            with self._lock:
                closing = self._closed
                if not closing:
                    self._idle.append(inbox)
            if not item.fut.done():  # a cancelled (abandoned) attempt's result is dropped
                self._post(item, value, error)
            item = value = error = None  # drop references before waiting
            if closing:
                return
            item = inbox.get()

    def _post(self, item: _Item, value: Any, error: BaseException | None) -> None:
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

    def close(self) -> None:
        """Let idle threads end; a thread still running a call ends after it."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(None)


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


def iterate_sync(agen: AsyncGenerator[T, None]) -> Iterator[T]:
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
