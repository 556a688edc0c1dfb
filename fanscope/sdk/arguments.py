"""What a public callable was given that it does not take: one line that says what to write.

Python's own ``TypeError`` for a misspelt keyword (``Limiter.__init__() got an unexpected
keyword argument 'max_concurency'``) says what is wrong but not what was meant, and names a
method the user never called. :func:`checked` wraps a public constructor, decorator or
``configure()`` so that such a call raises :class:`~fanscope.UsageError` (a ``TypeError``)
with the fix instead: ``fanscope.Limiter has no option max_concurency=; did you mean
max_concurrency=?``.

Nothing is checked on a call that binds: the wrapper only calls through, and looks at the
arguments once Python has refused them (a ``TypeError`` raised before the function's body ran,
known by its traceback ending in the wrapper). Only what runs once per construction or
decoration is wrapped, never a call of a decorated function or a fan-out. The wrapper keeps
the signature (``functools.wraps``, a ``ParamSpec`` for mypy and pyright).

A fan-out's own call (``f.map(items, on_eror=...)``) is not wrapped: its implementation takes
``**unknown`` (an empty dict and one test when the call is right, less than a wrapper's frame)
and words any keyword found there with :func:`no_option`; its overloads, which are all type
checkers see, keep the options it takes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from fanscope.errors import ConfigurationError, UsageError

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_BY_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_BY_NAME = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def checked(
    what: str, *, elsewhere: Mapping[str, str] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a public callable so that arguments it cannot take get one line with the fix.

    Args:
        what: how the user calls it (``fanscope.Limiter``, ``@vote``, ``fanscope.configure()``).
        elsewhere: keywords it does not take that another call does, with where they belong
            (``{"on_error": "it is an option of each fan-out; ..."}``).
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except TypeError as exc:
                # raised by the call itself (the body never ran) only when nothing follows
                # this frame in the traceback: a TypeError from inside goes through untouched
                if exc.__traceback__ is None or exc.__traceback__.tb_next is not None:
                    raise
                problem = misfit(fn, what, args, kwargs, elsewhere or {})
                if problem is None:
                    raise
                raise UsageError(problem) from None

        return call

    return decorate


def checked_init(what: str) -> Callable[[type[T]], type[T]]:
    """:func:`checked` for the ``__init__`` of a class made by a decorator (a dataclass)."""

    def decorate(cls: type[T]) -> type[T]:
        cls.__init__ = checked(what)(cls.__init__)  # type: ignore[method-assign]
        return cls

    return decorate


def misfit(
    fn: Callable[..., Any],
    what: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    elsewhere: Mapping[str, str],
    noun: str = "option",
) -> str | None:
    """Why ``fn(*args, **kwargs)`` does not bind, as one line with the fix; ``None`` if it does.

    ``noun`` is what its keywords are to the user: a constructor's ``option``, or the
    ``argument`` of a function of the user's own (a vote's voters).
    """
    signature = inspect.signature(fn)
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        pass
    else:
        return None
    params = list(signature.parameters.values())
    if params and params[0].name == "self":  # an __init__ or a method: the user never passes it
        params, args = params[1:], args[1:]
    by_name = {p.name: p for p in params if p.kind in _BY_NAME}
    for word in kwargs:
        if word not in by_name:
            return no_option(what, word, list(by_name), elsewhere, noun)
    positional = [p for p in params if p.kind in _BY_POSITION]
    if len(args) > len(positional) and not any(p.kind is p.VAR_POSITIONAL for p in params):
        return _too_many(what, args, positional, [n for n in by_name if n not in kwargs])
    for p in positional[: len(args)]:
        if p.name in kwargs and p.kind is not p.POSITIONAL_ONLY:
            return f"{what} got {p.name} twice, by position and as {p.name}=; pass it once"
    given = {p.name for p in positional[: len(args)]} | set(kwargs)
    missing = [
        p.name
        for p in params
        if p.default is p.empty and p.name not in given and p.kind in (*_BY_POSITION, *_BY_NAME)
    ]
    if missing:
        return f"{what} needs {' and '.join(f'{m}=' for m in missing)}; pass e.g. " + _example(
            what, [f"{m}=..." for m in missing]
        )
    return None


def no_option(
    what: str,
    word: str,
    options: Sequence[str],
    elsewhere: Mapping[str, str],
    noun: str = "option",
) -> str:
    """The line for a keyword ``what`` does not take: where it belongs, or the option meant."""
    if word in elsewhere:
        return f"{what} takes no {word}=: {elsewhere[word]}"
    typed = f"{word}=" if word.isidentifier() else repr(word)  # ** of any str key
    return f"{what} has no {noun} {typed}; {suggest(word, options, noun)}"


def suggest(word: str, options: Sequence[str], noun: str = "option") -> str:
    """``did you mean max_concurrency=?`` for the nearest option, else the list of them."""
    import difflib  # the error path only

    near = difflib.get_close_matches(word, options, n=1)
    if near:
        return f"did you mean {near[0]}=?"
    return f"its {noun}s: " + ", ".join(options) if options else f"it takes no {noun}s by name"


def _too_many(
    what: str, args: tuple[Any, ...], positional: list[inspect.Parameter], free: list[str]
) -> str:
    count = len(positional)
    takes = (
        "no arguments by position"
        if not count
        else f"{count} argument{'s' if count > 1 else ''} by position "
        f"({', '.join(p.name for p in positional)})"
    )
    shown = [_short(a) for a in args[:count]]
    names = [n for n in free if n not in {p.name for p in positional}]
    shown += [
        f"{names[i]}={_short(a)}" if i < len(names) else _short(a)
        for i, a in enumerate(args[count:])
    ]
    others = "the others" if count else "them"
    return f"{what} takes {takes}, got {len(args)}; pass {others} by name, e.g. " + _example(
        what, shown
    )


def _example(what: str, arguments: list[str]) -> str:
    head = what.removesuffix("()")
    return f"{head}({', '.join(arguments)})"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def check_name(what: str, name: object, *, optional: bool = True) -> None:
    """A span or limit name must be a string (``None``: the default, where there is one)."""
    if not isinstance(name, str) and not (optional and name is None):
        raise ConfigurationError(
            f"{what} name must be a string", name, "pass e.g. name='summarize', or leave it out"
        )


def check_flag(option: str, value: object, *, where: str = "", none: bool = False) -> None:
    """A yes/no option must be ``True`` or ``False`` (``'no'`` would count as yes)."""
    if isinstance(value, bool) or (none and value is None):
        return
    allowed = "True, False or None" if none else "True or False"
    raise ConfigurationError(f"{where}{option} must be {allowed}", value, f"e.g. {option}=False")
