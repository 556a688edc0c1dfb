"""State kept between calls where no assignment shows it: the source witness follows it.

* ``@functools.cache`` / ``@lru_cache`` return, on a later call with the same arguments, what
  an earlier call made, with no model call of their own: two steps that both call such a
  helper are not independent, the second one's value came from the first one's call;
* a default list (``def ask(q, history=[])``) is one object every call shares;
* ``print(..., file=stream)`` and ``json.dump(obj, stream)`` write into the stream, which a
  later call reads back (``getvalue()``, the file reopened);
* one memory object handed to two components (``Researcher(memory)``, ``Writer(memory)``, a
  dataclass field): what one component adds to it, the other reads;
* a generator expression bound to a name, or a generator function's result, runs when it is
  consumed, on what its names hold then, not when it is written;
* ``locals()``, ``vars()`` and ``globals()`` hand every variable on
  (``TEMPLATE.format(**locals())``);
* ``self.__dict__`` is every attribute of the object (``self.__dict__.update(data)``);
* a project function handed to code the witness cannot see (``threading.Thread(target=fill)``,
  a runner it does not know) may be called there: what it writes, later calls may read.

(The property test of ``test_source_soundness.py`` draws each of these too.)
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from fanscope.analysis.witness import CallSite, SourceWitness, Verdict

AGENT = """
import functools
import io
import json
import threading
from dataclasses import dataclass
import anthropic

client = anthropic.Anthropic()
ANGLES = {"logistics": "Lead with empty miles.", "other": "Lead with time saved."}


def llm(prompt: str) -> str:
    return client.messages.create(model="m", max_tokens=9, messages=[prompt]).content[0].text


@functools.lru_cache(maxsize=256)
def industry_of(company: str) -> str:
    return llm(f"Which industry is {company} in?").lower()


def research(company: str) -> str:
    return llm(f"Trends in {industry_of(company)}")


def outreach(company: str) -> str:
    return llm(f"Email {company}. {ANGLES.get(industry_of(company), '')}")


def headline(company: str) -> str:
    return llm(f"A headline about {company}")


def account(company: str) -> str:
    a = research(company)  # site: research
    b = outreach(company)  # site: outreach
    c = headline(company)  # site: headline
    return a + b + c


def ask(q: str, history: list[str] = []) -> str:
    history.append(q)
    answer = llm("\\n".join(history))
    history.append(answer)
    return answer


def ask_fresh(q: str, history: tuple[str, ...] = ()) -> str:
    return llm("\\n".join([*history, q]))


def chat(q: str) -> str:
    a = ask(q)  # site: chat-1
    b = ask("And then?")  # site: chat-2
    c = ask_fresh(q)  # site: fresh-1
    d = ask_fresh("And then?")  # site: fresh-2
    return a + b + c + d


def printed(q: str) -> str:
    notes = io.StringIO()
    a = llm(q)  # site: print-1
    print(a, file=notes)
    return llm(notes.getvalue())  # site: print-2


def dumped(q: str) -> str:
    with open("state.json", "w") as out:
        a = llm(q)  # site: dump-1
        json.dump({"score": int(a)}, out)
    with open("state.json") as back:
        return llm(str(json.load(back)["score"]))  # site: dump-2


class Memory:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, item: str) -> None:
        self.items.append(item)

    def text(self) -> str:
        return "\\n".join(self.items)


class Researcher:
    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.seen: list[str] = []

    def run(self, q: str) -> None:
        self.memory.add(llm(q))

    def note(self, q: str) -> None:
        self.seen.append(llm(q))


@dataclass
class Writer:
    memory: Memory

    def run(self) -> str:
        return llm("Write up: " + self.memory.text())


def blackboard(q: str) -> str:
    memory = Memory()
    researcher = Researcher(memory)
    writer = Writer(memory)
    researcher.run(q)  # site: research-run
    a = writer.run()  # site: writer-run
    researcher.note(q)  # site: note
    b = llm(memory.text())  # site: read-memory
    c = llm(q + "?")  # site: fresh
    return a + b + c


def numbered(parts: list[str]):
    for i, part in enumerate(parts):
        yield f"{i}. {part}, given {CONTEXT[0]}"


CONTEXT = [""]


def lazy_function(q: str) -> str:
    prompts = numbered(q.split(","))
    CONTEXT[0] = llm(q)  # site: lazy-function-1
    return llm(next(prompts))  # site: lazy-function-2


def lazy_prompts(q: str) -> str:
    context = ""
    prompts = (f"{part}, given {context}" for part in q.split(","))
    context = llm(q)  # site: lazy-1
    first = llm(next(prompts))  # site: lazy-2
    eager = [f"{part}, given {context}" for part in q.split(",")]
    context = llm(q + "!")  # site: lazy-3
    return first + llm(eager[0])  # site: lazy-4


TEMPLATE = "Write a tagline for a cafe rated {score} of 5."
LAST = ""


def namespaces(q: str) -> str:
    global LAST
    score = int(llm(q))  # site: locals-1
    a = llm(TEMPLATE.format(**locals()))  # site: locals-2
    LAST = llm(q + "?")  # site: globals-1
    b = llm("{LAST}".format(**globals()))  # site: globals-2
    return a + b


class Box:
    def __init__(self) -> None:
        self.label = ""

    def set_all(self, data: dict) -> None:
        self.__dict__.update(data)


def through_dict(q: str) -> str:
    box = Box()
    box.set_all({"label": llm(q)})  # site: dict-1
    return llm(box.label)  # site: dict-2


CACHE: dict[str, str] = {}


def fill(q: str) -> None:
    CACHE[q] = llm(q)


def warm(q: str) -> None:
    worker = threading.Thread(target=fill, args=(q,))
    worker.start()
    worker.join()


def use(q: str) -> str:
    return llm(str(len(CACHE.get(q, ""))))


def warmed(q: str, runner) -> str:
    warm(q)  # site: warm
    a = use(q)  # site: use
    runner(fill, q)  # site: runner
    b = llm(str(len(CACHE)))  # site: after-runner
    return a + b


class Desk:
    @functools.cache
    def industry(self, company: str) -> str:
        return llm(company)

    def first(self, company: str) -> str:
        return llm(self.industry(company))

    def second(self, company: str) -> str:
        return llm(ANGLES[self.industry(company)])

    def run(self, company: str) -> str:
        a = self.first(company)  # site: first
        b = self.second(company)  # site: second
        return a + b
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("memo")
    (folder / "agent.py").write_text(textwrap.dedent(AGENT))
    return folder


def site(root: Path, marker: str) -> CallSite:
    source = (root / "agent.py").read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    for cls in [tree, *(n for n in tree.body if isinstance(n, ast.ClassDef))]:
        for func in cls.body:
            if not isinstance(func, ast.FunctionDef):
                continue
            for call in ast.walk(func):
                if isinstance(call, ast.Call) and lines[call.lineno - 1].endswith(marker):
                    prefix = f"{cls.name}." if isinstance(cls, ast.ClassDef) else ""
                    return CallSite("agent.py", f"__main__.{prefix}{func.name}", call.lineno,
                                    call.col_offset + 1, None, False)  # fmt: skip
    raise AssertionError(marker)


def between(root: Path, earlier: str, later: str) -> tuple[Verdict, str]:
    found = SourceWitness(root).between(
        site(root, f"# site: {earlier}"), site(root, f"# site: {later}")
    )
    return found.verdict, found.evidence


def test_a_step_that_reads_a_cached_answer_depends_on_the_step_that_made_it(root: Path) -> None:
    verdict, evidence = between(root, "research", "outreach")
    assert verdict == Verdict.DEPENDENT, evidence
    assert "industry_of" in evidence


def test_a_step_that_does_not_call_the_memoised_helper_stays_independent(root: Path) -> None:
    assert between(root, "research", "headline")[0] == Verdict.INDEPENDENT
    assert between(root, "outreach", "headline")[0] == Verdict.INDEPENDENT


def test_a_memoised_method_is_not_followed_so_the_witness_abstains(root: Path) -> None:
    verdict, evidence = between(root, "first", "second")
    assert verdict != Verdict.INDEPENDENT, evidence


@pytest.mark.parametrize(
    ("earlier", "later"), [("chat-1", "chat-2"), ("print-1", "print-2"), ("dump-1", "dump-2")]
)
def test_a_default_list_or_a_stream_carries_one_call_to_the_next(
    root: Path, earlier: str, later: str
) -> None:
    verdict, evidence = between(root, earlier, later)
    assert verdict != Verdict.INDEPENDENT, evidence


def test_a_default_that_is_a_constant_shares_nothing(root: Path) -> None:
    assert between(root, "fresh-1", "fresh-2")[0] == Verdict.INDEPENDENT


@pytest.mark.parametrize(
    ("earlier", "later"), [("research-run", "writer-run"), ("research-run", "read-memory")]
)
def test_an_object_handed_to_two_components_carries_what_one_adds_to_the_other(
    root: Path, earlier: str, later: str
) -> None:
    verdict, evidence = between(root, earlier, later)
    assert verdict == Verdict.DEPENDENT, evidence


def test_a_list_the_component_made_itself_is_its_own(root: Path) -> None:
    # ``self.seen`` is a fresh list: adding to it changes nothing the memory's readers read
    assert between(root, "note", "read-memory")[0] == Verdict.INDEPENDENT
    assert between(root, "note", "fresh")[0] == Verdict.INDEPENDENT


def test_a_generator_expression_reads_its_names_when_it_is_consumed(root: Path) -> None:
    verdict, evidence = between(root, "lazy-1", "lazy-2")
    assert verdict == Verdict.DEPENDENT, evidence
    verdict, evidence = between(root, "lazy-function-1", "lazy-function-2")
    assert verdict == Verdict.DEPENDENT, evidence
    # a list comprehension ran where it was written: what ``context`` held later is not in it
    assert between(root, "lazy-3", "lazy-4")[0] == Verdict.INDEPENDENT


@pytest.mark.parametrize(
    ("earlier", "later"), [("locals-1", "locals-2"), ("globals-1", "globals-2")]
)
def test_locals_and_globals_hand_every_variable_on(root: Path, earlier: str, later: str) -> None:
    verdict, evidence = between(root, earlier, later)
    assert verdict == Verdict.DEPENDENT, evidence


@pytest.mark.parametrize(("earlier", "later"), [("warm", "use"), ("runner", "after-runner")])
def test_a_function_handed_to_unseen_code_may_run_there_and_change_what_it_writes(
    root: Path, earlier: str, later: str
) -> None:
    verdict, evidence = between(root, earlier, later)
    assert verdict != Verdict.INDEPENDENT, evidence
    assert "CACHE" in evidence


def test_an_update_of_the_objects_dict_changes_its_attributes(root: Path) -> None:
    verdict, evidence = between(root, "dict-1", "dict-2")
    assert verdict == Verdict.DEPENDENT, evidence
