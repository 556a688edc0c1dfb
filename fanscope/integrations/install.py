"""What ``fanscope.configure()`` installs into the process besides exporters.

* The Anthropic instrumentation, when ``anthropic`` is imported (wrapt's post-import hook):
  ``configure()`` itself never imports ``anthropic``, so an app that does not use it pays
  nothing, and an app that imports it after ``configure()`` is instrumented all the same.
* Context propagation into threads (:mod:`fanscope.integrations.threads`).

Nothing here raises into the application: a hook that fails logs one warning and the
import goes on.
"""

from __future__ import annotations

import importlib
import logging
import sys

log = logging.getLogger("fanscope")

_anthropic: dict[str, bool | None] = {"capture_content": None}
_hooked: list[bool] = []


def _on_anthropic_import(_module: object) -> None:
    try:
        integration = importlib.import_module("fanscope.integrations.anthropic")
        integration.configure_from_fanscope(capture_content=_anthropic["capture_content"])
    except Exception as exc:  # the user's import of anthropic must not fail because of us
        log.warning("fanscope: the Anthropic instrumentation could not be installed (%s)", exc)


def anthropic_on_import(capture_content: bool | None) -> None:
    """Instrument ``anthropic`` now if it is imported already, else as soon as it is."""
    _anthropic["capture_content"] = capture_content
    if "anthropic" in sys.modules:
        _on_anthropic_import(sys.modules["anthropic"])
        return
    if not _hooked:
        import wrapt

        wrapt.register_post_import_hook(_on_anthropic_import, "anthropic")
        _hooked.append(True)


_threads: list[bool] = []


def threads() -> None:
    """Carry the current span into threads and pool jobs (once per process)."""
    if _threads:
        return
    _threads.append(True)
    try:
        from fanscope.integrations import threads as threads_module

        threads_module.instrument()
    except ImportError as exc:
        log.warning(
            "fanscope: work in threads will not nest under its caller's span: %s is not "
            "installed; pip install opentelemetry-instrumentation-threading",
            exc.name or "opentelemetry-instrumentation-threading",
        )
