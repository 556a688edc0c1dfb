"""What a branch ended with, and the named results of ``fanscope.gather``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Self, SupportsIndex, TypeVar, overload

R = TypeVar("R")

Status = Literal["ok", "error", "timeout", "cancelled"]


@dataclass(slots=True)
class Outcome(Generic[R]):
    """The end of one branch: a value or an error, with where it came from.

    Attributes:
        index: the branch's position in the fan-out's input.
        status: ``ok``, ``error``, ``timeout`` or ``cancelled``.
        value: the result when ``status == "ok"``, else ``None``.
        error: the exception otherwise.
        name: the keyword name of a named ``gather`` branch.
        attempts: attempts made.
    """

    index: int
    status: Status
    value: R | None = None
    error: BaseException | None = None
    name: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def unwrap(self) -> R:
        """The value, or raise the branch's error."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class Results(tuple[Any, ...]):
    """The results of ``fanscope.gather``: by position, and by name for named branches.

    ``answers[0]``, ``answers["news"]`` and ``answers.news`` all work; iteration yields the
    values in the order the branches were given (positional first, then named). A tuple, so
    that ``a, b = fanscope.gather(f, g)`` is typed per position (see ``gather``'s overloads);
    it also compares equal to a list of the same values.

    .. versionchanged:: 0.2 a ``tuple`` (was a read-only sequence).
    """

    _names: dict[str, int]

    def __new__(cls, values: Iterable[Any], names: Sequence[str | None] = ()) -> Self:
        self = super().__new__(cls, values)
        self._names = {n: i for i, n in enumerate(names) if n is not None}
        return self

    def __getnewargs__(self) -> tuple[tuple[Any, ...], list[str | None]]:
        by_index = {i: n for n, i in self._names.items()}
        return tuple(self), [by_index.get(i) for i in range(len(self))]

    @overload
    def __getitem__(self, key: SupportsIndex | str) -> Any: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, key: SupportsIndex | str | slice) -> Any:
        if isinstance(key, str):
            try:
                return super().__getitem__(self._names[key])
            except KeyError:
                raise KeyError(f"no branch named {key!r}; names: {sorted(self._names)}") from None
        return super().__getitem__(key)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return super().__getitem__(self._names[name])
        except KeyError:
            raise AttributeError(
                f"no branch named {name!r}; names: {sorted(self._names)}"
            ) from None

    def as_dict(self) -> dict[str, Any]:
        """The named branches' values by name."""
        return {n: super(Results, self).__getitem__(i) for n, i in self._names.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Results):
            return tuple.__eq__(self, other) and self._names == other._names
        if isinstance(other, list):
            return list(self) == other
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        by_index = {i: n for n, i in self._names.items()}
        parts = [f"{by_index[i]}={v!r}" if i in by_index else repr(v) for i, v in enumerate(self)]
        return f"Results({', '.join(parts)})"
