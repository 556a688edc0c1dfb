"""The jobs of a fan-out of a ``@parallel`` function: one per item, made as it is read.

:func:`jobs_of` turns the items given to ``map``, ``starmap`` or ``as_completed`` into the
:class:`~fanscope.sdk.branch.Job` each branch runs, lazily: a generator or an async iterable
is read only as the fan-out's feeder (:class:`~fanscope.sdk.feeder.Feeder`) asks for the next
job, and a sequence keeps its length (:class:`SizedJobs`), so the fan-out knows its size and
keeps a result list of that length. It is apart from
:class:`~fanscope.sdk.parallel.ParallelFunction` because the async and the sync face make
their jobs the same way. The job made per item is the fan-out's hot path: keep it one call.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Sequence,
    Sized,
)
from typing import Any

from fanscope.errors import UsageError
from fanscope.sdk.branch import CallPolicy, Job
from fanscope.sdk.checks import Items
from fanscope.sdk.threads import Workers


def _star_args(item: object) -> tuple[Any, ...]:
    if isinstance(item, str | bytes) or not isinstance(item, Iterable):
        raise UsageError(
            f"starmap() needs an iterable of argument tuples, got item {item!r}; "
            f"pass e.g. [(a, b), (c, d)], or use map() for one argument per call"
        )
    return tuple(item)


def jobs_of(
    fn: Callable[..., Any],
    policy: CallPolicy,
    items: Items,
    star: bool,
    workers: Workers | None,
) -> Any:
    """One job per item, made as the fan-out reads the item (an async input stays async).

    ``star``: each item is the positional arguments of one call (``starmap``); ``workers``:
    each attempt of a plain ``def`` runs on a thread of the fan-out.
    """
    call = fn if workers is None else functools.partial(workers.call, fn)

    def job(index: int, item: Any) -> Job:
        args = _star_args(item) if star else (item,)
        return Job(policy, functools.partial(call, *args), index=index, args=args)

    if isinstance(items, AsyncIterable):

        async def read() -> AsyncIterator[Job]:
            index = 0
            async for item in items:
                yield job(index, item)
                index += 1

        return read()
    if isinstance(items, Sequence):  # read again below, lazily: check it all now
        if star:
            for item in items:
                _star_args(item)
        return SizedJobs(items, job)
    return itertools.starmap(job, enumerate(items))


class SizedJobs(Sized, Iterable[Job]):
    """The jobs of a sequence of items, made one at a time as they are read; sized."""

    __slots__ = ("_items", "_job")

    def __init__(self, items: Sequence[Any], job: Callable[[int, Any], Job]) -> None:
        self._items = items
        self._job = job

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Job]:
        return itertools.starmap(self._job, enumerate(self._items))
