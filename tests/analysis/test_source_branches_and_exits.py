"""Values chosen by a branch on an answer, and what a context manager does on exit.

``if verdict == "yes": prompt = A`` ``else: prompt = B`` makes a later call that reads
``prompt`` depend on the verdict, though no text of the verdict reaches it; a ``match`` on
the answer too. A context manager's exit runs code after the ``with`` body: a project
class's ``__exit__`` that copies what the body collected into a global, or a
``@contextmanager`` generator the witness does not follow. Each of these fails if the
witness calls the pair independent.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from fanscope.analysis.witness import CallSite, SourceWitness, Verdict

AGENT = """
from contextlib import contextmanager
import anthropic

client = anthropic.Anthropic()
SAVED = []


def llm(prompt: str) -> str:
    return client.messages.create(model="m", max_tokens=9, messages=[prompt]).content[0].text


class Memo:
    def __enter__(self):
        self.lines = []
        return self

    def __exit__(self, *exc):
        SAVED.extend(self.lines)


@contextmanager
def recording():
    notes = []
    yield notes
    SAVED.extend(notes)


def branch(topic: str) -> str:
    kind = llm("Kind?")  # site: if-kind
    if kind.strip().lower() == "a":
        prompt = "short"
    else:
        prompt = "long"
    return llm(prompt)  # site: if-use


def matched(topic: str) -> str:
    kind = llm("Kind?")  # site: match-kind
    match kind.strip().lower():
        case "a":
            prompt = "short"
        case _:
            prompt = "long"
    return llm(prompt)  # site: match-use


def exit_method(topic: str) -> str:
    with Memo() as memo:
        memo.lines.append(llm("A line"))  # site: memo-line
    return llm(" ".join(SAVED))  # site: memo-use


def exit_generator(topic: str) -> str:
    with recording() as notes:
        notes.append(llm("A line"))  # site: rec-line
    return llm(" ".join(SAVED))  # site: rec-use


def unrelated(topic: str) -> str:
    first = llm("A")  # site: ctl-a
    with Memo() as memo:
        memo.lines.append(topic)
        second = llm("B")  # site: ctl-b
    if topic == "x":
        prompt = "short"
    else:
        prompt = "long"
    return first + second + llm(prompt)  # site: ctl-c
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("branches")
    (folder / "agent.py").write_text(textwrap.dedent(AGENT))
    return folder


def site(root: Path, marker: str) -> CallSite:
    source = (root / "agent.py").read_text()
    lines = source.splitlines()
    for func in ast.parse(source).body:
        if not isinstance(func, ast.FunctionDef):
            continue
        for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
            if lines[call.lineno - 1].endswith(marker):
                return CallSite(
                    "agent.py", f"__main__.{func.name}", call.lineno, call.col_offset + 1, None,
                    False,
                )  # fmt: skip
    raise AssertionError(marker)


def between(root: Path, earlier: str, later: str) -> tuple[Verdict, str]:
    found = SourceWitness(root).between(
        site(root, f"# site: {earlier}"), site(root, f"# site: {later}")
    )
    return found.verdict, found.evidence


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("if-kind", "if-use"), ("match-kind", "match-use"), ("memo-line", "memo-use")],
)
def test_a_value_a_branch_or_an_exit_chose_makes_the_calls_dependent(
    root: Path, earlier: str, later: str
) -> None:
    verdict, evidence = between(root, earlier, later)
    assert verdict == Verdict.DEPENDENT, evidence


def test_an_exit_the_witness_cannot_see_into_is_never_called_independent(root: Path) -> None:
    verdict, evidence = between(root, "rec-line", "rec-use")
    assert verdict != Verdict.INDEPENDENT, evidence


def test_branches_and_exits_that_read_no_answer_link_nothing(root: Path) -> None:
    for earlier, later in (("ctl-a", "ctl-b"), ("ctl-a", "ctl-c"), ("ctl-b", "ctl-c")):
        verdict, evidence = between(root, earlier, later)
        assert verdict == Verdict.INDEPENDENT, (earlier, later, evidence)
