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
    ("anthropic._tracing", "record_response", wrappers.sdk_record_response),
    ("anthropic._base_client", "SyncAPIClient._sleep_for_retry", wrappers.client_sleep_for_retry),
    ("anthropic._base_client", "AsyncAPIClient._sleep_for_retry", wrappers.aclient_sleep_for_retry),
)


def _owner(module: str, path: str) -> tuple[Any, str]:
    import importlib

    target: Any = importlib.import_module(module)
    *parents, name = path.split(".")
    for part in parents:
        target = getattr(target, part)
    return target, name


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """One GenAI span per Messages call, with fanscope's additions.

    ``AnthropicInstrumentor().instrument(capture_content=False)``; ``uninstrument()`` restores
    every patched method. Both are idempotent. Patches that the installed ``anthropic`` does
    not have (its private tracing hooks differ between versions) are skipped.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        if "capture_content" in kwargs:
            wrappers.set_capture_content(kwargs["capture_content"])
        for module, path, wrapper in PATCHES:
            try:
                _owner(module, path)
            except (ImportError, AttributeError):
                continue
            wrap_function_wrapper(module, path, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, path, _ in PATCHES:
            try:
                owner, name = _owner(module, path)
            except (ImportError, AttributeError):
                continue
            unwrap(owner, name)
