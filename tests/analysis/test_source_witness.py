"""The source witness on agent code written the ways agents are written (``witness_agent.py``).

Claims: a call that reads what an earlier one made is dependent, however the value was cut,
reformatted or re-encoded on the way, and through shared state (globals, ``self``, a list
passed in, a closure); calls that read nothing of each other are independent; loops are
independent only when no round reads an earlier round's result; and where the witness cannot
see (code it does not follow, a changed or missing file, one call making two spans) it
abstains and says why.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from fanscope.analysis.witness import CallSite, SourceVerdict, SourceWitness, Verdict

HERE = Path(__file__).parent
PATH = "tests/analysis/witness_agent.py"
ROOT = HERE.parent.parent
#: the callees whose calls make spans in these programs
CALLEES = {"llm", "worker", "self.ask", "self.look_up", "reduce", "pool.map", "ask"}
CALLEES |= {"book.note", "book.weather", "book.advise"}


def site(name: str, execution: int | None = None, path: str = PATH) -> CallSite:
    """The call marked ``# site: name`` (of one of ``CALLEES``), as a span's code.* attributes
    would name it."""
    source = (ROOT / PATH).read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) in CALLEES
                and lines[node.lineno - 1].endswith(f"# site: {name}")
            ):
                qualname = func.name
                for cls in ast.walk(tree):
                    if isinstance(cls, ast.ClassDef) and func in cls.body:
                        qualname = f"{cls.name}.{func.name}"
                function = f"tests.analysis.witness_agent.{qualname}"
                column = node.col_offset + 1
                return CallSite(path, function, node.lineno, column, execution, False)
    raise AssertionError(f"no call marked {name!r}")


@pytest.fixture(scope="module")
def witness() -> SourceWitness:
    return SourceWitness(ROOT)


def verdict(witness: SourceWitness, earlier: str, later: str) -> SourceVerdict:
    return witness.between(site(earlier), site(later))


@pytest.mark.parametrize(
    "later", ["pasted", "prefix", "punctuation", "json", "format"], ids=lambda s: str(s)
)
def test_a_result_cut_reformatted_or_reencoded_before_reuse_is_dependent(
    witness: SourceWitness, later: str
) -> None:
    found = verdict(witness, "first", later)
    assert found.verdict == Verdict.DEPENDENT, found.evidence
    assert "reads `a`" in found.evidence and "witness_agent.py" in found.evidence


def test_orchestrator_workers_depend_on_the_plan_through_the_parsed_tasks(
    witness: SourceWitness,
) -> None:
    found = verdict(witness, "plan", "worker")
    assert found.verdict == Verdict.DEPENDENT
    assert "reads `task`, from `tasks` <- `plan`, from `llm` at :" in found.evidence
    # the workers read only their task: one round does not feed the next
    rounds = witness.between(site("worker"), site("worker"))
    assert rounds.verdict == Verdict.INDEPENDENT, rounds.evidence
    assert verdict(witness, "worker", "combine").verdict == Verdict.DEPENDENT


def test_lookups_that_read_nothing_of_each_other_are_independent(witness: SourceWitness) -> None:
    for earlier, later in [("news", "filings"), ("news", "prices"), ("filings", "prices")]:
        found = verdict(witness, earlier, later)
        assert found.verdict == Verdict.INDEPENDENT, found.evidence
        assert found.evidence.startswith("nothing `llm` at")
    assert verdict(witness, "news", "brief").verdict == Verdict.DEPENDENT
    assert verdict(witness, "first", "unrelated").verdict == Verdict.INDEPENDENT


def test_a_loop_whose_rounds_feed_each_other_is_dependent_and_one_whose_rounds_do_not_is_not(
    witness: SourceWitness,
) -> None:
    refine = witness.between(site("refine"), site("refine"))
    assert refine.verdict == Verdict.DEPENDENT and "earlier round" in refine.evidence
    for name in ("summarize", "keys"):
        assert witness.between(site(name), site(name)).verdict == Verdict.INDEPENDENT


@pytest.mark.parametrize(
    ("earlier", "later", "through"),
    [
        ("ask1", "ask2", "self.history"),
        ("mem1", "mem2", "HISTORY"),
        ("note1", "note2", "notes"),
        ("close1", "close2", "found"),
    ],
)
def test_shared_state_carries_a_result_to_a_later_call(
    witness: SourceWitness, earlier: str, later: str, through: str
) -> None:
    found = verdict(witness, earlier, later)
    assert found.verdict == Verdict.DEPENDENT, found.evidence
    assert f"`{through}`" in found.evidence


def test_state_a_call_does_not_touch_leaves_other_calls_independent(
    witness: SourceWitness,
) -> None:
    assert verdict(witness, "mem1", "mem3").verdict == Verdict.INDEPENDENT
    assert verdict(witness, "lookup1", "lookup2").verdict == Verdict.INDEPENDENT


def test_an_exception_carries_what_the_call_before_it_made(witness: SourceWitness) -> None:
    assert verdict(witness, "err1", "err2").verdict == Verdict.DEPENDENT


def test_code_it_cannot_see_into_makes_it_abstain_not_claim(witness: SourceWitness) -> None:
    found = verdict(witness, "unknown1", "unknown2")
    assert found.verdict == Verdict.ABSTAIN
    assert "through `tool` (which the source witness cannot see into), `a` from" in found.evidence


def test_a_function_given_to_reduce_may_feed_one_call_into_the_next(
    witness: SourceWitness,
) -> None:
    found = witness.between(site("reduce", execution=0), site("reduce", execution=1))
    assert found.verdict != Verdict.INDEPENDENT


def test_pool_work_reads_what_was_captured_from_the_plan(witness: SourceWitness) -> None:
    first = witness.between(site("pool plan"), site("pool map", execution=0))
    assert first.verdict == Verdict.DEPENDENT, first.evidence
    assert verdict(witness, "pool plan", "pool other").verdict == Verdict.INDEPENDENT
    one_map = witness.between(site("pool map", execution=3), site("pool map", execution=3))
    assert one_map.verdict == Verdict.ABSTAIN and "made both" in one_map.evidence


def test_two_spans_of_one_execution_of_a_line_abstain(witness: SourceWitness) -> None:
    found = witness.between(site("news", execution=2), site("news", execution=2))
    assert found.verdict == Verdict.ABSTAIN and "one call of `llm`" in found.evidence
    outside_a_loop = witness.between(site("news"), site("news"))
    assert outside_a_loop.verdict == Verdict.ABSTAIN and "not in a loop" in outside_a_loop.evidence


def test_a_missing_changed_or_unreadable_source_abstains(
    witness: SourceWitness, tmp_path: Path
) -> None:
    missing = SourceWitness(tmp_path).between(site("news"), site("filings"))
    assert missing.verdict == Verdict.ABSTAIN and "is not under" in missing.evidence
    # the file changed: the line no longer holds a call
    copy = tmp_path / PATH
    copy.parent.mkdir(parents=True)
    shutil.copy(ROOT / PATH, copy)
    lines = copy.read_text().splitlines()
    news = site("news")
    lines[news.line - 1] = "    news = 'cached'"
    copy.write_text("\n".join(lines) + "\n")
    changed = SourceWitness(tmp_path).between(news, site("filings"))
    assert changed.verdict == Verdict.ABSTAIN and "no longer a call" in changed.evidence
    # a function that is not where the trace says
    moved = CallSite(PATH, "tests.analysis.witness_agent.gone", news.line, news.column, None, False)
    assert witness.between(moved, site("filings")).verdict == Verdict.ABSTAIN
    copy.write_text("def broken(:\n")
    broken = SourceWitness(tmp_path).between(news, site("filings"))
    assert broken.verdict == Verdict.ABSTAIN and "does not parse" in broken.evidence
    outside = CallSite("../etc/passwd", "x.f", 1, 1, None, False)
    assert "outside the source root" in witness.between(outside, site("news")).evidence


def test_the_nearest_line_is_not_read_and_no_site_abstains(witness: SourceWitness) -> None:
    near = site("news")
    near = CallSite(near.path, near.function, near.line, near.column, None, True)
    assert witness.between(near, site("filings")).verdict == Verdict.ABSTAIN
    assert witness.between(None, site("filings")).evidence == "no call site was recorded"


def test_a_call_that_runs_only_as_an_earlier_answer_decides_depends_on_it(
    witness: SourceWitness,
) -> None:
    gated = verdict(witness, "gate", "gated fix")
    assert gated.verdict == Verdict.DEPENDENT
    assert "runs only as a test on `verdict`" in gated.evidence
    assert verdict(witness, "gate", "changelog").verdict == Verdict.INDEPENDENT
    # a branch that returns decides whether the rest of the function runs
    assert verdict(witness, "check", "after check").verdict == Verdict.DEPENDENT
    # a loop that runs until a review says so: every round depends on the one before
    for name in ("write", "review"):
        assert witness.between(site(name), site(name)).verdict == Verdict.DEPENDENT


def test_methods_of_a_local_object_are_read_attribute_by_attribute(
    witness: SourceWitness,
) -> None:
    assert verdict(witness, "note", "weather").verdict == Verdict.INDEPENDENT
    found = verdict(witness, "note", "advise")
    assert found.verdict == Verdict.DEPENDENT and "book.notes" in found.evidence


def test_appending_to_a_list_reads_nothing_of_it(witness: SourceWitness) -> None:
    assert verdict(witness, "ask design", "ask teamwork").verdict == Verdict.INDEPENDENT
    found = verdict(witness, "ask design", "plan from transcript")
    assert found.verdict == Verdict.DEPENDENT and "`transcript`" in found.evidence
