"""How often the analyzer's "these calls could have run together" is true, on labelled agents.

Runs every program of the corpus in ``tests/agents/`` (agents written the way agent code is
written, each labelled by hand with which of its calls depend on which) against the Anthropic
stand-in, with the program's scripted answers, through the real ``anthropic`` client and
``fanscope.configure()``. Each program's spans are analysed, and every pair of labelled calls
that ran one after the other is classified from the trace: **independent** (the report would
say they could run together), **dependent**, or **candidate** (not enough evidence either way;
kept in order, listed apart). Against the labels, per witness:

* precision of "independent": the share of pairs called independent that truly are
  (target 100%: a dependent pair is never called independent);
* recall: the share of truly independent pairs called independent (target at least 90%);
* candidates: the share of pairs left as candidates.

A pair whose calls landed in different traces (a parent lost across a thread) cannot be
classified: it counts as not found, never as a false claim.

Programs run one after the other in this process (``configure()`` once, as a long-lived
agent process would), or with ``--processes N`` each as its own process, exactly as a user
runs it (its own ``__main__`` and trace file, read back as ``fanscope analyze`` reads it;
slower: every process imports ``anthropic``).

Run: ``.venv/bin/python benchmarks/dataflow_truth.py`` (``--verbose`` lists every pair that
is not called as labelled; ``--json`` prints the figures as JSON; ``--only p04`` runs some;
``--trace-dir DIR`` keeps each program's trace file, which ``tests/test_dataflow_truth.py``
hands to ``fanscope analyze`` to check what the reports themselves claim).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from _targets import target

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "agents"

INDEPENDENT, DEPENDENT, CANDIDATE = "independent", "dependent", "candidate"
UNSEEN = "unseen"  # the two calls are in different traces: nothing to classify


# -- labels ----------------------------------------------------------------------------------


@dataclass
class Call:
    """One labelled call of a run: its label, instance key and span."""

    label: str
    key: str
    trace_id: str
    span_id: str
    start: int
    end: int

    @property
    def name(self) -> str:
        return f"{self.label}[{self.key}]"


_EDGE = re.compile(r"^(\w+)(?:\[([^\]]+)\])?$")


def parse_depends(rules: Iterable[str]) -> list[tuple[str, str | None, str, str | None]]:
    """``"a -> b[i] -> c[i+1]"`` as (label, index, label, index) edges."""
    edges = []
    for rule in rules:
        parts = [p.strip() for p in rule.split("->")]
        if len(parts) < 2:
            raise ValueError(f"DEPENDS: {rule!r} is not 'earlier -> later'")
        parsed = []
        for part in parts:
            match = _EDGE.match(part)
            if match is None:
                raise ValueError(f"DEPENDS: {part!r} in {rule!r} is not a label or label[index]")
            parsed.append((match.group(1), match.group(2)))
        for (a, ia), (b, ib) in itertools.pairwise(parsed):
            edges.append((a, ia, b, ib))
    return edges


def _selects(index: str | None, key: str, var: dict[str, int | str]) -> bool:
    """Whether instance ``key`` is what ``index`` names (``i``, ``i+1``, a literal key),
    binding the index's variable on first use."""
    if index is None:
        return True
    match = re.fullmatch(r"([a-z])([+-]\d+)?", index)
    if match is None:
        return key == index
    name, offset = match.group(1), int(match.group(2) or 0)
    if key.isdigit():
        value: int | str = int(key) - offset
    elif offset:
        return False
    else:
        value = key
    if name in var:
        return var[name] == value
    var[name] = value
    return True


def truth(calls: list[Call], rules: Iterable[str]) -> set[tuple[str, str]]:
    """Pairs (earlier name, later name) where the later depends on the earlier, transitively."""
    by_label: dict[str, list[Call]] = {}
    for call in calls:
        by_label.setdefault(call.label, []).append(call)
    direct: dict[str, set[str]] = {c.name: set() for c in calls}
    for a, ia, b, ib in parse_depends(rules):
        for x in by_label.get(a, []):
            for y in by_label.get(b, []):
                var: dict[str, int | str] = {}
                if _selects(ia, x.key, var) and _selects(ib, y.key, var) and x is not y:
                    direct[y.name].add(x.name)
    closed: set[tuple[str, str]] = set()
    for call in calls:
        seen: set[str] = set()
        stack = list(direct[call.name])
        while stack:
            earlier = stack.pop()
            if earlier not in seen:
                seen.add(earlier)
                stack.extend(direct[earlier])
        closed.update((e, call.name) for e in seen)
    return closed


def _prompt(span: Any) -> str:
    """The text of the last message of a GenAI span (content is captured by the benchmark)."""
    raw = span.attributes.get("gen_ai.input.messages")
    if not isinstance(raw, str):
        return ""
    try:
        messages = json.loads(raw)
    except ValueError:
        return ""
    if not messages:
        return ""
    parts = messages[-1].get("parts") or []
    return " ".join(str(p.get("content", "")) for p in parts if isinstance(p, dict))


def label_calls(spans: list[Any], labels: Mapping[str, str]) -> tuple[list[Call], list[str]]:
    """The labelled calls among ``spans``, and the problems with the labels."""
    problems: list[str] = []
    steps = {v[5:]: k for k, v in labels.items() if v.startswith("step:")}
    prompts = [(k, re.compile(v)) for k, v in labels.items() if not v.startswith("step:")]
    found: list[tuple[str, str | None, Any]] = []
    for span in spans:
        if span.attributes.get("gen_ai.operation.name") == "chat":
            text = _prompt(span)
            for label, pattern in prompts:
                match = pattern.search(text)
                if match:
                    found.append((label, match.group(1) if pattern.groups else None, span))
                    break
            else:
                problems.append(f"an LLM call matches no label: {text[:60]!r}")
        elif span.attributes.get("fanscope.role") == "step" and span.name in steps:
            found.append((steps[span.name], None, span))
    found.sort(key=lambda f: f[2].start)
    counters: dict[str, int] = {}
    calls = []
    for label, key, span in found:
        if key is None:
            key = str(counters.get(label, 0))
            counters[label] = int(key) + 1
        calls.append(Call(label, key, span.trace_id, span.span_id, span.start, span.end))
    names = [c.name for c in calls]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"{name} labels more than one call")
    for label in labels:
        if not any(c.label == label for c in calls):
            problems.append(f"label {label!r} matches no call")
    return calls, problems


# -- what the analyzer says ------------------------------------------------------------------

# (parent, its children, earlier sibling, later sibling) -> relation
Relate = Callable[[str, list[str], str, str], str]


def _has_source_witness() -> bool:
    from fanscope.analysis import dependencies

    return hasattr(dependencies, "Evidence")


def witness_names() -> list[str]:
    """The columns: fingerprints alone; and, with the source witness, it alone and both."""
    names = ["fingerprints alone"]
    if _has_source_witness():
        names += ["source alone", "combined"]
    return names


def witnesses(trace: Any) -> dict[str, Relate]:
    """Each witness's relation between two siblings of ``trace``, as the analyzer finds it.

    Fingerprints alone: their relation (unknown: candidate). With the source witness (the
    analyzer's ``Evidence``, reading ``tests/agents`` under the repository root): the source
    alone (abstaining: candidate), and the two combined as the analyzer classifies a pair.
    """
    from fanscope.analysis import dependencies as D

    fingerprint = {
        D.Relation.DEPENDS: DEPENDENT,
        D.Relation.INDEPENDENT: INDEPENDENT,
        D.Relation.UNKNOWN: CANDIDATE,
    }
    if not _has_source_witness():
        flow = D.Flow(trace)

        def fingerprints_only(parent: str, kids: list[str], earlier: str, later: str) -> str:
            return fingerprint[D.relation(flow, earlier, later)]

        return {"fingerprints alone": fingerprints_only}
    chosen = D.Witnesses(source_root=ROOT)  # type: ignore[attr-defined]
    evidence = D.Evidence(trace, chosen, chosen.witness())  # type: ignore[attr-defined]
    verdicts: dict[tuple[str, str], Any] = {}
    decided = {"dependent": DEPENDENT, "independent": INDEPENDENT}

    def verdict(parent: str, kids: list[str], earlier: str, later: str) -> Any:
        found = verdicts.get((earlier, later))
        if found is None:
            found = verdicts[(earlier, later)] = evidence.classify(parent, kids, earlier, later)
        return found

    def fingerprints_alone(parent: str, kids: list[str], earlier: str, later: str) -> str:
        return fingerprint[verdict(parent, kids, earlier, later).fingerprint_relation]

    def source_alone(parent: str, kids: list[str], earlier: str, later: str) -> str:
        said = str(verdict(parent, kids, earlier, later).source_verdict)
        return decided.get(said, CANDIDATE)

    def combined(parent: str, kids: list[str], earlier: str, later: str) -> str:
        said = str(verdict(parent, kids, earlier, later).classification)
        return decided.get(said, CANDIDATE)

    return {
        "fingerprints alone": fingerprints_alone,
        "source alone": source_alone,
        "combined": combined,
    }


def _ancestors(trace: Any, span_id: str) -> list[str]:
    chain = [span_id]
    while (parent := trace.parent(chain[-1])) is not None:
        chain.append(parent)
    return chain


class Claims:
    """What one witness makes of the pairs of one trace, as the what-if schedule reads it.

    Between the children of a span, a later child that ran after an earlier one is ordered
    after it when it depends on it (or, for a candidate, might); ordering is transitive. A
    pair of calls is claimed independent when the children of their nearest common ancestor
    that hold them are not ordered at all; dependent when a chain of dependent relations
    orders them; otherwise candidate. Branches of one fan-out are independent of each other
    and its fan-in follows them all, as the schedule has it.
    """

    def __init__(self, trace: Any, relate: Relate) -> None:
        self.trace = trace
        self.relate = relate
        self._orders: dict[str, tuple[dict[str, set[str]], dict[str, set[str]]]] = {}

    def _order(self, parent: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        cached = self._orders.get(parent)
        if cached is not None:
            return cached
        spans = self.trace.spans
        kids = sorted(self.trace.children.get(parent, []), key=lambda k: spans[k].start)
        fanout = spans[parent].attributes.get("fanscope.role") == "fanout"
        strict: dict[str, set[str]] = {k: set() for k in kids}  # through dependent only
        loose: dict[str, set[str]] = {k: set() for k in kids}  # through dependent or candidate
        for i, later in enumerate(kids):
            role = spans[later].attributes.get("fanscope.role")
            for earlier in kids[:i]:
                if spans[earlier].end > spans[later].start:
                    continue  # they overlapped: nothing to claim
                if fanout:
                    verdict = DEPENDENT if role == "fanin" else INDEPENDENT
                else:
                    verdict = self.relate(parent, kids, earlier, later)
                if verdict == DEPENDENT:
                    strict[later] |= {earlier} | strict[earlier]
                if verdict != INDEPENDENT:
                    loose[later] |= {earlier} | loose[earlier]
        self._orders[parent] = (strict, loose)
        return strict, loose

    def claim(self, earlier: str, later: str) -> str | None:
        """The claim about two calls (``earlier`` ended before ``later`` started), or None
        when the siblings holding them overlapped in time (they already ran together)."""
        up_a = _ancestors(self.trace, earlier)
        up_b = _ancestors(self.trace, later)
        common = next((a for a in up_a if a in set(up_b)), None)
        if common is None or common in (earlier, later):
            return None
        a = up_a[up_a.index(common) - 1]
        b = up_b[up_b.index(common) - 1]
        spans = self.trace.spans
        if spans[a].end > spans[b].start:
            return None
        strict, loose = self._order(common)
        if a in strict[b]:
            return DEPENDENT
        if a in loose[b]:
            return CANDIDATE
        return INDEPENDENT


# -- running the corpus ----------------------------------------------------------------------


@dataclass
class Pair:
    program: str
    earlier: str
    later: str
    dependent: bool
    claims: dict[str, str] = field(default_factory=dict)


@dataclass
class ProgramRun:
    name: str
    calls: int = 0
    traces: int = 0
    pairs: list[Pair] = field(default_factory=list)
    concurrent: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None


def programs(only: list[str] | None = None) -> list[str]:
    """The corpus' program names (``p01_prompt_chain``...), those starting as ``only`` asks."""
    names = sorted(p.stem for p in CORPUS.glob("p[0-9]*.py"))
    if only:
        names = [n for n in names if any(n.startswith(o) for o in only)]
    return names


def load(name: str) -> ModuleType:
    """The program's module, for its labels (importing runs its decorators and clients)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("ANTHROPIC_API_KEY", "test-key")
    return importlib.import_module(f"tests.agents.{name}")


def classify(run: ProgramRun, module: ModuleType, spans: list[Any]) -> ProgramRun:
    """Label the calls among ``spans`` and classify every pair that ran one after the other."""
    from fanscope.analysis.tree import build_traces

    calls, run.problems = label_calls(spans, module.CALLS)
    if run.error:  # a program that stopped early leaves labels unmatched: that is no news
        run.problems = [p for p in run.problems if not p.endswith("matches no call")]
    run.calls = len(calls)
    traces = {t.trace_id: t for t in build_traces(spans)}
    run.traces = len(traces)
    depends = truth(calls, module.DEPENDS)
    names = witness_names()
    claims = {
        (witness, tid): Claims(trace, relate)
        for tid, trace in traces.items()
        for witness, relate in witnesses(trace).items()
    }
    for x, y in itertools.permutations(calls, 2):
        if x.end > y.start:
            continue  # not one after the other
        pair = Pair(run.name, x.name, y.name, (x.name, y.name) in depends)
        if x.trace_id != y.trace_id:
            pair.claims = dict.fromkeys(names, UNSEEN)
        else:
            verdicts = {w: claims[(w, x.trace_id)].claim(x.span_id, y.span_id) for w in names}
            if any(v is None for v in verdicts.values()):
                run.concurrent += 1
                continue
            pair.claims = {w: v for w, v in verdicts.items() if v is not None}
        run.pairs.append(pair)
    return run


def _failure(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:160]


class InProcess:
    """All programs in this process, one after the other: ``configure()`` once, the spans
    kept in memory, one stand-in whose script changes per program, one event loop for the
    async ones (as one long-lived process would have)."""

    def __init__(self, latency: float, trace_dir: Path | None = None) -> None:
        self.latency = latency
        self.trace_dir = trace_dir

    def __enter__(self) -> InProcess:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        import fanscope
        from fanscope.testing import AnthropicStandIn

        self.server = AnthropicStandIn(latency=self.latency).start()
        os.environ["ANTHROPIC_BASE_URL"] = self.server.url
        os.environ["ANTHROPIC_API_KEY"] = "test-key"
        provider = fanscope.configure(
            service_name="dataflow-truth", trace_file=False, capture_content=True
        )
        self.exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.loop = asyncio.new_event_loop()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()
        self.server.stop()

    def run(self, name: str) -> ProgramRun:
        from fanscope.analysis import from_readable_spans
        from fanscope.testing.script import Script

        run = ProgramRun(name)
        try:
            module = load(name)
        except Exception as error:  # a usage error in a decorator, say
            run.error = _failure(error)
            return run
        self.server.answers = Script(module.ANSWERS)
        self.exporter.clear()
        try:
            result = module.main()
            if inspect.isawaitable(result):
                self.loop.run_until_complete(result)
        except Exception as error:
            run.error = _failure(error)
        finished = self.exporter.get_finished_spans()
        if self.trace_dir is not None:  # as a trace file, for `fanscope analyze` to read
            from fanscope.otlp_json import dumps, sdk_request

            request, _ = sdk_request(finished)
            (self.trace_dir / f"{name}.jsonl").write_text(dumps(request) + "\n")
        spans = from_readable_spans(finished)
        return classify(run, module, spans)


def run_process(name: str, workdir: Path, latency: float) -> ProgramRun:
    """Run one program as its own process, exactly as a user would, and classify its pairs.

    The program's ``__main__`` calls ``fanscope.configure()``; the trace file goes where
    ``FANSCOPE_TRACE_FILE`` says, prompts are captured (to find the labelled calls), its own
    stand-in serves its scripted answers, and the file is read as ``fanscope analyze`` reads
    it.
    """
    from fanscope.analysis.readers import read_file
    from fanscope.errors import TraceReadError
    from fanscope.testing import AnthropicStandIn

    run = ProgramRun(name)
    try:
        module = load(name)
    except Exception as error:  # the program fails at import: so will its process
        run.error = _failure(error)
        return run
    trace_file = workdir / f"{name}.jsonl"
    with AnthropicStandIn(latency=latency, answers=module.ANSWERS) as server:
        env = {
            **os.environ,
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": "test-key",
            "FANSCOPE_TRACE_FILE": str(trace_file),
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            env.pop(key, None)
        done = subprocess.run(
            [sys.executable, str(CORPUS / f"{name}.py")],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        run.error = f"exit {done.returncode}: {last[:160]}"
    try:
        spans = read_file(trace_file).spans
    except TraceReadError as error:
        run.error = run.error or str(error)
        return run
    return classify(run, module, spans)


def score(pairs: list[Pair], witness: str) -> dict[str, float | int]:
    claimed = [p for p in pairs if p.claims[witness] == INDEPENDENT]
    truly = [p for p in pairs if not p.dependent]
    false = [p for p in claimed if p.dependent]
    found = [p for p in claimed if not p.dependent]
    candidates = [p for p in pairs if p.claims[witness] == CANDIDATE]
    return {
        "pairs": len(pairs),
        "claimed_independent": len(claimed),
        "false_independent": len(false),
        "precision": len(found) / len(claimed) if claimed else 1.0,
        "recall": len(found) / len(truly) if truly else 1.0,
        "candidates": len(candidates) / len(pairs) if pairs else 0.0,
        "unseen": sum(p.claims[witness] == UNSEEN for p in pairs),
    }


def run_corpus(
    only: list[str] | None = None,
    latency: float = 0.01,
    processes: int = 0,
    trace_dir: Path | None = None,
) -> list[ProgramRun]:
    """Every program of the corpus: in this process, or ``processes`` processes at a time;
    with ``trace_dir``, each program's spans are kept there as ``<program>.jsonl``."""
    names = programs(only)
    if not processes:
        with InProcess(latency, trace_dir) as here:
            return [here.run(name) for name in names]
    if trace_dir is not None:
        return _in_processes(names, trace_dir, latency, processes)
    with tempfile.TemporaryDirectory(prefix="dataflow-truth-") as tmp:
        return _in_processes(names, Path(tmp), latency, processes)


def _in_processes(names: list[str], workdir: Path, latency: float, n: int) -> list[ProgramRun]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda name: run_process(name, workdir, latency), names))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="programs whose name starts so")
    parser.add_argument("--verbose", action="store_true", help="list pairs not called right")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="N",
        help="run each program as its own process (its own __main__ and trace file), N at once",
    )
    parser.add_argument("--latency", type=float, default=0.01, help="seconds per answer")
    parser.add_argument(
        "--trace-dir",
        type=Path,
        metavar="DIR",
        help="keep each program's trace as DIR/<program>.jsonl (for `fanscope analyze`)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    runs = run_corpus(args.only, args.latency, args.processes, args.trace_dir)
    elapsed = time.perf_counter() - started
    pairs = [p for r in runs for p in r.pairs]
    figures = {w: score(pairs, w) for w in witness_names()}
    if args.json:
        doc = {
            "programs": len(runs),
            "failed": {r.name: r.error for r in runs if r.error},
            "problems": {r.name: r.problems for r in runs if r.problems},
            "witnesses": figures,
            "by_program": {  # truly independent pairs, and those the last witness found
                r.name: {
                    "independent": sum(not p.dependent for p in r.pairs),
                    "found": sum(not p.dependent and p.claims[witness_names()[-1]] == INDEPENDENT
                                 for p in r.pairs),
                }
                for r in runs
            },
            "false_independent": {
                w: [f"{p.program}: {p.earlier} -> {p.later}" for p in pairs
                    if p.dependent and p.claims[w] == INDEPENDENT]
                for w in figures
            },
            "false_dependent": {
                w: [f"{p.program}: {p.earlier} -> {p.later}" for p in pairs
                    if not p.dependent and p.claims[w] == DEPENDENT]
                for w in figures
            },
        }  # fmt: skip
        print(json.dumps(doc, indent=2))
        return 0
    report(runs, pairs, figures, elapsed, args.verbose)
    return 0


def report(
    runs: list[ProgramRun],
    pairs: list[Pair],
    figures: dict[str, dict[str, float | int]],
    elapsed: float,
    verbose: bool,
) -> None:
    dependent = sum(p.dependent for p in pairs)
    print(
        f"dataflow truth: {len(runs)} programs, {sum(r.calls for r in runs)} labelled calls, "
        f"{len(pairs)} pairs run one after the other ({dependent} dependent, "
        f"{len(pairs) - dependent} independent), {sum(r.concurrent for r in runs)} pairs "
        f"already concurrent, {elapsed:.1f} s"
    )
    print(
        f"  {'witness':<20} {'precision (independent)':>24} {'recall':>16} "
        f"{'candidates':>11} {'unseen':>7}"
    )
    for witness, f in figures.items():
        claimed = int(f["claimed_independent"])
        right = claimed - int(f["false_independent"])
        truly = len(pairs) - dependent
        wrong = f["false_independent"]
        print(
            f"  {witness:<20} {f['precision']:>8.1%} ({right:>3}/{claimed:<3}) wrong {wrong:<3}"
            f" {f['recall']:>7.1%} ({right:>3}/{truly:<3}) {f['candidates']:>10.1%}"
            f" {f['unseen']:>7}"
        )
    if "combined" in figures:  # what reports and gates use
        f = figures["combined"]
        target(
            "dataflow truth, precision of independent (combined)",
            float(f["precision"]) * 100,
            100.0,
            at_least=True,
            unit="%",
            digits=1,
            note=f"{f['false_independent']} dependent pairs called independent, "
            f"{len(runs)} programs",
        )
        target(
            "dataflow truth, recall of independent (combined)",
            float(f["recall"]) * 100,
            90.0,
            at_least=True,
            unit="%",
            digits=1,
            note=f"{len(pairs) - dependent} truly independent pairs",
        )
    failed = [r for r in runs if r.error]
    for run in failed:
        print(f"  program failed: {run.name}: {run.error}")
    for run in runs:
        for problem in run.problems:
            print(f"  label problem: {run.name}: {problem}")
    if verbose:
        for witness in figures:
            print(f"{witness}: pairs not called as labelled")
            for p in pairs:
                claim = p.claims[witness]
                expected = DEPENDENT if p.dependent else INDEPENDENT
                if claim != expected:
                    print(f"  {p.program}: {p.earlier} -> {p.later}: labelled {expected}, "
                          f"called {claim}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
