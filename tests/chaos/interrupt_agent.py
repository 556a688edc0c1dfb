"""An agent whose fan-out meets a ``BaseException``: run by ``test_interrupts.py``.

    python tests/chaos/interrupt_agent.py TRACE_FILE async|sync raise|ctrl-c KeyboardInterrupt|Abort

``raise``: branch 2 raises the exception once branches 0 and 1 have returned and 3 to 5 are
running (decided by events, not by time); the program catches it, prints ``caught NAME``,
then runs a second fan-out and prints its results: the program goes on. ``ctrl-c``: every
branch waits; the program prints ``running`` once six have started and waits for the
test's SIGINT, which it does not catch.
"""

from __future__ import annotations

import asyncio
import sys
import threading

import fanscope
from fanscope import parallel

fanscope.configure(service_name="interrupts", trace_file=sys.argv[1])
SHAPE, HOW, NAME = sys.argv[2:5]
N = 6


class Abort(BaseException):
    """A user's own BaseException (not an Exception), as some frameworks define."""


ERRORS: dict[str, type[BaseException]] = {"KeyboardInterrupt": KeyboardInterrupt, "Abort": Abort}

state = threading.Condition()
returned: set[int] = set()
started: set[int] = set()
release = threading.Event()  # the sync branches still running end once the program goes on


def arrive(i: int) -> None:
    with state:
        started.add(i)
        if len(started) == N:
            print("running", flush=True)
        state.notify_all()


def others_ready() -> bool:
    return returned >= {0, 1} and started >= {3, 4, 5}


ready = asyncio.Event()  # the async branches: set on the loop once the others are ready


@parallel(max_concurrency=N)
async def look_up(i: int) -> int:
    arrive(i)
    if HOW == "raise" and i < 2:
        returned.add(i)
    if others_ready():
        ready.set()
    if HOW == "raise" and i < 2:
        return i
    if HOW == "raise" and i == 2:
        await ready.wait()
        raise ERRORS[NAME]()
    await asyncio.Event().wait()  # until cancelled
    return i


@parallel(max_concurrency=N)
def look_up_sync(i: int) -> int:
    arrive(i)
    if HOW == "raise" and i < 2:
        with state:
            returned.add(i)
            state.notify_all()
        return i
    if HOW == "raise" and i == 2:
        with state:
            state.wait_for(others_ready)
        raise ERRORS[NAME]()
    release.wait()
    return i


@parallel
async def double(i: int) -> int:
    return 2 * i


def fan_out() -> list[int]:
    if SHAPE == "async":
        return asyncio.run(look_up.map(range(N)))
    return look_up_sync.map(range(N))


if HOW == "ctrl-c":
    fan_out()
else:
    try:
        fan_out()
    except BaseException as exc:  # what the test is about
        print(f"caught {type(exc).__name__}", flush=True)
    release.set()
    print("then", asyncio.run(double.map(range(3))), flush=True)
