"""The source witness follows calls into the project's own functions.

A call to a helper defined in the project (the same file, a module next to a script, a
package under the source root) is read: a helper that changes no shared state (no global or
closure write, no change to an argument or to an object it did not make) opens no hidden
channel between two calls, so calls that pass nothing to each other are independent. Where
it cannot see (a computed callable, a library it does not know, a helper that writes a
global or ``self``), it abstains or finds the dependence, and says why, naming the code it
could not see into.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from fanscope.analysis.witness import CallSite, SourceVerdict, SourceWitness, Verdict

HELPERS = """
import json
import anthropic

client = anthropic.AsyncAnthropic()
CACHE = {}


def text_of(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


async def ask(prompt: str) -> str:
    message = await client.messages.create(model="m", max_tokens=9, messages=[prompt])
    return text_of(message)


async def remember(prompt: str) -> str:
    answer = await ask(prompt)
    CACHE[prompt] = answer
    return answer


async def recall(prompt: str) -> str:
    return CACHE.get(prompt) or await ask(prompt)


async def noted(prompt: str, notes: list) -> str:
    answer = await ask(prompt)
    notes.append(answer)
    return answer


async def blind(prompt: str) -> str:
    import mystery

    answer = await ask(prompt)
    mystery.keep(answer)
    return answer


async def hint(prompt: str) -> str:
    import mystery

    return await ask(prompt + mystery.last())


STATE = []


def put(answer: str) -> None:
    STATE.append(answer)


async def first(q: str) -> str:
    answer = await ask(q)
    put(answer)
    return answer


async def second(q: str) -> str:
    return await ask(q + " ".join(STATE))
"""

AGENT = """
import helpers
from helpers import STATE as S, ask, blind, first, hint, noted, recall, remember, second


async def by_module(q: str) -> str:
    a = await ask(q)  # site: by-module-1
    helpers.put(a)
    b = await ask(" ".join(helpers.STATE))  # site: by-module-2
    return b


async def by_alias(q: str) -> str:
    a = await ask(q)  # site: by-alias-1
    helpers.put(a)
    b = await ask(" ".join(S))  # site: by-alias-2
    return b


async def through_helpers(q: str) -> str:
    a = await first(q)  # site: first
    b = await second(q)  # site: second
    return b


async def search(q: str) -> str:
    return await ask(f"news on {q}")


async def filings(q: str) -> str:
    return await ask(f"filings of {q}")


async def lookups(q: str) -> str:
    a = await search(q)  # site: search
    b = await filings(q)  # site: filings
    return a + b


async def cached(q: str) -> str:
    a = await remember(q)  # site: remember
    b = await recall(q)  # site: recall
    return a + b


async def notes(q: str) -> str:
    kept = []
    a = await noted(q, kept)  # site: noted
    b = await noted(q + "!", kept)  # site: noted-again
    return a + b


async def unseen(q: str) -> str:
    a = await blind(q)  # site: blind
    b = await ask(q)  # site: after-blind
    c = await hint(q)  # site: hint
    return a + b + c


async def computed(q: str) -> str:
    step, then = globals()["search"], globals()["filings"]
    a = await step(q)  # site: computed
    b = await then(q)  # site: after-computed
    return a + b


class Agent:
    def __init__(self) -> None:
        self.history = []

    async def turn(self, q: str) -> str:
        answer = await ask(q)
        self.history.append(answer)
        return answer

    async def other(self, q: str) -> str:
        return await ask(q + " ".join(self.history))

    async def run(self, q: str) -> str:
        a = await self.turn(q)  # site: turn
        b = await self.other(q)  # site: other
        return a + b
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A script in a folder that is not a package, with its helpers next to it."""
    root = tmp_path_factory.mktemp("project")
    (root / "scripts").mkdir()
    (root / "scripts" / "helpers.py").write_text(textwrap.dedent(HELPERS))
    (root / "scripts" / "agent.py").write_text(textwrap.dedent(AGENT))
    return root


def site(
    root: Path, marker: str, path: str = "scripts/agent.py", module: str = "__main__"
) -> CallSite:
    source = (root / path).read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for call in ast.walk(node):
            if isinstance(call, ast.Await) and lines[call.lineno - 1].endswith(f"# site: {marker}"):
                qualname = node.name
                for cls in ast.walk(tree):
                    if isinstance(cls, ast.ClassDef) and node in cls.body:
                        qualname = f"{cls.name}.{node.name}"
                inner = call.value
                assert isinstance(inner, ast.Call)
                return CallSite(path, f"{module}.{qualname}", inner.lineno,
                                inner.col_offset + 1, None, False)  # fmt: skip
    raise AssertionError(marker)


def verdict(root: Path, earlier: str, later: str) -> SourceVerdict:
    return SourceWitness(root).between(site(root, earlier), site(root, later))


def test_helpers_next_to_a_script_that_change_nothing_shared_open_no_channel(
    project: Path,
) -> None:
    found = verdict(project, "search", "filings")
    assert found.verdict == Verdict.INDEPENDENT, found.evidence
    assert found.evidence == (
        f"nothing `filings` at scripts/agent.py:{site(project, 'filings').line} reads comes "
        f"from `search` at :{site(project, 'search').line}"
    )


def test_a_helper_that_writes_a_global_another_reads_makes_them_dependent(
    project: Path,
) -> None:
    found = verdict(project, "remember", "recall")
    assert found.verdict == Verdict.DEPENDENT, found.evidence
    assert "CACHE" in found.evidence


@pytest.mark.parametrize(
    ("earlier", "later", "through"),
    [
        ("by-module-1", "by-module-2", "`helpers`"),
        ("by-alias-1", "by-alias-2", "`S`"),
        ("first", "second", "`helpers.STATE`"),
    ],
)
def test_a_global_of_another_module_carries_a_result_whatever_it_is_called_here(
    project: Path, earlier: str, later: str, through: str
) -> None:
    # helpers.put changes helpers.STATE: read here as helpers.STATE, as S (imported under
    # another name), or by another helper of that module
    found = verdict(project, earlier, later)
    assert found.verdict == Verdict.DEPENDENT, found.evidence
    assert through in found.evidence


def test_a_helper_that_changes_its_argument_carries_one_call_to_the_next(project: Path) -> None:
    found = verdict(project, "noted", "noted-again")
    assert found.verdict == Verdict.DEPENDENT, found.evidence
    assert "`kept`" in found.evidence


def test_state_on_self_changed_by_one_method_and_read_by_another_is_a_dependence(
    project: Path,
) -> None:
    found = verdict(project, "turn", "other")
    assert found.verdict == Verdict.DEPENDENT, found.evidence
    assert "history" in found.evidence


def test_code_it_cannot_see_into_is_named_and_makes_it_abstain(project: Path) -> None:
    # what unknown code keeps, only unknown code may read: a helper that calls none is safe
    assert verdict(project, "blind", "after-blind").verdict == Verdict.INDEPENDENT
    found = verdict(project, "blind", "hint")
    assert found.verdict == Verdict.ABSTAIN, found.evidence
    assert "passed to `mystery.keep` (via `helpers.blind`)" in found.evidence
    assert found.evidence.endswith("which the source witness cannot see into")
    # two computed callables: the first may keep what it made where the second reads it
    computed = verdict(project, "computed", "after-computed")
    assert computed.verdict == Verdict.ABSTAIN, computed.evidence
    assert "`step`" in computed.evidence and "cannot see into" in computed.evidence


def test_without_the_helper_module_it_abstains_and_names_what_it_could_not_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "agent.py").write_text(textwrap.dedent(AGENT))
    found = verdict(tmp_path, "search", "filings")
    assert found.verdict == Verdict.ABSTAIN, found.evidence
    assert "`helpers.ask`" in found.evidence


def test_a_module_imported_from_a_package_does_not_search_its_folder(tmp_path: Path) -> None:
    # imported as pkg.agent, `import helpers` is not the file next to it (no implicit
    # relative imports): the witness must not read that file as the callee; run as a script
    # (python pkg/agent.py), the folder is first on sys.path and it is
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "helpers.py").write_text(textwrap.dedent(HELPERS))
    (tmp_path / "pkg" / "agent.py").write_text(textwrap.dedent(AGENT))
    path = "pkg/agent.py"
    imported = SourceWitness(tmp_path).between(
        site(tmp_path, "search", path, "pkg.agent"), site(tmp_path, "filings", path, "pkg.agent")
    )
    assert imported.verdict == Verdict.ABSTAIN, imported.evidence
    script = SourceWitness(tmp_path).between(
        site(tmp_path, "search", path), site(tmp_path, "filings", path)
    )
    assert script.verdict == Verdict.INDEPENDENT, script.evidence
