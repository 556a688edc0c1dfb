"""fanscope's exceptions cross process boundaries intact, and are named the same whatever the
import order: through a real process pool (both ways), through pytest-xdist, and on spans."""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import fanscope
from fanscope import errors
from fanscope.sdk.ballot import Ballot
from fanscope.sdk.outcomes import Outcome

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def _ballot() -> Ballot[str]:
    return Ballot(
        winner=None,
        winner_key=None,
        decided=False,
        decided_by=None,
        counts={"yes": 1.0, "no": 1.0},
        agreement=0.0,
        n=2,
        answered=2,
        failed=0,
        cancelled=0,
        stopped_early=False,
        outcomes=(Outcome(0, "ok", "yes"), Outcome(1, "ok", "no")),
    )


SAMPLES: dict[type[errors.FanscopeError], Callable[[], errors.FanscopeError]] = {
    errors.FanscopeError: lambda: errors.FanscopeError("something went wrong"),
    errors.ConfigurationError: lambda: errors.ConfigurationError(
        "max_concurrency must be a positive int", 0, "pass 1 or more, or None for no cap"
    ),
    errors.UsageError: lambda: errors.UsageError("map() needs an iterable of inputs, got int 5"),
    errors.DeadlineExceeded: lambda: errors.DeadlineExceeded("summarize[3]", 2.5),
    errors.TraceReadError: lambda: errors.TraceReadError("traces.jsonl", "line 3 is not JSON"),
    errors.NoConsensus: lambda: errors.NoConsensus("vote judge found no winner", _ballot()),
    errors.BudgetExceeded: lambda: errors.BudgetExceeded("research", "usd", 0.48, 0.5, 0.031),
    errors.FanoutError: lambda: errors.FanoutError.for_branches(
        "map summarize",
        [("summarize[1]", ValueError("bad input 1")), ("summarize[4]", KeyError(4))],
    ),
    errors.NotEnoughSuccesses: lambda: errors.NotEnoughSuccesses.for_branches(
        "vote judge (needed 2 answers, got 1)", [("judge[0]", RuntimeError("down"))]
    ),
}


def every_class() -> set[type[BaseException]]:
    return {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.FanscopeError)
    }


def test_every_exception_class_has_a_sample_here() -> None:
    assert set(SAMPLES) == every_class()


def state(exc: BaseException) -> dict[str, Any]:
    """What a user can see of an exception: type, message, args, attributes, notes, members."""
    seen: dict[str, Any] = {
        "type": type(exc),
        "str": str(exc),
        "repr": repr(exc),
        "attrs": {k: v for k, v in vars(exc).items() if k != "ballot"},
    }
    if isinstance(exc, BaseExceptionGroup):
        seen["members"] = [(type(e), str(e)) for e in exc.exceptions]
        seen["branches"] = getattr(exc, "branches", None)
    if isinstance(exc, errors.NoConsensus):
        seen["ballot"] = (exc.ballot.counts, exc.ballot.answers)
    return seen


def raise_sample(cls: type[errors.FanscopeError]) -> None:
    exc = SAMPLES[cls]()
    exc.add_note("raised in a worker process")
    raise exc


def describe(exc: BaseException) -> dict[str, Any]:
    return state(exc)


@pytest.fixture(scope="module")
def pool() -> Any:
    # spawn: the worker shares nothing with this process, so everything crosses as a pickle
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_raised_in_a_worker_process_it_arrives_whole(
    cls: type[errors.FanscopeError], pool: Any
) -> None:
    expected = SAMPLES[cls]()
    expected.add_note("raised in a worker process")
    with pytest.raises(cls) as info:
        pool.submit(raise_sample, cls).result(timeout=60)
    assert state(info.value) == state(expected)
    assert str(info.value).count(str(expected)) == 1  # the message is not doubled


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_sent_to_a_worker_process_it_arrives_whole(
    cls: type[errors.FanscopeError], pool: Any
) -> None:
    exc = SAMPLES[cls]()
    assert pool.submit(describe, exc).result(timeout=60) == state(exc)


def test_a_bad_value_that_cannot_be_pickled_travels_as_its_repr() -> None:
    value = lambda: None  # noqa: E731
    exc = errors.ConfigurationError("retry= must be a Retry", value, "pass fanscope.Retry(...)")
    back = pickle.loads(pickle.dumps(exc))
    assert str(back) == str(exc) and back.value == repr(value) and back.hint == exc.hint


def test_deadline_exceeded_says_its_message_once_after_any_number_of_round_trips() -> None:
    exc: BaseException = errors.DeadlineExceeded("summarize[3]")
    for _ in range(3):
        exc = pickle.loads(pickle.dumps(exc))
    assert str(exc) == "summarize[3] was still running when its fan-out's deadline passed"
    assert isinstance(exc, TimeoutError) and exc.deadline is None  # type: ignore[attr-defined]


ORDERS = {
    "module first": "import fanscope.errors as E\nfirst = E.FanoutError\n",
    "package first": "import fanscope\nfirst = fanscope.FanoutError\n",
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_error_type_is_the_public_name_whatever_the_import_order(order: str) -> None:
    code = ORDERS[order] + (
        "from fanscope.sdk.tracing import error_type\n"
        "import fanscope.errors as E, fanscope\n"
        "before = error_type(first('x', [ValueError()]))\n"
        "fanscope.FanoutError, fanscope.DeadlineExceeded, fanscope.NotEnoughSuccesses\n"
        "after = [error_type(first('x', [ValueError()])), error_type(E.DeadlineExceeded('f')),"
        " error_type(E.NotEnoughSuccesses('x', [KeyError()]))]\n"
        "print(before, *after)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [
        "fanscope.FanoutError",
        "fanscope.FanoutError",
        "fanscope.DeadlineExceeded",
        "fanscope.NotEnoughSuccesses",
    ]


def test_every_class_is_reached_by_its_public_name() -> None:
    for cls in every_class():
        assert cls.__module__ == "fanscope" and getattr(fanscope, cls.__name__) is cls
        assert cls.__name__ in fanscope.__all__


def test_under_pytest_xdist_each_error_is_reported_once_by_its_public_name(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    tests = "\n".join(
        f"def test_{cls.__name__}():\n    raise SAMPLES[errors.{cls.__name__}]()\n"
        for cls in SAMPLES
    )
    pytester.makepyfile(
        test_raising="from tests.chaos.test_errors_cross_processes import SAMPLES\n"
        "from fanscope import errors\n" + tests
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "-p", "xdist")
    result.assert_outcomes(failed=len(SAMPLES))
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "Pickl" not in out
    for cls, make in SAMPLES.items():
        first_line = str(make()).splitlines()[0]
        assert f"E   fanscope.{cls.__name__}: {first_line}" in out or (
            # exception groups are printed as a tree: "  | fanscope.FanoutError: ..."
            f"fanscope.{cls.__name__}: {first_line}" in out
        ), cls
        assert out.count(first_line + first_line[:20]) == 0  # never doubled
