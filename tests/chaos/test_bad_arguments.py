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
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fanscope
from fanscope import Hedge, Limiter, budget, parallel, vote
from fanscope.errors import ConfigurationError, FanscopeError
from fanscope.sdk.decorators import PER_FAN_OUT


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


def test_the_options_said_to_belong_to_each_fan_out_are_those_map_takes() -> None:
    import inspect

    from fanscope.sdk import decorators
    from fanscope.sdk.parallel import ParallelFunction
    from fanscope.sdk.sync_parallel import SyncParallelFunction

    for face in (ParallelFunction, SyncParallelFunction):
        options = {
            p.name
            for p in inspect.signature(face.map).parameters.values()
            if p.kind is p.KEYWORD_ONLY  # not its **unknown, which words a misspelling
        }
        assert set(decorators.PER_FAN_OUT) == options
    assert not set(decorators.PER_FAN_OUT) & set(inspect.signature(parallel).parameters)


# -- keywords and positions every public callable refuses -------------------------------------

# each public callable a user types options into, as the user calls it (``vote`` and
# ``vote.among`` are bound methods: their ``self`` is not the user's)
PUBLIC: dict[str, Any] = {
    "fanscope.Limiter": fanscope.Limiter,
    "fanscope.RateLimit": fanscope.RateLimit,
    "fanscope.budget()": fanscope.budget,
    "fanscope.Budget": fanscope.Budget,
    "fanscope.Hedge": fanscope.Hedge,
    "fanscope.Retry": fanscope.Retry,
    "fanscope.Adaptive": fanscope.Adaptive,
    "fanscope.Price": fanscope.Price,
    "fanscope.RedisBackend": fanscope.RedisBackend,
    "fanscope.configure()": fanscope.configure,
    "@parallel": fanscope.parallel,
    "@vote": fanscope.vote,
    "vote.among()": fanscope.vote.among,
    "@traced": fanscope.traced,
}


def keywords_of(call: Any) -> list[str]:
    import inspect

    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(call).parameters.values()
    return [p.name for p in params if p.kind in kinds and p.name != "self"]


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (
            lambda: Limiter(max_concurency=4),
            "fanscope.Limiter has no option max_concurency=; did you mean max_concurrency=?",
        ),
        (lambda: fanscope.RateLimit(reqests=5), "did you mean requests=?"),
        (lambda: budget(usd=1, nmae="x"), "fanscope.budget() has no option nmae=; did you mean"),
        (lambda: fanscope.Budget(usd=1, dollars=3), "its options: usd, tokens, name, backend"),
        (lambda: Hedge(afer="p95"), "fanscope.Hedge has no option afer=; did you mean after=?"),
        (lambda: fanscope.Retry(attemps=3), "did you mean attempts=?"),
        (lambda: fanscope.Adaptive(mn=2), "did you mean min=?"),
        (lambda: fanscope.Price(inpt=3, output=1), "did you mean input=?"),
        (lambda: fanscope.RedisBackend(ulr="redis://x"), "did you mean url=?"),
        (lambda: fanscope.configure(servce_name="x"), "did you mean service_name=?"),
        (lambda: vote(nn=5), "@vote has no option nn=; did you mean n=?"),
        (lambda: vote.among(plain, wieghts=[1]), "vote.among() has no option wieghts="),
        (lambda: fanscope.traced(nmae="x"), "@traced has no option nmae=; did you mean name=?"),
        (lambda: vote(on_eror="skip"), "@vote has no option on_eror=; its options: n, quorum"),
    ],
)
def test_a_misspelt_keyword_says_which_was_meant(call: Any, says: str) -> None:
    message = one_line(call)
    assert says in message
    with pytest.raises(TypeError):  # what ``except TypeError`` around it caught before
        call()


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (
            lambda: Limiter(4, 10),
            "fanscope.Limiter takes 1 argument by position (max_concurrency), got 2; pass the "
            "others by name, e.g. fanscope.Limiter(4, rate=10)",
        ),
        (
            lambda: budget(0.5),
            "fanscope.budget() takes no arguments by position, got 1; pass them by name, e.g. "
            "fanscope.budget(usd=0.5)",
        ),
        (lambda: Hedge("p95", 0.1), "e.g. fanscope.Hedge('p95', max_extra=0.1)"),
        (lambda: fanscope.Retry(3, 1), "e.g. fanscope.Retry(3, initial=1)"),
        (lambda: fanscope.configure("a", "b"), "e.g. fanscope.configure('a', trace_file='b')"),
        (lambda: fanscope.RateLimit(), "fanscope.RateLimit needs requests=; pass e.g."),
        (lambda: fanscope.Price(input=3), "fanscope.Price needs output=; pass e.g."),
        (
            lambda: Limiter(4, max_concurrency=4),
            "fanscope.Limiter got max_concurrency twice, by position and as max_concurrency=",
        ),
    ],
)
def test_arguments_in_the_wrong_place_say_how_to_pass_them(call: Any, says: str) -> None:
    assert says in one_line(call)


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: Limiter(4, name=5), "Limiter name must be a string (got 5)"),
        (lambda: budget(usd=1, name=5), "budget name must be a string (got 5)"),
        (lambda: parallel(name=5), "@parallel name must be a string (got 5)"),
        (lambda: vote(n=3, name=5), "@vote name must be a string (got 5)"),
        (lambda: vote.among(plain, name=5), "vote.among name must be a string (got 5)"),
        (lambda: fanscope.traced(name=5), "@traced name must be a string (got 5)"),
        (lambda: fanscope.gather(a=plain, name=5), "gather() name must be a string (got 5)"),
        (
            lambda: Limiter(follow_headers="no"),
            "Limiter follow_headers must be True or False (got 'no')",
        ),
        (lambda: fanscope.RateLimit("5"), "rate limit 'requests' must be > 0 (got '5')"),
        (lambda: fanscope.RateLimit(5, per="60"), "rate limit 'per' must be > 0 seconds"),
        (
            lambda: fanscope.gather(a=plain, on_eror="skip"),
            "gather() has no option on_eror=; did you mean on_error=?",
        ),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_where_it_is_given(call: Any, says: str) -> None:
    assert says in one_line(call)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"fingerprints": "no"}, "fingerprints must be True or False (got 'no')"),
        ({"instrument_threads": "off"}, "instrument_threads must be True or False"),
        ({"instrument_anthropic": 0}, "instrument_anthropic must be True or False"),
        ({"capture_content": "false"}, "capture_content must be True, False or None"),
        ({"fingerprint_key": 5}, "fingerprint_key must be a non-empty str or bytes (got 5)"),
    ],
)
def test_configure_refuses_a_yes_that_reads_no(options: dict[str, Any], says: str) -> None:
    # 'no' is truthy: fingerprints='no' turned them on; fingerprint_key=5 was bytes(5), five
    # zero bytes, silently the same key in every program that made the mistake
    from fanscope.sdk import fingerprint

    before = fingerprint.is_enabled()
    assert says in one_line(lambda: fanscope.configure(trace_file=False, **options))
    assert fingerprint.is_enabled() == before  # refused before changing anything


def test_a_named_gather_branch_spelt_like_no_option_is_still_a_branch() -> None:
    # only a value that is no branch is read as a misspelt option: news=... stays a branch
    answers = fanscope.gather(names=lambda: 1, reduced=lambda: 2)
    assert (answers.names, answers.reduced) == (1, 2)


def test_a_type_error_from_inside_the_call_is_left_as_it_is() -> None:
    from fanscope.sdk.arguments import checked

    raised = TypeError("from the body")

    @checked("thing()")
    def thing(count: int) -> int:
        raise raised

    with pytest.raises(TypeError) as caught:
        thing(1)
    assert caught.value is raised  # the same error, not one made from it
    with pytest.raises(FanscopeError, match=r"thing\(\) has no option cuont=; did you mean count="):
        thing(cuont=1)  # type: ignore[call-arg]


def test_the_checked_callables_keep_their_signatures_for_help_and_editors() -> None:
    import inspect

    assert list(inspect.signature(Limiter).parameters)[:2] == ["max_concurrency", "rate"]
    assert "service_name" in inspect.signature(fanscope.configure).parameters
    assert "max_concurrency" in inspect.signature(parallel).parameters
    assert "unknown" not in str(inspect.signature(parallel))  # no **kwargs in the help


def test_rate_limit_is_public_and_what_the_rate_errors_name() -> None:
    assert "RateLimit" in fanscope.__all__
    assert fanscope.RateLimit is fanscope.sdk.limits.RateLimit
    assert "fanscope.RateLimit(600, per=60)" in one_line(lambda: Limiter(rate="10/s"))
    assert Limiter(rate=fanscope.RateLimit(600, per=60)).rate == fanscope.RateLimit(600, per=60)


def _one_edit(word: str, data: st.DataObject) -> str:
    """``word`` with one letter dropped, doubled, changed, or two swapped."""
    at = data.draw(st.integers(0, len(word) - 1))
    letter = data.draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"))
    edit = data.draw(st.sampled_from(["drop", "double", "change", "swap"]))
    if edit == "drop":
        return word[:at] + word[at + 1 :]
    if edit == "double":
        return word[:at] + word[at] + word[at:]
    if edit == "change":
        return word[:at] + letter + word[at + 1 :]
    return word[:at] + word[at + 1 : at + 2] + word[at] + word[at + 2 :]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_one_letter_misspelling_of_any_keyword_is_one_line_naming_the_one_meant(
    data: st.DataObject,
) -> None:
    import difflib

    what = data.draw(st.sampled_from(sorted(PUBLIC)))
    call = PUBLIC[what]
    known = keywords_of(call)
    meant = data.draw(st.sampled_from(known))
    word = _one_edit(meant, data)
    assume(word not in known and word.isidentifier() and word not in PER_FAN_OUT)
    message = one_line(lambda: call(**{word: 1}))
    assert message.startswith(f"{what} has no option {word}=; ")
    near = re.search(r"did you mean (\w+)=\?$", message)
    if len(meant) >= 4:  # one letter off a word this long is always near enough to suggest
        assert near, message
    if near:  # the option meant, or one at least as close to what was typed
        ratio = difflib.SequenceMatcher(None, word, near.group(1)).ratio()
        assert near.group(1) in known
        assert ratio >= difflib.SequenceMatcher(None, word, meant).ratio()
    else:
        assert message.endswith("its options: " + ", ".join(known))


@settings(max_examples=200, deadline=None)
@given(what=st.sampled_from(sorted(PUBLIC)), word=st.text(min_size=1, max_size=20))
def test_any_keyword_at_all_that_is_not_an_option_is_one_line(what: str, word: str) -> None:
    call = PUBLIC[what]
    assume(word not in keywords_of(call) and word not in PER_FAN_OUT)
    message = one_line(lambda: call(**{word: 1}))
    assert message.startswith(f"{what} has no option ")


@pytest.mark.parametrize(
    ("call", "says"),
    [
        # each was Python's own error from inside, or accepted and failing later
        (lambda: fanscope.Adaptive(backoff="0.5"), "Adaptive backoff must be between 0 and 1"),
        (lambda: fanscope.Adaptive(tolerance="2"), "Adaptive tolerance must be >= 1 (got '2')"),
        (lambda: fanscope.Price(1, 2, above=5), "Price.above must be ((input tokens, Price), ...)"),
        (lambda: fanscope.Price(1, 2, above=((1, 2),)), "e.g. above=((200_000, Price(input="),
        (lambda: vote.among(plain, plain, weights=5), "weights must be a list, one number per"),
    ],
)
def test_a_value_that_failed_inside_is_refused_where_it_is_given(call: Any, says: str) -> None:
    assert says in one_line(call)


def test_retry_on_with_something_that_is_no_exception_class_is_refused() -> None:
    # isinstance(error, (ValueError, 5)) raised at the first failure, which the retry loop
    # read as "not retryable": nothing was ever retried, silently
    says = "Retry retry_on must be a predicate or exception classes"
    assert says in one_line(lambda: fanscope.Retry(retry_on=(ValueError, 5)))  # type: ignore[arg-type]
    assert says in one_line(lambda: fanscope.Retry(retry_on=()))
    assert says in one_line(lambda: fanscope.Retry(retry_on=int))  # type: ignore[arg-type]
    retry = fanscope.Retry(retry_on=(ValueError, KeyError))
    assert retry.next_delay(1, KeyError("x")) is not None
    assert retry.next_delay(1, TypeError("x")) is None


# what fanscope hands back, not what a user configures: built by fanscope, never by hand
RESULTS = {"Ballot", "Outcome", "Results"}


@pytest.mark.parametrize("name", sorted(fanscope.__all__))
def test_every_public_callable_that_takes_options_answers_an_unknown_one_in_one_line(
    name: str,
) -> None:
    # a name added to the public surface later gets the same care, or this fails
    value = getattr(fanscope, name)
    if name in RESULTS or (isinstance(value, type) and issubclass(value, BaseException)):
        return
    says = one_line(lambda: value(zz_no_such_option=1))
    if name == "gather":  # a keyword that is no option names a branch: 1 is no branch
        assert "gather() branch 'zz_no_such_option' is neither a call to await nor a" in says
        return
    assert "has no option zz_no_such_option=; its options: " in says
    if name == "vote":
        assert "vote.among() has no option zz_no_such_option=" in one_line(
            lambda: value.among(plain, zz_no_such_option=1)
        )
