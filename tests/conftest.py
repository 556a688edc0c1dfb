"""Shared fixtures: one SDK TracerProvider for the whole run, spans collected in memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, is_hypothesis_test, settings
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope.testing.redis_server import RedisServer as _RedisServer
from tests.redis_server import RedisServer

_EXPORTER = InMemorySpanExporter()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        type=int,
        default=1,
        metavar="N",
        help="run every property test at N times its examples (and N times its time limit), "
        "to find the draws CI has not made yet (docs/testing.md)",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--soak N``: N times the examples of every ``@given`` test, its own ``@settings`` too."""
    times: int = config.getoption("soak")
    if times == 1:
        return
    if times < 1:
        raise pytest.UsageError(f"--soak takes a whole number of times from 1 up, got {times}")
    soaked: set[int] = set()
    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if test is None or not is_hypothesis_test(test):
            continue
        if id(test) not in soaked:  # the cases of a parametrized test share one function
            soaked.add(id(test))
            was: settings = test._hypothesis_internal_use_settings
            test._hypothesis_internal_use_settings = settings(
                was, max_examples=was.max_examples * times
            )
        limit = item.get_closest_marker("timeout")
        seconds = limit.args[0] if limit and limit.args else config.getini("timeout")
        if seconds:  # none at all stays none
            item.add_marker(pytest.mark.timeout(float(seconds) * times), append=False)


def pytest_configure(config: pytest.Config) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """The in-memory exporter every span of this test ends up in (cleared before and after)."""
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[_RedisServer]:
    """A real redis-server on a free loopback port, once per test run (per xdist worker).

    Skips with a visible reason when ``redis-server`` is not installed, unless
    ``FANSCOPE_REQUIRE_REDIS=1`` (CI) turns that into a failure.
    """
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: _RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_key() -> str:
    """A key of its own for each test: tests share the server, never a limit."""
    return f"fanscope-test:{uuid.uuid4().hex[:12]}"


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


# Property tests must not fail on a loaded machine: no per-example time limit, and no health
# check that fails when generating examples is slow. (A test may still set its own settings.)
settings.register_profile("fanscope", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fanscope")
