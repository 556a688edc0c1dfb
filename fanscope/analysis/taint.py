"""What a value may carry, and what each name and object holds on one path.

A source is a call's id (its negative: the same source arrived only through code the
analysis cannot see). A :data:`Taint` maps the sources a value may carry to the name each
came through last; a :class:`State` maps each local name, and each object location, to the
sources it may hold on one path, and joins with the states of other paths where they meet.
These are the interpreter's plain data, kept apart from :class:`~.machine.Machine`, which
reads and changes them, so the lattice can be read (and tested) on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from fanscope.analysis import effects as E

Taint = dict[int, str | None]  # source -> the name it came through last (None: the call)
EMPTY: frozenset[int] = frozenset()


class State:
    """What each name and each object location may hold, on one path."""

    __slots__ = ("heap", "live", "vars")

    def __init__(
        self,
        variables: dict[str, frozenset[int]] | None = None,
        heap: dict[str, frozenset[int]] | None = None,
        live: bool = True,
    ) -> None:
        self.vars = variables if variables is not None else {}
        self.heap = heap if heap is not None else {}
        self.live = live

    def copy(self) -> State:
        return State(dict(self.vars), dict(self.heap), self.live)

    @staticmethod
    def dead() -> State:
        return State(live=False)

    def join(self, *others: State) -> State:
        states = [s for s in (self, *others) if s.live]
        if not states:
            return State.dead()
        out = states[0].copy()
        for other in states[1:]:
            for table, theirs in ((out.vars, other.vars), (out.heap, other.heap)):
                for key, value in theirs.items():
                    mine = table.get(key)
                    table[key] = value if mine is None else mine | value
        return out

    def same(self, other: State) -> bool:
        return self.live == other.live and self.vars == other.vars and self.heap == other.heap


@dataclass
class SiteFacts:
    """What the interpreter found about one site."""

    inputs: Taint
    in_loop: bool = False
    effect: E.Effect | None = None
    evaluated: bool = False


def _union(into: Taint, other: Taint) -> None:
    for key, value in other.items():
        into.setdefault(key, value)


def _merged(a: Taint, b: Taint) -> Taint:
    out = dict(a)
    _union(out, b)
    return out
