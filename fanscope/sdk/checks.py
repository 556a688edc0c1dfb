"""What decorating a function and calling a fan-out check, for every face of the SDK.

A decorator (``@parallel``, ``@vote``, ``gather``'s targets) refuses what it cannot wrap
(:func:`check_target`: a generator, an async generator, something not callable), naming the
function and the fix; a fan-out's call (``map``, ``starmap``, ``as_completed``, on the async
and the sync face alike) checks its input, failure policy, deadline and reduce
(:func:`fan_out_options`) and words a keyword it does not take (:func:`refuse_options`). They
are apart from the faces themselves because every face runs the same checks, once per
decoration or per fan-out, never per branch: each message is written once, here.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

from fanscope.errors import UsageError
from fanscope.sdk.arguments import no_option
from fanscope.sdk.branch import check_timeout
from fanscope.sdk.policy import OnError, check_policy, check_reduce


def qualified_name(fn: object) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def check_target(fn: object, decorator: str) -> bool:
    """Refuse what cannot be decorated, naming the function and the fix; return ``True`` for
    a plain (blocking) ``def`` and ``False`` for an ``async def``.

    An object whose class has an ``async def __call__`` (a ``@vote``, say) counts as async.
    """
    if inspect.iscoroutinefunction(fn):
        return False
    plain = inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn)
    call = None if plain else vars(type(fn)).get("__call__")
    if inspect.iscoroutinefunction(call):
        return False
    name = getattr(fn, "__qualname__", None) or repr(fn)
    if inspect.isasyncgenfunction(fn):
        raise UsageError(
            f"{decorator} needs a function that returns a value, but {name} is an async "
            f"generator; collect its items in an 'async def' and decorate that"
        )
    if inspect.isgeneratorfunction(fn):
        raise UsageError(
            f"{decorator} needs a function that returns a value, but {name} is a generator; "
            f"return a list instead, or decorate the function that consumes it"
        )
    if not callable(fn):
        raise UsageError(f"{decorator} decorates a function, got {fn!r}")
    return True


def binding_of(fn: object) -> str:
    """``"static"`` or ``"class"`` for a ``staticmethod``/``classmethod`` object, else ``""``."""
    if isinstance(fn, staticmethod):
        return "static"
    if isinstance(fn, classmethod):
        return "class"
    return ""


Items = Iterable[Any] | AsyncIterable[Any]


def _items(items: object, method: str) -> Items:
    """Check what a fan-out is asked to go over (it is read only as branches start)."""
    if isinstance(items, str | bytes):
        raise UsageError(
            f"{method}() got a {type(items).__name__}, which would fan out over its characters; "
            f"pass a list, e.g. {method}([text])"
        )
    if not isinstance(items, Iterable | AsyncIterable):
        raise UsageError(
            f"{method}() needs an iterable of inputs, got {type(items).__name__} {items!r}; "
            f"pass e.g. a list, a generator or an async generator"
        )
    return items


def fan_out_options(
    items: object,
    method: str,
    on_error: OnError,
    min_successes: int | None,
    deadline: float | None,
    reduce: object = None,
) -> tuple[Items, float | None]:
    """Check what a fan-out is asked (both faces): its input, failure policy, deadline, reduce."""
    checked = _items(items, method)
    check_policy(on_error, min_successes)
    check_reduce(reduce)
    return checked, check_timeout("deadline", deadline)


MAP_OPTIONS = ("on_error", "min_successes", "deadline", "reduce")
STREAM_OPTIONS = ("on_error", "deadline")  # as_completed: the caller combines

# options of the function given to one fan-out: said where they belong
PER_FUNCTION = {
    word: f"it is an option of the function, for all its calls: @parallel({word}=...)"
    for word in ("max_concurrency", "limiter", "rate", "retry", "name", "budget", "hedge")
}
PER_FUNCTION["timeout"] = (
    "it limits each call, an option of the function: @parallel(timeout=...); "
    "for the whole fan-out pass deadline=..."
)


def refuse_options(
    name: str, method: str, options: Sequence[str], unknown: Mapping[str, object]
) -> NoReturn:
    """A fan-out's call given keywords it does not take (its ``**unknown``): one line, the fix.

    ``summarize.map() has no option on_eror=; did you mean on_error=?``
    """
    raise UsageError(no_option(f"{name}.{method}()", next(iter(unknown)), options, PER_FUNCTION))
