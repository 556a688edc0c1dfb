"""What a newcomer types wrong into the API: each is one line that says what was wrong and what
to pass instead, raised where the mistake is made (the decorator, the constructor,
``configure()``), never a Python error from deep inside."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import fanscope
from fanscope import Hedge, Limiter, budget, parallel, vote
from fanscope.errors import ConfigurationError, FanscopeError


def one_line(call: Any) -> str:
    with pytest.raises(FanscopeError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


def plain(x: int) -> int:
    return x


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: parallel(max_concurrency="8")(plain), "max_concurrency must be a whole number"),
        (lambda: parallel(retry="3")(plain), "retry must be a Retry or a number of attempts"),
        (lambda: parallel(rate="10/s")(plain), "pass rate=10 (per second)"),
        (lambda: parallel(timeout="30")(plain), "pass e.g. timeout=30"),
        (lambda: parallel(hedge=True), "e.g. hedge=fanscope.Hedge('p95')"),
        (lambda: parallel(budget=5), "e.g. budget=fanscope.budget(usd=0.50)"),
        (lambda: parallel(limiter=5), "create one with fanscope.Limiter("),
        (lambda: parallel(8), "@parallel decorates a function, got 8"),
        (lambda: vote(n="5")(plain), "@vote n must be a whole number >= 1 (got '5')"),
        (lambda: Hedge("95"), "e.g. Hedge(after='p95')"),
        (lambda: Hedge("p95", max_extra="5%"), "e.g. max_extra=0.05"),
        (lambda: Hedge("p99.9"), "pass window=5000 or more"),
        (lambda: Limiter("8"), "max_concurrency must be a whole number >= 1 or 'auto'"),
        (lambda: Limiter(rate="10/s"), "pass rate=10 (per second)"),
        (lambda: budget(usd="5"), "pass e.g. usd=0.50"),
        (lambda: budget(), "pass usd=0.50, tokens=200_000 or both"),
    ],
)
def test_a_wrong_argument_is_one_line_with_the_fix(call: Any, says: str) -> None:
    assert says in one_line(call)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"otlp_endpoint": "localhost:4318"}, "pass otlp_endpoint='http://localhost:4318'"),
        ({"otlp_endpoint": "ftp://collector:4318"}, "pass otlp_endpoint='http://collector:4318'"),
        ({"otlp_endpoint": "http://"}, "otlp_endpoint names no host"),
        ({"otlp_endpoint": "http://localhost:99999"}, "port outside 1-65535"),
        ({"otlp_endpoint": "http://local host:4318"}, "has a space in it"),
        ({"otlp_endpoint": 4318}, "otlp_endpoint must be a URL (got 4318)"),
        ({"trace_file": 5}, "trace_file must be a path, or False for no file"),
        ({"service_name": 5}, "pass e.g. service_name='research-agent'"),
    ],
)
def test_configure_refuses_what_no_exporter_could_use_before_changing_anything(
    options: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigurationError):
        fanscope.configure(**options)
    assert says in one_line(lambda: fanscope.configure(**options))


def test_a_grpc_endpoint_may_be_host_and_port_alone() -> None:
    from fanscope.exporters.destinations import check_endpoint

    check_endpoint("localhost:4317", "grpc", "otlp_endpoint")  # what the gRPC exporter takes
    with pytest.raises(ConfigurationError, match="otlp_endpoint must start with http://"):
        check_endpoint("localhost:4317", "http/protobuf", "otlp_endpoint")


def test_a_bad_endpoint_in_the_environment_is_one_warning_and_the_spans_go_to_the_file(
    tmp_path: Any,
) -> None:
    # the environment may set it for every program: a warning, not a program that will not start
    app = textwrap.dedent(
        """
        import fanscope

        fanscope.configure(service_name="x")

        @fanscope.traced
        def step() -> int:
            return 1

        print(step())
        """
    )
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", app], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == "1\n", done.stderr
    assert done.stderr == (
        "fanscope: OTEL_EXPORTER_OTLP_ENDPOINT must start with http:// or https:// (got "
        "'collector:4318'); set OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318; spans are "
        "not sent over OTLP\n"
    )
    assert '"name":"step"' in (tmp_path / "traces.jsonl").read_text()


@parallel(max_concurrency=2)
async def ask(x: int) -> int:
    return x


@parallel(max_concurrency=2)
def look(x: int) -> int:
    return x


def test_a_reduce_that_is_no_function_is_refused_before_any_branch_runs() -> None:
    ran: list[int] = []

    @parallel(max_concurrency=2)
    def counted(x: int) -> int:
        ran.append(x)
        return x

    says = "reduce must be a function of the list of results, got 5"
    assert says in one_line(lambda: counted.map([1, 2], reduce=5))  # type: ignore[call-overload]
    assert says in one_line(lambda: fanscope.gather(counted, reduce=5))  # type: ignore[arg-type]
    assert ran == []
    with pytest.raises(FanscopeError, match=says):
        asyncio.run(ask.map([1], reduce=5))  # type: ignore[call-overload]


def test_a_gather_branch_that_is_a_value_is_refused_at_once_in_sync_code() -> None:
    # look(1) ran before gather saw it: 1 is neither a function nor a call to await, and
    # sync code never awaits the coroutine an async gather would return
    says = "gather() branch 'a' is neither a call to await nor a function (got 1)"
    assert says in one_line(lambda: fanscope.gather(a=look(1)))  # type: ignore[call-overload]
    assert "news=lambda: search_news(q)" in one_line(lambda: fanscope.gather(look(1), 2))  # type: ignore[call-overload]


def test_an_async_parallel_function_passed_uncalled_to_gather_is_refused_at_once() -> None:
    # it looked like a sync function: gather ran it on a thread, which made a coroutine, and
    # the error came back from the fan-out as a failed branch
    says = "gather() branch 'a' is an async function"
    assert says in one_line(lambda: fanscope.gather(a=ask, b=lambda: 2))
    assert says in one_line(lambda: fanscope.gather(a=look.aio, b=lambda: 2))


def test_branches_that_fail_alike_are_named_together_with_the_error_once() -> None:
    # the README's agent run without a key: every branch fails with the client's same
    # 200-character message, which was repeated once per branch on one line
    @parallel(max_concurrency=4)
    def keyless(x: int) -> int:
        raise TypeError("Could not resolve authentication method")

    with pytest.raises(fanscope.NotEnoughSuccesses) as caught:
        keyless.map(range(7), on_error="skip", min_successes=1)
    message = str(caught.value)
    assert message.count("Could not resolve authentication method") == 1
    assert re.search(r"failed: (keyless\[\d\], ){4}keyless\[\d\] and 2 more: TypeError", message)
    assert len(caught.value.exceptions) == 7  # each kept, in the order they failed
    assert sorted(caught.value.branches) == [f"keyless[{i}]" for i in range(7)]


def test_branches_that_fail_differently_are_each_named() -> None:
    error = fanscope.FanoutError.for_branches(
        "gather", [("news", TimeoutError("slow")), ("db", ValueError("a, b")), ("x", KeyError(1))]
    )
    assert str(error).startswith(
        "3 branches of gather failed: news: TimeoutError: slow; db: ValueError: a, b; "
        "x: KeyError: 1"
    )


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"on_error": "collect"}, "it is an option of each fan-out; pass it to the call, e.g. "),
        ({"min_successes": 3}, "f.map(items, min_successes=...)"),
        ({"maxconcurrency": 4}, "@parallel has no option maxconcurrency=; did you mean max_con"),
        ({"retries": 3}, "did you mean retry=?"),
        ({"colour": "red"}, "its options: max_concurrency, limiter, rate, retry, timeout, name"),
    ],
)
def test_an_option_parallel_does_not_take_says_where_it_belongs(
    options: dict[str, Any], says: str
) -> None:
    assert says in one_line(lambda: parallel(**options))


def test_the_options_named_in_that_message_are_the_decorator_s_own() -> None:
    import inspect

    from fanscope.sdk import decorators

    own = set(inspect.signature(decorators.parallel).parameters) - {"fn", "unknown"}
    assert set(decorators._OPTIONS) == own
