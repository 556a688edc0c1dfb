"""The source witness on the labelled corpus (``tests/agents``), as the reports show it.

* Every evidence sentence a report prints fits whole: none is cut by the limit on trace text.
* The shapes the second witness exists for: in each, the source itself sees the dependence
  (it alone calls every labelled dependent pair dependent), and together the witnesses never
  call such a pair independent: orchestrator-workers with tasks parsed from XML or JSON, a
  short answer pasted into a longer prompt, a 40-character prefix, punctuation changed, JSON
  re-encoding, thread pools, state on ``self``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fanscope.analysis.report.untrusted import MAX_CHARS

ROOT = Path(__file__).resolve().parents[2]


@cache
def corpus() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "analysis" / "corpus_evidence.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_no_evidence_sentence_of_the_corpus_is_cut() -> None:
    sentences = [s for run in corpus().values() for s in run["sentences"]]
    assert len(sentences) > 100  # every pair of every program, and the reports' evidence
    # the head (the calls' lines) and what the witnesses said are cut on their own
    cut = [s for s in sentences if s.endswith("\u2026") or len(s.partition(": ")[2]) > MAX_CHARS]
    assert not cut, cut[:3]


#: program -> (earlier label, later label) pairs the issue names as the source's to see
SHAPES = {
    "p04_orchestrator_xml": [("plan", "worker")],  # XML plan parsed into short tasks
    "p05_orchestrator_json_threads": [("plan", "aspect")],  # JSON plan, thread pool
    "p35_sync_parallel": [("plan", "section")],  # JSON plan, sync @parallel workers
    "p08_retrieval_short_keys": [("keywords", "search"), ("search", "fetch")],  # short values
    "p21_first_40_characters": [("description", "teaser")],
    "p20_reformatted_answer": [("reasons", "slide")],  # punctuation and case changed
    "p22_json_reencoded": [("category", "search")],  # a two-word answer as JSON
    "p19_ticket_ids": [("create", "note")],  # a short id pasted into a longer prompt
    "p03_routing": [("classify", "reply")],  # a one-word label, through a system prompt
    "p14_thread_pool_helper": [("impact", "priorities")],  # ThreadPoolExecutor
    "p09_memory_on_self": [("learn", "advise")],  # state on self
    "p28_pool_in_method": [("question", "findings")],  # pool in a method, results on self
    "p16_chat_history": [("first", "second"), ("second", "third")],  # history on an object
}


@pytest.mark.parametrize("program", sorted(SHAPES))
def test_the_source_itself_sees_the_dependences_the_issue_names(program: str) -> None:
    pairs = corpus()[program]["pairs"]
    for earlier, later in SHAPES[program]:
        named = [
            p
            for p in pairs
            if p["dependent"]
            and p["earlier"].split("[")[0] == earlier
            and p["later"].split("[")[0] == later
        ]
        assert named, f"{program}: no dependent pair {earlier} -> {later}"
        for p in named:
            assert p["claims"]["source alone"] == "dependent", p
            assert p["claims"]["combined"] == "dependent", p
    wrong = [p for p in pairs if p["dependent"] and p["claims"]["combined"] == "independent"]
    assert not wrong, wrong
