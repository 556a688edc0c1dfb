"""For tests of hedged attempts against the stand-in: scripted answers that decide who wins by
events, not by the clock. The client numbers the attempts of each question in the system
prompt (:class:`Attempts`: the first attempt always calls first, the hedge starts later), so
the stand-in knows which request is which in whatever order its threads get them; each answer
may wait (in the stand-in's thread) for the other request to arrive, or until the test ends."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fanscope.testing.script import Request


class Attempts:
    """The client's side: ``system=attempts.system(question)`` says which attempt calls."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def system(self, question: str) -> str:
        n = self.counts[question] = self.counts.get(question, 0) + 1
        return f"attempt {n}"


class Race:
    """The answers to one prompt's two requests. Set ``done`` when the test ends: it frees
    whatever still waits."""

    def __init__(self, done: threading.Event | None = None) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.hedge_arrived = threading.Event()
        self.done = done if done is not None else threading.Event()

    def __call__(
        self, first: Callable[[], str], second: Callable[[], str]
    ) -> Callable[[Request], str]:
        def scripted(request: Request) -> str:
            with self.lock:
                self.count += 1
            if request.system.strip() == "attempt 1":
                return first()
            self.hedge_arrived.set()
            return second()

        return scripted

    def never(self, answer: str = "too late") -> Callable[[], str]:
        """An answer that comes only when the test ends (its request was cancelled by then)."""

        def wait() -> str:
            self.done.wait(timeout=60)
            return answer

        return wait

    def after_hedge(self, answer: str) -> Callable[[], str]:
        """An answer that comes once the hedge's request has arrived."""

        def wait() -> str:
            self.hedge_arrived.wait(timeout=60)
            return answer

        return wait
