"""The truth benchmark as a test: the analyzer never calls a dependent pair independent.

``benchmarks/dataflow_truth.py`` runs the labelled corpus of ``tests/agents/`` against the
stand-in and compares the analyzer's classification of every pair of calls with the labels.
The quick form runs here (one process, short latency), so a change that makes the analyzer
claim "could run together" for calls that depend on each other cannot land silently. The
labelling machinery itself is tested first, on hand-made calls.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import dataflow_truth as bench  # noqa: E402


def call(label: str, key: str, start: int) -> bench.Call:
    return bench.Call(label, key, "t", f"{label}{key}", start, start + 1)


def test_labels_follow_chains_keys_and_offsets() -> None:
    calls = [
        call("gen", "0", 0),
        call("eval", "0", 2),
        call("gen", "1", 4),
        call("eval", "1", 6),
        call("side", "0", 8),
    ]
    rules = ["gen[i] -> eval[i]", "eval[i] -> gen[i+1]"]
    depends = bench.truth(calls, rules)
    assert ("gen[0]", "eval[1]") in depends  # transitively
    assert ("eval[1]", "gen[1]") not in depends
    assert not any("side[0]" in pair for pair in depends)
    keyed = [call("tool", "0", 0), call("explain", "412", 2), call("explain", "list", 3)]
    depends = bench.truth(keyed, ["tool[0] -> explain[412]"])
    assert depends == {("tool[0]", "explain[412]")}
    with pytest.raises(ValueError, match="is not 'earlier -> later'"):
        bench.parse_depends(["just a label"])


def test_calls_are_found_by_prompt_and_by_step_name() -> None:
    from fanscope.analysis.model import Span

    def chat(text: str, start: int) -> Span:
        messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}])
        return Span(
            "t", f"{start:016x}", None, "chat m", start, start + 1,
            {"gen_ai.operation.name": "chat", "gen_ai.input.messages": messages},
        )  # fmt: skip

    tool = Span("t", "ff", None, "search", 5, 6, {"fanscope.role": "step"})
    spans = [chat("Your task: Compare prices", 1), chat("Your task: List makers", 2), tool]
    labels = {"worker": r"Your task: (\w+)", "search": "step:search", "plan": "^Plan"}
    calls, problems = bench.label_calls([*spans, chat("Unlabelled", 9)], labels)
    assert [c.name for c in calls] == ["worker[Compare]", "worker[List]", "search[0]"]
    assert problems == [
        "an LLM call matches no label: 'Unlabelled'",
        "label 'plan' matches no call",
    ]


@cache
def trace_dir() -> Path:
    """Where the corpus run keeps each program's trace file (removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="dataflow-truth-traces-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@cache
def corpus() -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "dataflow_truth.py"),
            "--json",
            "--trace-dir",
            str(trace_dir()),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_every_program_of_the_corpus_runs_and_is_labelled() -> None:
    result = corpus()
    assert result["programs"] >= 30
    assert result["failed"] == {}
    assert result["problems"] == {}


def test_no_dependent_pair_is_called_independent() -> None:
    """The analyzer's classification (both witnesses) never says "could run together" for a
    pair the labels call dependent; and it still finds most independent pairs."""
    result = corpus()
    combined = result["witnesses"]["combined"]
    assert result["false_independent"]["combined"] == []
    assert combined["precision"] == 1.0
    assert combined["unseen"] == 0  # every call under its caller, threads included
    # p01-p37: 0.91 when written (the target is 0.90). p38 on are threads, queues and tasks:
    # 0.77 over the whole corpus when they were added, while their calls carried only their
    # nearest caller; 0.84 (0.78 from p38 on) once calls in threads and tasks named the line
    # that made them. Precision is what gates rest on. The floors leave room for load: which
    # calls run one after another (the pairs counted) depends on the machine, and at load 30
    # p01-p37 gave 83 of 95 pairs (0.874) against 82 of 92 (0.891) at rest.
    assert recall(result, [f"p{i:02}" for i in range(1, 38)]) >= 0.85
    assert recall(result, [f"p{i:02}" for i in range(38, 100)]) >= 0.74
    assert combined["recall"] >= 0.80


def recall(result: dict[str, Any], programs: list[str]) -> float:
    """The combined recall over the programs whose names start as ``programs`` say."""
    chosen = [f for name, f in result["by_program"].items() if name[:3] in programs]
    found = sum(f["found"] for f in chosen)
    truly = sum(f["independent"] for f in chosen)
    return found / truly if truly else 1.0


def test_an_answer_that_restates_the_question_makes_no_dependency() -> None:
    """p37: each lookup's answer restates the question, which the next lookup's prompt holds
    too; that text comes from the question, so the lookups stay independent."""
    result = corpus()
    for witness in ("fingerprints alone", "combined"):
        wrong = result["false_dependent"][witness]
        assert not [pair for pair in wrong if pair.startswith("p37_restated_question")]


def test_each_witness_alone_is_measured_and_the_source_alone_makes_no_false_claim() -> None:
    """The columns that say what each witness buys; the source witness is sound on its own
    (it abstains rather than guess), the fingerprints alone are not meant to be."""
    witnesses = corpus()["witnesses"]
    assert set(witnesses) == {"fingerprints alone", "source alone", "combined"}
    assert witnesses["source alone"]["precision"] == 1.0


def analyze(path: Path, *options: str) -> str:
    """What ``fanscope analyze`` prints for ``path`` (run here, as the command runs)."""
    from fanscope.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["analyze", str(path), "--source-root", str(ROOT), *options])
    assert status == 0, out.getvalue()[-2000:]
    return out.getvalue()


def _claims_of_the_report(name: str) -> list[str]:
    """What the reports of one program's trace claim that its labels say is false."""
    from fanscope.analysis.readers import read_file

    path = trace_dir() / f"{name}.jsonl"
    spans = {s.span_id: s for s in read_file(path).spans}
    module = bench.load(name)
    calls, _ = bench.label_calls(list(spans.values()), module.CALLS)
    depends = bench.truth(calls, module.DEPENDS)
    wrong = []
    roots = {s.span_id for s in spans.values() if s.parent_id is None}
    for c in calls:  # no call outside its trace: every labelled call reaches the one root
        up = c.span_id
        while spans[up].parent_id is not None and spans[up].parent_id in spans:
            up = spans[up].parent_id
        if len(roots) != 1 or up not in roots:
            wrong.append(f"{c.name} is not under the run's root span")
    report = json.loads(analyze(path, "--format", "json"))
    (trace,) = report["traces"]
    text = analyze(path)

    def kid(call: bench.Call, parent: str) -> str | None:
        up = call.span_id
        while up in spans and spans[up].parent_id != parent:
            up = spans[up].parent_id  # type: ignore[assignment]
        return up if up in spans else None

    said_independent = 0
    for opportunity in trace["opportunities"]:
        parent = opportunity["parent_span_id"]
        under = {c.name: kid(c, parent) for c in calls}
        group_of = {s["span_id"]: i for i, g in enumerate(opportunity["run_together"]) for s in g}
        before: dict[str, set[str]] = {}
        for kept in opportunity["keep_after"]:
            before[kept["step"]["span_id"]] = {a["span_id"] for a in kept["after"]}
        changed = True
        while changed:  # what each step is kept after, transitively
            changed = False
            for afters in before.values():
                more = set().union(*(before.get(a, set()) for a in afters)) - afters
                if more:
                    afters |= more
                    changed = True
        for x, y in depends:
            kx, ky = under[x], under[y]
            if kx is None or ky is None or kx == ky or spans[kx].end > spans[ky].start:
                continue  # not two steps of this parent run one after the other
            if kx in group_of and group_of.get(ky) == group_of[kx]:
                wrong.append(f"{x} and {y}, which depends on it, are to run together")
            elif kx not in before.get(ky, set()):
                wrong.append(f"{y} is not kept after {x}, which it depends on")
        for pair in opportunity["evidence"]:
            if pair["classification"] != "independent":
                continue
            said_independent += 1
            a, b = pair["earlier"]["span_id"], pair["later"]["span_id"]
            for x, y in depends:
                if under[x] == a and under[y] == b:
                    wrong.append(f"{x} -> {y} is said to be independent")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "behind independent calls:" in line)
    section = []
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        section.append(line)
    if not trace["opportunities"]:
        if "nothing found" not in lines[start]:
            wrong.append(f"the terminal claims a saving the JSON does not: {lines[start]}")
    elif sum(": independent: " in line for line in section) > said_independent:
        wrong.append("the terminal calls more pairs independent than the JSON")
    if len([line for line in section if ": run " in line]) != len(trace["opportunities"]):
        wrong.append("the terminal names other opportunities than the JSON")
    return [f"{name}: {w}" for w in wrong]


def test_the_reports_never_claim_that_dependent_calls_could_run_together() -> None:
    """What users read: ``fanscope analyze``'s JSON and terminal report of each program's
    trace. No group to run together holds a call and one that depends on it; every step kept
    in order is kept after each earlier step its calls depend on; no pair the evidence calls
    independent is dependent; every labelled call is under the run's root (no lost parent);
    and the terminal says what the JSON says."""
    result = corpus()
    assert result["programs"] >= 47
    wrong = [w for name in bench.programs() for w in _claims_of_the_report(name)]
    assert wrong == []
