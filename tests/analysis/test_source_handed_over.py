"""Work handed over to run later reads what its objects and names hold when it runs.

A pool's ``submit``/``map``, ``run_in_executor``, ``asyncio.to_thread`` and a function handed
to a thread run the function after the call that handed it over returned, while the caller
goes on: workers submitted first and fed through a queue afterwards, or a closure whose
variable is assigned after the submit, read values the caller made *after* that line. The
source witness gives such a site every source its work's objects and names ever held in the
function, so a call made before the feeding is never called independent of the work.
"""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from pathlib import Path

import pytest

from fanscope.analysis.witness import CallSite, SourceWitness, Verdict

AGENT = """
import asyncio
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
import anthropic

client = anthropic.Anthropic()
aclient = anthropic.AsyncAnthropic()


def llm(prompt: str) -> str:
    return client.messages.create(model="m", max_tokens=9, messages=[prompt]).content[0].text


def consume(jobs: queue.Queue) -> list[str]:
    notes = []
    while (title := jobs.get()) is not None:
        notes.append(llm(f"Notes on {title}"))
    return notes


def fed_after_submit(book: str) -> str:
    style = llm("One rule for notes.")  # site: style
    jobs = queue.Queue()
    with ThreadPoolExecutor(2) as pool:
        worker = pool.submit(consume, jobs)  # site: worker
        chapters = llm(f"Chapters of {book}")  # site: chapters
        for title in chapters.splitlines():
            jobs.put(title.strip().lower())
        jobs.put(None)
        notes = worker.result()
    return style + llm("Summarise " + "\\n".join(notes))  # site: summary


def closure_assigned_after(book: str) -> str:
    topic = book
    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(lambda: llm(f"Quiz on {topic}"))  # site: quiz
        topic = llm(f"The hardest chapter of {book}")  # site: hardest
        return later.result()


def thread_fed_after_start(city_list: str) -> str:
    hello = llm("Say hello")  # site: hello
    jobs = queue.Queue()
    found = {}
    worker = threading.Thread(target=lambda: found.update(x=llm(jobs.get())))  # site: thread
    worker.start()
    plan = llm(f"Cities for {city_list}")  # site: plan
    jobs.put(plan.upper())
    worker.join()
    return hello + found["x"]


class Fetcher(threading.Thread):
    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question
        self.answer = ""

    def run(self) -> None:
        self.answer = llm(self.question)


async def allm(prompt: str) -> str:
    reply = await aclient.messages.create(model="m", max_tokens=9, messages=[prompt])
    return reply.content[0].text


async def check(jobs: asyncio.Queue, found: list[str]) -> None:
    found.append(await allm(await jobs.get()))


async def tasks_fed_after(invoice: str) -> str:
    greeting = await allm("Greet the team")  # site: greeting
    jobs = asyncio.Queue()
    found = []
    task = asyncio.create_task(check(jobs, found))  # site: task
    fields = await allm(f"Fields of {invoice}")  # site: fields
    jobs.put_nowait(fields.lower())
    await task
    return greeting + await allm("Verdict on " + found[0])  # site: verdict


async def tasks_given_elsewhere(invoice: str) -> str:
    found = []
    jobs = asyncio.Queue()
    made = [check(jobs, found)]
    first = await allm(f"Fields of {invoice}")  # site: fields-2
    jobs.put_nowait(first)
    await asyncio.gather(*made)  # site: gather-made
    return found[0]


async def coroutine_awaited_later(topic: str) -> str:
    jobs = asyncio.Queue()
    found = []
    pending = check(jobs, found)
    first = await allm(f"Plan {topic}")  # site: plan-later
    jobs.put_nowait(first)
    await pending  # site: pending
    return found[0]


def thread_subclass(question: str) -> str:
    intro = llm("An intro")  # site: intro
    worker = Fetcher(question)  # site: fetcher
    worker.start()
    worker.join()
    return intro + worker.answer


def fed_before_submit(book: str) -> str:
    chapters = llm(f"Chapters of {book}")  # site: chapters-first
    jobs = queue.Queue()
    for title in chapters.splitlines():
        jobs.put(title)
    jobs.put(None)
    with ThreadPoolExecutor(2) as pool:
        worker = pool.submit(consume, jobs)  # site: worker-after
        blurb = llm(f"A blurb for {book}")  # site: blurb
        return blurb + "".join(worker.result())
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("handed")
    (folder / "agent.py").write_text(textwrap.dedent(AGENT))
    return folder


def site(root: Path, marker: str) -> CallSite:
    source = (root / "agent.py").read_text()
    lines = source.splitlines()
    for func in ast.parse(source).body:
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        nodes = [n for n in ast.walk(func) if isinstance(n, ast.Call)]
        nodes += [n for n in ast.walk(func) if isinstance(n, ast.Await)]  # ``await pending``
        for call in nodes:
            if lines[call.lineno - 1].endswith(marker):
                return CallSite(
                    "agent.py", f"__main__.{func.name}", call.lineno, call.col_offset + 1,
                    None, False,
                )  # fmt: skip
    raise AssertionError(marker)


def between(root: Path, earlier: str, later: str, *, started: bool = False) -> tuple[Verdict, str]:
    """``started``: the later call ran in a thread the later site made
    (``fanscope.callsite.started``)."""
    second = site(root, f"# site: {later}")
    if started:
        second = dataclasses.replace(second, execution=0, started=True)
    found = SourceWitness(root).between(site(root, f"# site: {earlier}"), second)
    return found.verdict, found.evidence


@pytest.mark.parametrize(
    ("earlier", "later", "via"),
    [
        ("chapters", "worker", "jobs"),  # workers submitted, then fed through the queue
        ("hardest", "quiz", "topic"),  # a closure's variable assigned after the submit
        # a thread started, then fed; the lambda it runs writes what it read into ``found``
        # (one of the step's variables), which the evidence may name instead
        ("plan", "thread", "jobs|found"),
    ],
)
def test_work_handed_over_reads_what_the_caller_gives_it_afterwards(
    root: Path, earlier: str, later: str, via: str
) -> None:
    verdict, evidence = between(root, earlier, later)
    assert verdict != Verdict.INDEPENDENT, evidence
    assert any(f"`{name}`" in evidence for name in via.split("|")), evidence


def test_the_summary_of_the_fed_work_depends_on_what_fed_it(root: Path) -> None:
    verdict, evidence = between(root, "chapters", "summary")
    assert verdict == Verdict.DEPENDENT, evidence


def test_what_never_reaches_the_handed_objects_stays_independent(root: Path) -> None:
    assert between(root, "style", "worker")[0] == Verdict.INDEPENDENT
    assert between(root, "blurb", "worker-after")[0] == Verdict.INDEPENDENT
    assert between(root, "chapters-first", "blurb")[0] == Verdict.INDEPENDENT


def test_a_call_in_a_thread_made_with_a_target_reads_what_the_thread_is_given(
    root: Path,
) -> None:
    verdict, evidence = between(root, "plan", "thread", started=True)
    assert verdict != Verdict.INDEPENDENT, evidence  # the plan is fed to it after the start
    verdict, evidence = between(root, "hello", "thread", started=True)
    assert verdict == Verdict.INDEPENDENT, evidence


def test_a_thread_whose_work_is_not_a_function_handed_over_is_not_judged(root: Path) -> None:
    # a ``Thread`` subclass runs its own ``run``: the line that made it is a constructor
    verdict, evidence = between(root, "intro", "fetcher", started=True)
    assert verdict == Verdict.ABSTAIN, evidence
    assert "made a thread or task whose work is not followed" in evidence


def test_a_call_in_a_task_reads_what_the_task_is_given_even_afterwards(root: Path) -> None:
    verdict, evidence = between(root, "fields", "task", started=True)
    assert verdict != Verdict.INDEPENDENT, evidence  # the fields go on the queue after it
    verdict, evidence = between(root, "greeting", "task", started=True)
    assert verdict == Verdict.INDEPENDENT, evidence


def test_what_a_task_writes_is_what_the_coroutine_in_its_line_writes(root: Path) -> None:
    # ``check`` appends its answer to ``found``, which the verdict reads: the task made at
    # the line is the coroutine called in it
    first = dataclasses.replace(site(root, "# site: task"), execution=0, started=True)
    found = SourceWitness(root).between(first, site(root, "# site: verdict"))
    assert found.verdict == Verdict.DEPENDENT, found.evidence


def test_a_task_of_a_coroutine_made_elsewhere_is_not_judged(root: Path) -> None:
    verdict, evidence = between(root, "fields-2", "gather-made", started=True)
    assert verdict == Verdict.ABSTAIN, evidence


def test_a_coroutine_made_first_and_awaited_later_reads_what_it_holds_when_awaited(
    root: Path,
) -> None:
    # ``check(jobs, found)`` runs only at ``await pending``, after the plan was put on the
    # queue: the call made there reads the plan
    verdict, evidence = between(root, "plan-later", "pending")
    assert verdict != Verdict.INDEPENDENT, evidence
