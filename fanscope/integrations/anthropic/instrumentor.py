"""``AnthropicInstrumentor``: patches the ``anthropic`` client with wrapt, undoes it on request."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from fanscope.integrations.anthropic import client_hooks, wrappers
from fanscope.integrations.anthropic.package import _instruments

log = logging.getLogger("fanscope.integrations.anthropic")

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
    ("anthropic._base_client", "start_api_call_span", client_hooks.sdk_span_started),
    # the answer on the SDK's span: ``record_response`` since anthropic 2.6, before that the
    # call's end (one of the two, see FALLBACKS)
    ("anthropic._tracing", "record_response", client_hooks.sdk_record_response),
    (
        "anthropic._base_client",
        "SyncAPIClient._sleep_for_retry",
        client_hooks.client_sleep_for_retry,
    ),
    (
        "anthropic._base_client",
        "AsyncAPIClient._sleep_for_retry",
        client_hooks.aclient_sleep_for_retry,
    ),
    # each successful answer's rate-limit headers, for the limiters in force
    ("anthropic._base_client", "SyncAPIClient._process_response", client_hooks.client_response),
    ("anthropic._base_client", "AsyncAPIClient._process_response", client_hooks.aclient_response),
)

# (module, attribute path) of a patch -> the patch to make instead when that one does not exist
FALLBACKS: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("anthropic._tracing", "record_response"): (
        "anthropic._base_client",
        "finish_api_call_span",
        client_hooks.sdk_finish_call,
    ),
}


# -- hooks that the installed anthropic does not have --------------------------------------------

# What a user loses when the hook a wrapper goes on cannot be found (the SDK renamed or moved a
# private method): said once, by name, rather than skipped in silence.
_NO_SPAN = (
    "messages.create() calls get no fanscope GenAI span or attributes (no data-flow "
    "fingerprints, so the analyzer cannot link one call to the next)"
)
_NO_STREAM_SPAN = "messages.stream() calls get no fanscope GenAI span or attributes"
_NO_STREAM_EVENTS = (
    "streamed calls get no finish reason, token usage, time to first token or output fingerprints"
)
_LONG_SPAN = (
    "a stream closed before it was read ends fanscope's span only when it is garbage-collected, "
    "so the span is too long"
)
_SDK_SPAN_BARE = (
    "while the SDK's own telemetry is on (its default), its span of each call gets none of "
    "fanscope's additions (no data-flow fingerprints, so the analyzer cannot link one call to "
    "the next); turning it off (ANTHROPIC_OPEN_TELEMETRY=false) gives fanscope's own span instead"
)
_SDK_SPAN_NO_ANSWER = (
    "while the SDK's own telemetry is on (its default), its span of each call gets no finish "
    "reasons, GenAI token usage or output fingerprints; turning it off "
    "(ANTHROPIC_OPEN_TELEMETRY=false) gives fanscope's own span instead"
)
_NO_RETRIES = (
    "retries the client makes inside a call are not recorded (no fanscope.genai.retry events, "
    "no http.request.resend_count on fanscope's span)"
)
_NO_HEADERS = (
    "limiters do not hear the rate-limit headers of successful answers (no pacing to what the "
    "provider says remains)"
)
LOSSES: dict[Callable[..., Any], str] = {
    wrappers.create_sync: _NO_SPAN,
    wrappers.create_async: _NO_SPAN,
    wrappers.stream_manager: _NO_STREAM_SPAN,
    wrappers.manager_enter: _NO_STREAM_SPAN,
    wrappers.manager_aenter: _NO_STREAM_SPAN,
    wrappers.stream_events: _NO_STREAM_EVENTS,
    wrappers.astream_events: _NO_STREAM_EVENTS,
    wrappers.stream_close: _LONG_SPAN,
    wrappers.astream_close: _LONG_SPAN,
    client_hooks.sdk_span_started: _SDK_SPAN_BARE,
    client_hooks.sdk_record_response: _SDK_SPAN_NO_ANSWER,
    client_hooks.sdk_finish_call: _SDK_SPAN_NO_ANSWER,
    client_hooks.client_sleep_for_retry: _NO_RETRIES,
    client_hooks.aclient_sleep_for_retry: _NO_RETRIES,
    client_hooks.client_response: _NO_HEADERS,
    client_hooks.aclient_response: _NO_HEADERS,
}

_warned_missing: set[str] = set()


def warn_missing(missing: Iterable[tuple[str, str, Callable[..., Any]]]) -> str | None:
    """Log one warning naming each hook of ``missing`` (module, attribute path, wrapper) and what
    is lost without it; hooks already named in this process are not named again. Returns the
    message, or ``None`` when there was nothing new to say."""
    lost: dict[str, list[str]] = {}
    for module, path, wrapper in missing:
        hook = f"{module}.{path}"
        if hook in _warned_missing:
            continue
        _warned_missing.add(hook)
        lost.setdefault(LOSSES.get(wrapper, "fanscope's additions to these calls"), []).append(hook)
    if not lost:
        return None
    try:
        from importlib.metadata import version

        which = f"anthropic {version('anthropic')}"
    except Exception:
        which = "the installed anthropic"
    parts = "; ".join(f"{', '.join(hooks)} not found: {loss}" for loss, hooks in lost.items())
    message = (
        f"fanscope: {which} lacks hooks fanscope's Anthropic instrumentation patches, so some "
        f"of what it records is missing ({parts}). Calls still work; pin an anthropic version "
        f"that has them (see docs/anthropic.md) or upgrade fanscope"
    )
    log.warning("%s", message)
    return message


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
        warn_missing(missing)

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, path, _ in _patches():
            if _resolves(module, path):
                unwrap(*_owner(module, path))
