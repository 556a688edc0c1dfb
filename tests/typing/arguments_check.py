"""Type-check-only: the public constructors and decorators that check their arguments at run
time (one line with the fix) keep their signatures for mypy and pyright.

Every line marked ``type: ignore[...]`` must stay an error: mypy's ``warn_unused_ignores`` and
pyright's ``reportUnnecessaryTypeIgnoreComment`` fail the build if a checking wrapper ever
widened a signature to accept anything.
"""

from __future__ import annotations

from typing import assert_type

import fanscope
from fanscope import Budget, Hedge, Limiter, RateLimit, Retry, parallel, traced, vote


def well_typed() -> None:
    assert_type(Limiter(8, rate=RateLimit(600, per=60), name="provider"), Limiter)
    assert_type(fanscope.budget(usd=0.5), Budget)
    assert_type(Hedge("p95", max_extra=0.1), Hedge)
    assert_type(Retry(4, initial=1.0), Retry)
    assert_type(RateLimit(10), RateLimit)


def misspelt() -> None:
    Limiter(max_concurency=4)  # type: ignore[call-arg]
    Limiter(4, 10)  # type: ignore[call-arg]
    fanscope.budget(0.5)  # type: ignore[call-arg]
    fanscope.budget(usd=1, nmae="x")  # type: ignore[call-arg]
    Hedge(afer="p95")  # type: ignore[call-arg]
    Retry(attemps=3)  # type: ignore[call-arg]
    RateLimit(reqests=5)  # type: ignore[call-arg]
    fanscope.configure(servce_name="x")  # type: ignore[call-arg]
    parallel(maxconcurrency=4)  # type: ignore[call-overload]
    vote(nn=5)  # type: ignore[call-overload]
    traced(nmae="x")  # type: ignore[call-overload]
    Limiter(4, name=5)  # type: ignore[arg-type]


@parallel(max_concurrency=2)
async def fetch(x: int) -> int:
    return x


@parallel(max_concurrency=2)
def lookup(x: int) -> int:
    return x


async def misspelt_per_call() -> None:
    # each fan-out words a misspelt option at run time (its implementation takes **unknown);
    # its overloads, which are all a type checker sees, still refuse it
    assert_type(await fetch.map([1], on_error="skip"), list[int])
    assert_type(lookup.map([1], deadline=5), list[int])
    await fetch.map([1], on_eror="skip")  # type: ignore[call-overload]
    await fetch.starmap([(1,)], min_sucesses=1)  # type: ignore[call-overload]
    fetch.as_completed([1], dedline=1)  # type: ignore[call-overload]
    lookup.map([1], on_eror="skip")  # type: ignore[call-overload]
    lookup.starmap([(1,)], reduc=sum)  # type: ignore[call-overload]
    lookup.as_completed([1], on_eror="skip")  # type: ignore[call-overload]
    await lookup.aio.map([1], max_concurrency=2)  # type: ignore[call-overload]
