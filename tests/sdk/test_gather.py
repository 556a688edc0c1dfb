"""fanscope.gather: sectioning of different sub-tasks."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fanscope
from fanscope import parallel
from fanscope.errors import UsageError
from fanscope.sdk import attributes as A
from tests.conftest import spans_named


async def search_news(q: str) -> str:
    await asyncio.sleep(0)
    return f"news on {q}"


@parallel(max_concurrency=1)
async def fetch_filings(q: str) -> str:
    await asyncio.sleep(0)
    return f"filings of {q}"


async def test_named_branches_keep_their_names_in_results_and_spans(
    exporter: InMemorySpanExporter,
) -> None:
    answers = await fanscope.gather(
        search_news("acme"), news=search_news("acme"), filings=fetch_filings("acme")
    )
    assert answers.news == "news on acme"
    assert answers["filings"] == "filings of acme"
    assert answers[0] == "news on acme"
    assert list(answers) == ["news on acme", "news on acme", "filings of acme"]
    assert answers.as_dict() == {"news": "news on acme", "filings": "filings of acme"}
    (news,) = spans_named(exporter, "news")
    (filings,) = spans_named(exporter, "filings")
    (fanout,) = spans_named(exporter, "gather")
    assert news.attributes[A.BRANCH_NAME] == "news"
    assert fanout.attributes[A.KIND] == A.KIND_SECTION
    assert A.KIND not in news.attributes  # read from the parent fan-out
    # a @parallel call is the branch itself: one span, with the function's identity
    assert filings.attributes[A.FUNCTION].endswith("fetch_filings")
    assert not spans_named(exporter, "fetch_filings")
    assert fanout.context is not None
    assert {news.parent.span_id, filings.parent.span_id} == {fanout.context.span_id}  # type: ignore[union-attr]
    with pytest.raises(AttributeError, match="no branch named 'prices'"):
        _ = answers.prices


async def test_gather_runs_sections_concurrently() -> None:
    arrived = 0
    all_here = asyncio.Event()

    async def section() -> int:
        nonlocal arrived
        arrived += 1
        if arrived == 4:
            all_here.set()
        await all_here.wait()  # deadlocks unless all four run at once
        return arrived

    answers = await asyncio.wait_for(
        fanscope.gather(a=section(), b=section(), c=section(), d=section()), timeout=5
    )
    assert list(answers) == [4, 4, 4, 4]


async def test_gather_cap_bounds_its_branches() -> None:
    now = peak = 0

    async def section() -> None:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.001)
        now -= 1

    await fanscope.gather(*(section() for _ in range(6)), max_concurrency=2)
    assert peak == 2


async def test_one_failing_section_with_collect_keeps_the_others() -> None:
    async def broken() -> str:
        raise ConnectionError("db down")

    answers = await fanscope.gather(news=search_news("q"), db=broken(), on_error="collect")
    assert answers.news.value == "news on q"
    assert answers.db.status == "error"
    assert isinstance(answers.db.error, ConnectionError)


async def test_one_failing_section_raises_a_group_naming_it() -> None:
    async def broken() -> str:
        raise ConnectionError("db down")

    with pytest.RaisesGroup(ConnectionError, match="db: ConnectionError: db down"):
        await fanscope.gather(news=search_news("q"), db=broken())


async def test_reduce_combines_the_named_results() -> None:
    joined = await fanscope.gather(
        news=search_news("q"), filings=fetch_filings("q"), reduce=lambda r: " | ".join(r)
    )
    assert joined == "news on q | filings of q"


async def test_passing_the_function_instead_of_a_call_says_so_and_leaks_nothing() -> None:
    pending = search_news("q")
    with pytest.raises(UsageError, match=r"branch 'news' is not awaitable.*not the function"):
        await fanscope.gather(pending, news=search_news)  # type: ignore[arg-type]
    # the coroutine that was passed alongside was closed, not left un-awaited
    assert pending.cr_frame is None


def test_everything_works_in_a_process_with_no_tracer_provider_at_all() -> None:
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import asyncio
        import fanscope
        from fanscope import parallel, traced
        from opentelemetry import trace

        @parallel(max_concurrency=2, retry=fanscope.Retry(attempts=2, initial=0))
        async def job(i: int) -> int:
            return i * 2

        @traced
        async def main() -> object:
            answers = await fanscope.gather(a=job(1), b=job(2))
            return await job.map(range(4)), answers.b, trace.get_current_span().is_recording()

        print(asyncio.run(main()))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "([0, 2, 4, 6], 4, False)"
    # one line, not a traceback: nothing records these spans, and it says what to do
    (line,) = done.stderr.splitlines()
    assert "call fanscope.configure()" in line


async def test_positional_results_are_a_tuple_as_typed() -> None:
    # tests/typing/gather_check.py types these per position; here is what they return
    number, title = await fanscope.gather(fetch_filings("a"), search_news("b"))
    assert (number, title) == ("filings of a", "news on b")
    answers = await fanscope.gather(search_news("a"), fetch_filings("b"), max_concurrency=1)
    assert isinstance(answers, tuple)
    assert answers == ("news on a", "filings of b")
    assert answers == ["news on a", "filings of b"]  # as when it was a list-like sequence
    assert answers != ["news on a"] and answers != ("filings of b", "news on a")
    assert answers[1:] == ("filings of b",)
    assert sync_gather() == (1, "x")
    named = await fanscope.gather(search_news("a"), news=search_news("b"))
    assert isinstance(named, tuple) and named.news == "news on b"
    again = pickle.loads(pickle.dumps(named))
    assert again == named and again.news == "news on b" and again.as_dict() == {"news": again[1]}
    with pytest.raises(TypeError, match="unhashable"):
        hash(named)
    with pytest.raises(AttributeError, match="no branch named 'filings'"):
        _ = named.filings


def sync_gather() -> tuple[int, str]:
    return fanscope.gather(lambda: 1, lambda: "x")
