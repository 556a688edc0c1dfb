"""A callback of the user's that raises: the error is theirs to see, and nothing else is lost.

Reproduction: a ``Retry(retry_on=...)`` predicate that raised was taken as "not retryable"
without a word: the user's bug made every error final and nothing said why. Now the branch
still fails with its own error (the predicate's failure does not replace it), the error
carries a note naming what ``retry_on`` raised, and one warning says it once per policy.

The other callbacks (a vote's ``key``, a map's ``reduce``) raise to the caller as
themselves; in every case each span the fan-out opened has ended, with the error on the span
that ran the callback, and the program's next fan-out runs as usual.
"""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Retry, parallel, vote
from fanscope.sdk import attributes as A


def broken_predicate(exc: BaseException) -> bool:
    raise ValueError("retry_on broke")


async def test_a_retry_on_that_raises_leaves_the_error_standing_with_a_note_and_one_warning(
    exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    @parallel(retry=Retry(attempts=3, retry_on=broken_predicate, initial=0.001))
    async def look_up(i: int) -> int:
        calls.append(i)
        if i % 2:
            raise RuntimeError(f"lookup {i} failed")
        return i

    with caplog.at_level(logging.WARNING, logger="fanscope"):
        outcomes = await look_up.map(range(4), on_error="collect")
    assert [o.status for o in outcomes] == ["ok", "error", "ok", "error"]
    assert sorted(calls) == [0, 1, 2, 3]  # not retried
    for failed in (outcomes[1], outcomes[3]):
        assert isinstance(failed.error, RuntimeError)  # its own error, not the predicate's
        assert failed.error.__notes__ == ["not retried: retry_on raised ValueError: retry_on broke"]
    (said,) = [r.getMessage() for r in caplog.records]  # once for the policy, not per error
    assert "Retry(retry_on=broken_predicate) raised ValueError: retry_on broke" in said
    assert "retry_on must return True or False" in said
    spans = exporter.get_finished_spans()
    branches = [s for s in spans if s.attributes and s.attributes.get(A.ROLE) == A.ROLE_BRANCH]
    assert len(branches) == 4


async def test_a_vote_key_or_a_reduce_that_raises_reaches_the_caller_with_every_span_ended(
    exporter: InMemorySpanExporter,
) -> None:
    def broken_key(answer: str) -> str:
        raise KeyError("key broke")

    def broken_reduce(values: list[int]) -> int:
        raise ZeroDivisionError("reduce broke")

    @vote(n=3, key=broken_key)
    async def judge(diff: str) -> str:
        return "yes"

    @parallel
    async def square(i: int) -> int:
        return i * i

    with pytest.raises(KeyError, match="key broke"):
        await judge("diff")
    with pytest.raises(ZeroDivisionError, match="reduce broke"):
        await square.map(range(3), reduce=broken_reduce)
    assert await square.map(range(3)) == [0, 1, 4]  # the program goes on
    spans = exporter.get_finished_spans()
    ended = {(s.name, s.attributes.get(A.ROLE) if s.attributes else None) for s in spans}
    assert ("vote judge", A.ROLE_FANOUT) in ended and ("fan-in square", A.ROLE_FANIN) in ended
    failed = {s.name: s.attributes.get(A.ERROR_TYPE) for s in spans if s.attributes and
              s.status.status_code.name == "ERROR"}  # fmt: skip
    assert failed["vote judge"] == "KeyError"
    assert "ZeroDivisionError" in failed.values()
    assert sum(1 for s in spans if s.name == "square" or s.name.endswith(" square")) >= 9
