"""A memoised helper keeps answers between calls: the source witness follows its cache.

``@functools.cache`` / ``@lru_cache`` return, on a later call with the same arguments, what an
earlier call made, with no model call of their own. Two steps that both call such a helper
are not independent: the second one's value came from the first one's call. (The property
test of ``test_source_soundness.py`` draws such helpers too.)
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from fanscope.analysis.witness import CallSite, SourceWitness, Verdict

AGENT = """
import functools
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
