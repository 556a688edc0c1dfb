"""Retry policy: how many attempts, how long to wait between them, and what is retryable.

Terms follow tenacity: ``attempts`` (stop after), exponential ``wait`` with full jitter
(``random.uniform(0, min(max_wait, initial * multiplier ** (attempt - 1)))``, the variant
the AWS architecture blog "Exponential Backoff And Jitter" recommends), and a ``retry_on``
predicate. On top of that, a retry-after carried by the error wins over the backoff: a
``retry_after`` attribute (seconds), or the ``retry-after-ms`` / ``retry-after`` headers of
``exc.response`` (the headers HTTP clients such as ``anthropic`` attach to their errors).
We do not wrap tenacity itself because each attempt must also take a limiter slot, run
under a per-attempt timeout and add a span event, which is the runtime's job.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Literal

from fanscope.errors import ConfigurationError
from fanscope.sdk.arguments import checked

log = logging.getLogger("fanscope")

#: HTTP statuses worth another attempt: timeout, conflict, rate limit, and server errors.
RETRYABLE_STATUS = frozenset({408, 409, 429})
#: Exception class names of HTTP clients that mean "the request never got an answer".
RETRYABLE_NAMES = frozenset({"APIConnectionError", "APITimeoutError", "ConnectError"})
#: API error types worth another attempt when the status does not say so: Anthropic reports
#: an overload that cuts a stream short as an SSE ``error`` event on a 200 response (the
#: client raises ``APIStatusError`` with ``status_code == 200`` and ``type`` set).
RETRYABLE_ERROR_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error"})


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (``status_code`` or ``response.status_code``)."""
    for holder in (exc, getattr(exc, "response", None)):
        code = getattr(holder, "status_code", None)
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def default_retryable(exc: BaseException) -> bool:
    """Timeouts, connection failures, HTTP 408/409/429 and 5xx are retryable, and so is an
    overload or server error reported inside a successful (streamed) response; nothing else."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if any(cls.__name__ in RETRYABLE_NAMES for cls in type(exc).__mro__):
        return True
    code = status_code_of(exc)
    if code is not None and (code in RETRYABLE_STATUS or code >= 500):
        return True
    kind = getattr(exc, "type", None)
    in_a_success = code is not None and code < 400
    return in_a_success and isinstance(kind, str) and kind in RETRYABLE_ERROR_TYPES


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the error asks us to wait, or ``None`` when it does not say."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        raw = headers.get("retry-after")
    except (AttributeError, TypeError, ValueError):
        return None
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except (TypeError, ValueError):
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _positive(name: str, value: float, hint: str, *, allow_zero: bool = True) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or value < 0 or (not allow_zero and value == 0):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"Retry {name} must be a number {bound}", value, hint)
    return float(value)


class Retry:
    """How a failed attempt is retried.

    Args:
        attempts: attempts in all, the first included (``1`` means no retry); >= 1.
        initial: the first backoff ceiling in seconds.
        multiplier: growth of the ceiling per attempt.
        max_wait: the largest backoff ceiling in seconds.
        jitter: ``"full"`` draws the wait uniformly from 0 to the ceiling; ``"none"`` waits
            the ceiling.
        retry_on: a predicate on the exception, or exception classes; the default retries
            timeouts, connection errors, HTTP 408/409/429 and 5xx (see ``default_retryable``).
        max_retry_after: the longest retry-after honoured, in seconds; an error asking for
            more is not retried (it is raised, so the caller can reschedule the work).

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_rng",
        "_said",
        "attempts",
        "initial",
        "jitter",
        "max_retry_after",
        "max_wait",
        "multiplier",
        "retry_on",
    )

    @checked("fanscope.Retry")
    def __init__(
        self,
        attempts: int = 3,
        *,
        initial: float = 0.5,
        multiplier: float = 2.0,
        max_wait: float = 30.0,
        jitter: Literal["full", "none"] = "full",
        retry_on: Callable[[BaseException], bool]
        | type[BaseException]
        | tuple[type[BaseException], ...] = default_retryable,
        max_retry_after: float = 600.0,
        seed: int | None = None,
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigurationError(
                "Retry attempts must be a whole number >= 1 (the first attempt counts)",
                attempts,
                "use Retry(attempts=4) for up to 3 retries",
            )
        self.attempts = attempts
        self.initial = _positive("initial", initial, "e.g. initial=0.5")
        self.multiplier = _positive("multiplier", multiplier, "e.g. multiplier=2")
        self.max_wait = _positive("max_wait", max_wait, "e.g. max_wait=30")
        self.max_retry_after = _positive("max_retry_after", max_retry_after, "e.g. 600")
        if jitter not in ("full", "none"):
            raise ConfigurationError(
                "Retry jitter must be 'full' or 'none'", jitter, "use jitter='full'"
            )
        self.jitter = jitter
        if isinstance(retry_on, type | tuple):
            classes = retry_on
            each = classes if isinstance(classes, tuple) else (classes,)
            if not each or not all(
                isinstance(c, type) and issubclass(c, BaseException) for c in each
            ):
                # isinstance() would raise at the first failure, and nothing would be retried
                raise ConfigurationError(
                    "Retry retry_on must be a predicate or exception classes",
                    retry_on,
                    "pass retry_on=(TimeoutError, MyError) or a function exc -> bool",
                )

            def retry_on(exc: BaseException) -> bool:
                return isinstance(exc, classes)

        if not callable(retry_on):
            raise ConfigurationError(
                "Retry retry_on must be a predicate or exception classes",
                retry_on,
                "pass retry_on=(TimeoutError, MyError) or a function exc -> bool",
            )
        self.retry_on: Callable[[BaseException], bool] = retry_on
        self._rng = random.Random(seed)
        self._said = False  # a retry_on that raised has been named once

    def backoff(self, attempt: int) -> float:
        """The backoff after failed ``attempt`` (1-based), jitter applied."""
        ceiling = min(self.max_wait, self.initial * self.multiplier ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling) if self.jitter == "full" else ceiling

    def next_delay(self, attempt: int, exc: BaseException) -> tuple[float, float | None] | None:
        """Decide what follows failed ``attempt``.

        Returns:
            ``None`` to give up, else ``(delay, retry_after)``: the seconds to wait, and the
            retry-after the error carried (``None`` when it carried none).
        """
        if attempt >= self.attempts or isinstance(exc, Exception) is False:
            return None
        try:
            retryable = self.retry_on(exc)
        except Exception as broke:  # the user's predicate failed: the error stands, not retried
            said = f"not retried: retry_on raised {type(broke).__name__}: {broke}"
            if said not in getattr(exc, "__notes__", ()):
                exc.add_note(said)
            if not self._said:
                self._said = True
                log.warning(
                    "fanscope: Retry(retry_on=%s) raised %s: %s; errors it raises on are not "
                    "retried (retry_on must return True or False)",
                    getattr(self.retry_on, "__qualname__", self.retry_on),
                    type(broke).__name__,
                    broke,
                )
            return None
        if not retryable:
            return None
        after = retry_after_of(exc)
        if after is not None and after > self.max_retry_after:
            return None
        delay = self.backoff(attempt)
        if after is not None:
            delay = max(delay, after)
        return delay, after

    def _key(self) -> tuple[Any, ...]:
        return (
            self.attempts,
            self.initial,
            self.multiplier,
            self.max_wait,
            self.jitter,
            self.retry_on,
            self.max_retry_after,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Retry):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Retry(attempts={self.attempts}, initial={self.initial}, "
            f"multiplier={self.multiplier}, max_wait={self.max_wait}, jitter={self.jitter!r})"
        )
