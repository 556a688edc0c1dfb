"""Limiter and Retry policies on hand-built state, no waiting."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest

from fanscope import Limiter, Retry
from fanscope.errors import ConfigurationError
from fanscope.sdk.limits import RateLimit
from fanscope.sdk.retry import default_retryable, retry_after_of


class Headers(dict[str, str]):
    pass


class Response:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = Headers(headers or {})


class HTTPError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.response = Response(status, headers)


def test_rate_limit_allows_a_burst_then_spaces_requests() -> None:
    rate = RateLimit(2, per=1.0)
    assert rate.reserve(100.0) == 0.0
    assert rate.reserve(100.0) == 0.0
    assert rate.reserve(100.0) == pytest.approx(0.5)
    assert rate.reserve(100.0) == pytest.approx(1.0)
    # after a quiet second the burst is back
    fresh = RateLimit(2, per=1.0)
    fresh.reserve(0.0)
    fresh.reserve(0.0)
    assert fresh.delay(1.0) == 0.0
    assert fresh.delay(0.5) == 0.0  # one request back every half second
    assert fresh.delay(0.4) > 0.0


def test_rate_per_minute_spaces_by_the_period_over_requests() -> None:
    rate = RateLimit(60, per=60)
    for _ in range(60):
        assert rate.reserve(0.0) == 0.0
    assert rate.reserve(0.0) == pytest.approx(1.0)


async def test_cap_hands_slots_over_in_fifo_order() -> None:
    limiter = Limiter(1)
    order: list[int] = []
    await limiter.acquire_slot()

    async def waiter(i: int) -> None:
        await limiter.acquire_slot()
        order.append(i)
        limiter.release()

    tasks = [asyncio.ensure_future(waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert limiter.wait_reason() == "cap"
    limiter.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    assert limiter.in_use == 0


async def test_a_cancelled_waiter_does_not_leak_a_slot() -> None:
    limiter = Limiter(1)
    await limiter.acquire_slot()
    task = asyncio.ensure_future(limiter.acquire_slot())
    await asyncio.sleep(0)
    limiter.release()  # hands the slot to the waiter...
    task.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limiter.in_use == 0
    assert limiter.wait_reason() is None


def test_pause_makes_the_next_acquire_wait_for_rate() -> None:
    limiter = Limiter(4)
    assert limiter.wait_reason() is None
    limiter.pause(5.0)
    assert limiter.wait_reason() == "rate"
    assert 4.0 < limiter.reserve_rate() <= 5.0


def test_limiter_repr_and_bad_values() -> None:
    assert repr(Limiter(3, rate=2, name="p")) == (
        "Limiter(max_concurrency=3, rate=RateLimit(2, per=1.0), name='p')"
    )
    with pytest.raises(ConfigurationError, match="got 0"):
        Limiter(0)
    with pytest.raises(ConfigurationError, match="rate must be requests per second"):
        Limiter(rate="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'per' must be > 0"):
        RateLimit(5, per=0)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (HTTPError(429), True),
        (HTTPError(408), True),
        (HTTPError(409), True),
        (HTTPError(500), True),
        (HTTPError(529), True),
        (HTTPError(499), False),
        (HTTPError(400), False),
        (HTTPError(404), False),
        (ValueError(), False),
        (type("APIConnectionError", (Exception,), {})(), True),
    ],
)
def test_default_retryable_on_both_sides_of_each_boundary(
    exc: BaseException, retryable: bool
) -> None:
    assert default_retryable(exc) is retryable


def test_retry_after_from_attribute_headers_and_http_dates() -> None:
    err: Any = Exception()
    err.retry_after = 3
    assert retry_after_of(err) == 3.0
    assert retry_after_of(HTTPError(429, {"retry-after-ms": "1500"})) == 1.5
    assert retry_after_of(HTTPError(429, {"retry-after": "7"})) == 7.0
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_of(HTTPError(429, {"retry-after": date})) or 0) <= 30
    assert retry_after_of(HTTPError(429, {"retry-after": "soon"})) is None
    assert retry_after_of(HTTPError(429)) is None
    assert retry_after_of(ValueError()) is None


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    exact = Retry(attempts=10, initial=1, multiplier=2, max_wait=5, jitter="none")
    assert [exact.backoff(a) for a in (1, 2, 3, 4)] == [1, 2, 4, 5]
    jittered = Retry(attempts=10, initial=1, multiplier=2, max_wait=5, seed=7)
    draws = [jittered.backoff(3) for _ in range(200)]
    assert all(0 <= d <= 4 for d in draws)
    assert min(draws) < 1 and max(draws) > 3


def test_next_delay_gives_up_at_the_last_attempt_and_on_unretryable() -> None:
    retry = Retry(attempts=3, initial=0, jitter="none")
    assert retry.next_delay(1, TimeoutError()) == (0.0, None)
    assert retry.next_delay(2, TimeoutError()) == (0.0, None)
    assert retry.next_delay(3, TimeoutError()) is None
    assert retry.next_delay(1, ValueError()) is None


def test_retry_after_wins_over_backoff_until_it_is_too_long() -> None:
    retry = Retry(attempts=3, initial=0.1, jitter="none", max_retry_after=60)
    assert retry.next_delay(1, HTTPError(429, {"retry-after": "2"})) == (2.0, 2.0)
    assert retry.next_delay(1, HTTPError(429, {"retry-after": "61"})) is None


def test_retry_on_accepts_classes_and_a_failing_predicate_means_no_retry() -> None:
    retry = Retry(attempts=2, initial=0, retry_on=(KeyError,))
    assert retry.next_delay(1, KeyError()) is not None
    assert retry.next_delay(1, TimeoutError()) is None

    def broken(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    assert Retry(attempts=2, retry_on=broken).next_delay(1, KeyError()) is None


def test_retry_values_are_checked_and_compared() -> None:
    assert Retry(attempts=4) == Retry(attempts=4)
    assert Retry(attempts=4) != Retry(attempts=5)
    assert "attempts=4" in repr(Retry(attempts=4))
    with pytest.raises(ConfigurationError, match="use Retry\\(attempts=4\\)"):
        Retry(attempts=0)
    with pytest.raises(ConfigurationError, match="jitter must be 'full' or 'none'"):
        Retry(jitter="half")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="initial must be a number >= 0"):
        Retry(initial=-1)
