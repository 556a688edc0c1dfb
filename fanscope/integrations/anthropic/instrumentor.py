"""``AnthropicInstrumentor``: patches the ``anthropic`` client with wrapt, undoes it on request."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from fanscope.integrations.anthropic import wrappers
from fanscope.integrations.anthropic.package import _instruments

# (module, attribute path, wrapper): what instrument() patches and uninstrument() restores.
PATCHES: tuple[tuple[str, str, Any], ...] = (
    ("anthropic.resources.messages.messages", "Messages.create", wrappers.create_sync),
    ("anthropic.resources.messages.messages", "AsyncMessages.create", wrappers.create_async),
    ("anthropic.resources.messages.messages", "Messages.stream", wrappers.stream_manager),
    ("anthropic.resources.messages.messages", "AsyncMessages.stream", wrappers.stream_manager),
    ("anthropic.lib.streaming._messages", "MessageStreamManager.__enter__", wrappers.manager_enter),
    (
        "anthropic.lib.streaming._messages",
        "AsyncMessageStreamManager.__aenter__",
        wrappers.manager_aenter,
    ),
    # the beta Messages API (``client.beta.messages``): the same calls, the same spans
    ("anthropic.resources.beta.messages.messages", "Messages.create", wrappers.create_sync),
    ("anthropic.resources.beta.messages.messages", "AsyncMessages.create", wrappers.create_async),
    ("anthropic.resources.beta.messages.messages", "Messages.stream", wrappers.stream_manager),
    ("anthropic.resources.beta.messages.messages", "AsyncMessages.stream", wrappers.stream_manager),
    (
        "anthropic.lib.streaming._beta_messages",
        "BetaMessageStreamManager.__enter__",
        wrappers.manager_enter,
    ),
    (
        "anthropic.lib.streaming._beta_messages",
        "BetaAsyncMessageStreamManager.__aenter__",
        wrappers.manager_aenter,
    ),
    ("anthropic._streaming", "Stream.__stream__", wrappers.stream_events),
    ("anthropic._streaming", "AsyncStream.__stream__", wrappers.astream_events),
    ("anthropic._streaming", "Stream.close", wrappers.stream_close),
    ("anthropic._streaming", "AsyncStream.close", wrappers.astream_close),
    ("anthropic._base_client", "start_api_call_span", wrappers.sdk_span_started),
    # the answer on the SDK's span: ``record_response`` since anthropic 2.6, before that the
    # call's end (one of the two, see FALLBACKS)
    ("anthropic._tracing", "record_response", wrappers.sdk_record_response),
    ("anthropic._base_client", "SyncAPIClient._sleep_for_retry", wrappers.client_sleep_for_retry),
    ("anthropic._base_client", "AsyncAPIClient._sleep_for_retry", wrappers.aclient_sleep_for_retry),
    # each successful answer's rate-limit headers, for the limiters in force
    ("anthropic._base_client", "SyncAPIClient._process_response", wrappers.client_response),
    ("anthropic._base_client", "AsyncAPIClient._process_response", wrappers.aclient_response),
)

# (module, attribute path) of a patch -> the patch to make instead when that one does not exist
FALLBACKS: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("anthropic._tracing", "record_response"): (
        "anthropic._base_client",
        "finish_api_call_span",
        wrappers.sdk_finish_call,
    ),
}


def _owner(module: str, path: str) -> tuple[Any, str]:
    """The object holding the patched attribute, and its name; raises when either is missing."""
    import importlib

    target: Any = importlib.import_module(module)
    *parents, name = path.split(".")
    for part in parents:
        target = getattr(target, part)
    getattr(target, name)
    return target, name


def _resolves(module: str, path: str) -> bool:
    try:
        _owner(module, path)
    except (ImportError, AttributeError):
        return False
    return True


def _patches() -> list[tuple[str, str, Any]]:
    """Every patch, or its fallback where the patch does not exist but the fallback does."""
    chosen = []
    for module, path, wrapper in PATCHES:
        fallback = FALLBACKS.get((module, path))
        if fallback is not None and not _resolves(module, path) and _resolves(*fallback[:2]):
            chosen.append(fallback)
        else:
            chosen.append((module, path, wrapper))
    return chosen


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """One GenAI span per Messages call, with fanscope's additions.

    ``AnthropicInstrumentor().instrument(capture_content=False)``; ``uninstrument()`` restores
    every patched method. Both are idempotent. Patches that the installed ``anthropic`` does
    not have (its private hooks differ between versions) are skipped with one warning that
    names each missing hook and what is lost without it.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        if "capture_content" in kwargs:
            wrappers.set_capture_content(kwargs["capture_content"])
        missing = []
        for module, path, wrapper in _patches():
            if not _resolves(module, path):
                missing.append((module, path, wrapper))
                continue
            wrap_function_wrapper(module, path, wrapper)
        wrappers.warn_missing(missing)

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, path, _ in _patches():
            if _resolves(module, path):
                unwrap(*_owner(module, path))
