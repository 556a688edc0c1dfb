"""What a branch ended with, and the named results of ``fanscope.gather``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

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


class Results(Sequence[Any]):
    """The results of ``fanscope.gather``: by position, and by name for named branches.

    ``answers[0]``, ``answers["news"]`` and ``answers.news`` all work; iteration yields the
    values in the order the branches were given (positional first, then named).
    """

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: Sequence[str | None]) -> None:
        self._values = list(values)
        self._names = {n: i for i, n in enumerate(names) if n is not None}

    @overload
    def __getitem__(self, key: int | str) -> Any: ...
    @overload
    def __getitem__(self, key: slice) -> list[Any]: ...
    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._names[key]]
            except KeyError:
                raise KeyError(f"no branch named {key!r}; names: {sorted(self._names)}") from None
        return self._values[key]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[self._names[name]]
        except KeyError:
            raise AttributeError(
                f"no branch named {name!r}; names: {sorted(self._names)}"
            ) from None

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def as_dict(self) -> dict[str, Any]:
        """The named branches' values by name."""
        return {n: self._values[i] for n, i in self._names.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Results):
            return self._values == other._values and self._names == other._names
        if isinstance(other, list | tuple):
            return self._values == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        by_index = {i: n for n, i in self._names.items()}
        parts = [
            f"{by_index[i]}={v!r}" if i in by_index else repr(v) for i, v in enumerate(self._values)
        ]
        return f"Results({', '.join(parts)})"
