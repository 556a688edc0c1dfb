"""Other Anthropic instrumentations: keep the ones inside ours quiet, name the ones outside.

While a call runs, OpenTelemetry's "suppress instrumentation" context key is set, so another
Anthropic instrumentation that honours it (as the OpenTelemetry contrib ones do) and that
wraps the method inside ours makes no second span. One that wraps outside ours cannot be
silenced from here; the first such call logs a warning naming the other wrapper and the fix.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context

log = logging.getLogger("fanscope.integrations.anthropic")

_SUPPRESS = otel_context._SUPPRESS_INSTRUMENTATION_KEY
_warned_outer: list[str] = []


def _outside_ours(instance: Any, method: str, ours: Callable[..., Any]) -> str | None:
    """What wraps ``type(instance).method`` outside our wrapper, if anything does."""
    outermost = inspect.getattr_static(type(instance), method, None)
    wrapper = getattr(outermost, "_self_wrapper", None)
    if wrapper is None or wrapper is ours:
        return None
    return f"{getattr(wrapper, '__module__', '?')}.{getattr(wrapper, '__qualname__', '?')}"


def _fix_for(wrapper: str) -> str:
    """How to turn the other instrumentation off, under ``opentelemetry-instrument`` and in code.

    Auto-instrumentation loads instrumentors in an order the user cannot choose, so the fix
    that always works there is to disable the other one by its entry-point name.
    """
    name = None
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="opentelemetry_instrumentor"):
            package = ep.value.split(":")[0]
            if ep.name != "fanscope_anthropic" and (wrapper + ".").startswith(package + "."):
                name = ep.name
                break
    except Exception:
        name = None
    in_code = "in code, call its uninstrument(), or its instrument() before fanscope.configure()"
    if name is None:
        return f"turn it off ({in_code})"
    disabled = [n for n in os.environ.get(_DISABLED, "").split(",") if n.strip()]
    value = ",".join([*disabled, name])
    return f"turn it off: with opentelemetry-instrument, set {_DISABLED}={value}; {in_code}"


_DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"


def quiet_others(instance: Any, method: str, ours: Callable[..., Any]) -> object:
    """Set "suppress instrumentation" for the call: other Anthropic wrappers inside ours stay quiet.

    Returns the token to detach. Also warns, once, when another instrumentation wraps the
    method outside ours (it runs first, so it cannot be silenced from here).
    """
    if not _warned_outer:

        def check() -> None:
            other = _outside_ours(instance, method, ours)
            if other is not None:
                _warned_outer.append(other)
                log.warning(
                    "another instrumentation (%s) wraps anthropic %s.%s outside fanscope's, "
                    "so each call gets two spans; %s",
                    other,
                    type(instance).__name__,
                    method,
                    _fix_for(other),
                )

        try:
            check()
        except Exception:
            log.debug("fanscope could not look for other instrumentations", exc_info=True)
    return otel_context.attach(otel_context.set_value(_SUPPRESS, True))
