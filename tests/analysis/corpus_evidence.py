"""Runs the labelled corpus (``tests/agents``) and prints, as JSON, what the reports would say
of it: every pair's classification with the witnesses' verdicts and labels, and every
evidence sentence the reports print (``evidence.sentences``), for ``test_source_corpus.py``.

Run as its own process (``configure()`` once, as the truth benchmark does), from the
project's root: ``python tests/analysis/corpus_evidence.py [PROGRAM-PREFIX...]``.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import dataflow_truth as bench  # noqa: E402

from fanscope.analysis import analyze, from_readable_spans  # noqa: E402
from fanscope.analysis.dependencies import Witnesses, classify_pairs  # noqa: E402
from fanscope.analysis.model import Span  # noqa: E402
from fanscope.analysis.report import evidence  # noqa: E402
from fanscope.analysis.schema import PairEvidence, StepRef  # noqa: E402
from fanscope.analysis.witness import call_label  # noqa: E402
from fanscope.testing.script import Script  # noqa: E402


def ref(span: Span) -> StepRef:
    where = call_label(span)
    return StepRef(
        span_id=span.span_id,
        name=span.name,
        start=0.0,
        duration=span.duration / 1e9,
        where=where if where != span.name else "",
    )


def program(here: bench.InProcess, name: str) -> dict[str, Any]:
    module = bench.load(name)
    here.server.answers = Script(module.ANSWERS)
    here.exporter.clear()
    result = module.main()
    if inspect.isawaitable(result):
        here.loop.run_until_complete(result)
    spans = from_readable_spans(here.exporter.get_finished_spans())
    witnesses = Witnesses(source_root=ROOT)
    sentences = []
    for pair in classify_pairs(spans, witnesses):
        v = pair.verdict
        e = PairEvidence(
            earlier=ref(pair.earlier),
            later=ref(pair.later),
            classification=v.classification.value,
            decided_by=v.decided_by,
            source=v.source,
            fingerprints=v.fingerprints,
        )
        sentences.append(evidence.evidence(e))
    for trace in analyze(spans, witnesses=witnesses).to_dict()["traces"]:
        for o in [*trace["opportunities"], *trace["candidates"]]:
            sentences.extend(evidence.sentences(o["evidence"]))
    run = bench.classify(bench.ProgramRun(name), module, spans)
    pairs = [
        {"earlier": p.earlier, "later": p.later, "dependent": p.dependent, "claims": p.claims}
        for p in run.pairs
    ]
    return {"sentences": sentences, "pairs": pairs}


def main() -> None:
    names = bench.programs(sys.argv[1:] or None)
    with bench.InProcess(0.005) as here:
        print(json.dumps({name: program(here, name) for name in names}))


if __name__ == "__main__":
    main()
