"""The second witness: what the caller's source says about two sibling calls.

Sibling spans carry the position of the call that made them, in the function their parent
span belongs to (``code.*``, ``docs/conventions.md``). :class:`SourceWitness` finds that
function under a source root, runs the data-flow interpreter (:mod:`fanscope.analysis.flow`)
over it once, with every call in it a source, and answers for a pair of siblings, the earlier
ended before the later started:

* **dependent**: a value the earlier call made (its result, or what it may have changed) can
  reach what the later call reads;
* **independent**: nothing the later call reads can come from the earlier call;
* **abstain**: the witness cannot look (no call site recorded, a site outside the parent's
  function, a file that is missing, unreadable or changed since the trace, one call made both
  spans, a call repeated by code it cannot see), with the reason.

Two spans from one call site are two executions of it: a loop's rounds (dependent when a
round can read what an earlier round made), or one execution, when user code between the
function and the span made several (``fanscope.callsite.execution``): then it abstains.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from fanscope.analysis import effects as E
from fanscope.analysis.flow import ANYWHERE, GiveUp, Interpreter
from fanscope.analysis.model import Span
from fanscope.analysis.scope import own_statements, walk_own
from fanscope.analysis.source import Abstain, SourceIndex
from fanscope.analysis.tree import Trace
from fanscope.sdk import attributes as A


class Verdict(StrEnum):
    DEPENDENT = "dependent"
    INDEPENDENT = "independent"
    ABSTAIN = "abstain"


@dataclass(frozen=True)
class SourceVerdict:
    verdict: Verdict
    evidence: str


@dataclass(frozen=True)
class CallSite:
    """Where a span was called from, as its ``code.*`` attributes say."""

    path: str
    function: str
    line: int
    column: int | None
    execution: int | None
    nearest: bool
    started: bool = False  # ran in a thread made at this line (``fanscope.callsite.started``)

    @classmethod
    def of(cls, span: Span) -> CallSite | None:
        path = span.attr_str(A.CODE_FILE)
        function = span.attr_str(A.CODE_FUNCTION)
        line = span.attr_int(A.CODE_LINE)
        if path is None or function is None or line is None or line < 1:
            return None
        column = span.attr_int(A.CODE_COLUMN)
        return cls(
            path,
            function,
            line,
            column if column is not None and column >= 1 else None,
            span.attr_int(A.CALLSITE_EXECUTION),
            span.attributes.get(A.CALLSITE_NEAREST) is True,
            span.attributes.get(A.CALLSITE_STARTED) is True,
        )

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def call_label(span: Span) -> str:
    """How reports name a call: ``agent.py:42`` when its site is known, else its span name."""
    site = CallSite.of(span)
    return site.where if site is not None else span.name


@dataclass
class _Analysis:
    """One function, interpreted once with every call in it a source."""

    interp: Interpreter | None
    reason: str
    ids: dict[int, int]  # id(node) -> source id
    nodes: dict[int, ast.expr]  # source id -> node
    path: str


class SourceWitness:
    """Reads call sites' source under ``root`` (default: the working directory)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.index = SourceIndex(root)
        self.resolver = E.Resolver(self.index)
        self._functions: dict[tuple[str, str], _Analysis] = {}
        self._sites: dict[CallSite, tuple[_Analysis, int] | str] = {}
        #: call sites' files (as the trace names them) not under the root
        self.missing: set[str] = set()

    # -- one site ----------------------------------------------------------------------------

    def locate(self, site: CallSite) -> tuple[_Analysis, int] | str:
        """The analysed function and source id of ``site``, or why the witness abstains."""
        known = self._sites.get(site)
        if known is not None:
            return known
        found: tuple[_Analysis, int] | str
        if site.nearest:
            found = f"{site.where} is only the nearest caller (another task, thread or tracer)"
        else:
            try:
                where = self.index.site(site.path, site.function, site.line, site.column)
            except Abstain as why:
                found = str(why)
                if site.path in self.index.missing:
                    self.missing.add(site.path)
            else:
                if site.function.startswith("__main__."):
                    where.module.next_to = True  # a script: its folder is on sys.path
                analysis = self._analyse(where.module.path, where.qualname)
                sid = analysis.ids.get(id(where.node))
                if analysis.interp is None:
                    found = f"{site.where}: {analysis.reason}"
                elif sid is None:
                    found = f"{site.where} is not a call the analysis follows"
                elif site.started and (
                    sid not in analysis.interp.deferred or sid in analysis.interp.task_opaque
                ):
                    # the call ran in a thread or task this line made: only a function handed
                    # over (``Thread(target=f)``) or coroutines made in the line's own
                    # arguments are followed, with what they read when they run
                    found = f"{site.where} made a thread or task whose work is not followed"
                else:
                    found = (analysis, sid)
        if len(self._sites) > 100_000:
            self._sites.clear()
        self._sites[site] = found
        return found

    def _analyse(self, path: str, qualname: str) -> _Analysis:
        key = (path, qualname)
        known = self._functions.get(key)
        if known is not None:
            return known
        module = self.index.module(path)
        func = module.functions[qualname]
        ids: dict[int, int] = {}
        nodes: dict[int, ast.expr] = {}
        for node in walk_own(own_statements(func)):
            if isinstance(node, ast.Call) or (
                isinstance(node, ast.Await) and not isinstance(node.value, ast.Call)
            ):
                sid = len(nodes) + 1
                ids[id(node)] = sid
                nodes[sid] = node
        interp: Interpreter | None = None
        reason = ""
        try:
            interp = Interpreter(module, func, self.resolver, sites=ids)
            interp.run()
        except GiveUp as why:
            interp, reason = None, f"`{_short(qualname)}` has {why}"
        except RecursionError:
            interp, reason = None, f"`{_short(qualname)}` is nested too deeply to follow"
        analysis = _Analysis(interp, reason, ids, nodes, path)
        self._functions[key] = analysis
        return analysis

    # -- two sites ---------------------------------------------------------------------------

    def verdict(self, earlier: Span, later: Span) -> SourceVerdict:
        """What the source says about ``later`` reading what ``earlier`` made."""
        first, second = CallSite.of(earlier), CallSite.of(later)
        return self.between(first, second)

    def between(self, first: CallSite | None, second: CallSite | None) -> SourceVerdict:
        if first is None or second is None:
            return _abstain("no call site was recorded")
        a, b = self.locate(first), self.locate(second)
        if isinstance(a, str):
            return _abstain(a)
        if isinstance(b, str):
            return _abstain(b)
        (fa, sa), (fb, sb) = a, b
        if fa is not fb:
            return _abstain(f"{first.where} and {second.where} are in different functions")
        assert fa.interp is not None
        interp = fa.interp
        facts = interp.facts.get(sb)
        if facts is None or not facts.evaluated or sa not in interp.facts:
            return _abstain(f"the analysis does not reach {first.where} or {second.where}")
        if sa == sb:
            if first.started != second.started:
                return _abstain(f"{first.where} made one call and started the other")
            return self._repeated(fa, sa, first, second)
        earlier, later = _name(fa.nodes[sa]), _name(fa.nodes[sb])
        at = _line_of(first, second)
        # what a task made at the earlier line did is done by the calls in that line
        work = sorted(interp.task_work.get(sa, ())) if first.started else []
        source, via = next(
            ((s, facts.inputs[s]) for s in (sa, *work) if s in facts.inputs), (sa, _MISSING)
        )
        if via is not _MISSING:
            controlled = (sb, source) in interp.controlled
            text = _dependent(
                interp, via, source, f"`{later}` at {second.where}", earlier, at,
                controlled=controlled,
            )  # fmt: skip
            return SourceVerdict(Verdict.DEPENDENT, text)
        source, maybe = next(
            ((-s, facts.inputs[-s]) for s in (sa, *work) if -s in facts.inputs), (-sa, _MISSING)
        )
        if maybe is not _MISSING:
            said = f"`{later}` at {second.where}"
            return _abstain(_unseen(interp, maybe, source, said, earlier, at))
        return SourceVerdict(
            Verdict.INDEPENDENT,
            f"nothing `{later}` at {second.where} reads comes from `{earlier}` at {at}",
        )

    def _repeated(
        self, analysis: _Analysis, sid: int, first: CallSite, second: CallSite
    ) -> SourceVerdict:
        assert analysis.interp is not None
        interp = analysis.interp
        facts = interp.facts[sid]
        name = _name(analysis.nodes[sid])
        where = first.where
        if first.execution is not None or second.execution is not None:
            if first.execution is None or second.execution is None:
                return _abstain(f"{where}: the two calls are not numbered alike")
            if first.execution == second.execution:
                return _abstain(
                    f"one call of `{name}` at {where} made both spans; what it ran is not followed"
                )
        effect = facts.effect
        if effect is not None and effect.opaque_repeat:
            return _abstain(f"`{name}` at {where} is given a function it may call repeatedly")
        if not facts.in_loop and not (effect is not None and effect.many):
            return _abstain(
                f"`{name}` at {where} made both but is not in a loop: code it was given repeated it"
            )
        via = facts.inputs.get(sid, _MISSING)
        if via is not _MISSING:
            controlled = (sid, sid) in interp.controlled
            text = _dependent(
                interp, via, sid, f"`{name}` at {where}", name, "", controlled=controlled
            )
            return SourceVerdict(Verdict.DEPENDENT, f"{text} (in an earlier round)")
        maybe = facts.inputs.get(-sid, _MISSING)
        if maybe is not _MISSING:
            text = _unseen(interp, maybe, -sid, f"`{name}` at {where}", name, "")
            return _abstain(f"{text} (in an earlier round)")
        return SourceVerdict(
            Verdict.INDEPENDENT,
            f"`{name}` at {where} repeats, and no round reads what an earlier round made",
        )


_MISSING = "\0missing"
ANYWHERE_LABEL = ANYWHERE[2:]


def _abstain(reason: str) -> SourceVerdict:
    return SourceVerdict(Verdict.ABSTAIN, reason)


#: Longest name of a call or variable quoted in evidence; longer ones keep their end.
MAX_NAME = 32


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else "…" + name[-(MAX_NAME - 1) :]


def _name(node: ast.expr) -> str:
    target = node
    if isinstance(target, ast.Await):
        target = target.value
    if isinstance(target, ast.Call):
        name = E.dotted(target.func)
        if name is not None:
            return _short(name)
        if isinstance(target.func, ast.Attribute):
            return _short(f"….{target.func.attr}")
    return "await" if isinstance(node, ast.Await) else "call"


def _at(name: str, where: str) -> str:
    return f"`{name}` at {where}" if where else f"`{name}`"


def _line_of(first: CallSite, second: CallSite) -> str:
    """Where ``first`` is, as evidence that already named ``second``'s file says it:
    ``:41`` in the same file, else the whole ``agent.py:41``."""
    return f":{first.line}" if first.path == second.path else first.where


def _chain(interp: Interpreter, via: str, source: int) -> list[str]:
    """The names ``source`` went through to reach ``via``, nearest first, at most three
    shown (the middle of a longer one elided)."""
    chain = [_short(c) for c in interp.chain(via, source)]
    return chain if len(chain) <= 3 else [chain[0], "…", chain[-1]]


def _quoted(names: list[str]) -> str:
    return " <- ".join(n if n == "…" else f"`{n}`" for n in names)


def _dependent(
    interp: Interpreter,
    via: str | None,
    source: int,
    later: str,
    earlier: str,
    where: str,
    *,
    controlled: bool = False,
) -> str:
    """``later`` reads (or runs only as a test on) a value ``earlier`` made."""
    if via is None:
        if controlled:
            return f"{later} runs only if what {_at(earlier, where)} returns says so"
        return f"{later} takes what {_at(earlier, where)} returns"
    chain = _chain(interp, via, source)
    verb = "runs only as a test on" if controlled else "reads"
    text = f"{later} {verb} `{chain[0]}`"
    if len(chain) > 1:
        text += f", from {_quoted(chain[1:])}"
    if (interp.chain(via, source)[-1], source) in interp.changed_by:
        return f"{text}, which {_at(earlier, where)} may change"
    return f"{text}, from {_at(earlier, where)}"


#: Longest sentence of an abstention through code not seen into before it is shortened (a
#: report's line also names the pair's file and lines, and is cut at 200 characters).
MAX_UNSEEN = 110


def _unseen(
    interp: Interpreter, via: str | None, source: int, later: str, earlier: str, where: str
) -> str:
    """Why the witness abstains when only code it cannot see may pass a value on."""
    if via is None:
        return f"{later} may take what {_at(earlier, where)} made through code not followed"
    full = interp.chain(via, source)
    unseen = interp.speculated.get((full[-1], source)) or "code not followed"
    unseen = unseen.removesuffix(f" (via `{earlier}`)")  # the earlier call itself: said already
    if full[-1] == ANYWHERE_LABEL:
        if unseen == f"`{earlier}`":  # the earlier call is the code not seen into
            return f"{later} may read what {_at(earlier, where)} kept, which it cannot see into"
        return (
            f"{later} may read what {_at(earlier, where)} passed to {unseen}, which the "
            "source witness cannot see into"
        )
    if full[0] == ANYWHERE_LABEL:  # read back from state unseen code keeps
        kept = [c for c in _chain(interp, via, source) if c != ANYWHERE_LABEL]
        return (
            f"{later} may read, through {unseen} (which the source witness cannot see into), "
            f"{_quoted(kept)} from {_at(earlier, where)}"
        )
    chain = _chain(interp, via, source)
    if later.startswith(f"{unseen} "):  # the later call itself: named already
        unseen = "it"
    made = _at(earlier, where)
    forms = [  # the first that fits, so that a report's evidence line is not cut
        f"{later} reads {_quoted(chain)}, which {unseen} (not seen into) may have changed "
        f"with what {made} made",
        f"{later} reads {_quoted(chain[:1])}, which {unseen} (not seen into) may have changed "
        f"with what {made} made",
    ]
    text = next((f for f in forms if len(f) <= MAX_UNSEEN), None)
    if text is None:
        text = f"{later} reads {_quoted(chain[:1])}, which {unseen} (unseen) may fill from {made}"
    return text


def sites_of(spans: Iterable[Span]) -> dict[str, CallSite | None]:
    return {span.span_id: CallSite.of(span) for span in spans}


class SiblingSources:
    """The source witness's view of one span's children.

    Children fall into classes that the source cannot tell apart (one call site, or one
    execution of it; or no site it can read); the verdict between two classes is computed
    once.
    """

    def __init__(self, witness: SourceWitness, trace: Trace, kids: Iterable[str]) -> None:
        self.witness = witness
        self._classes: dict[str, Hashable] = {}
        self._sites: dict[Hashable, CallSite | None] = {}
        self._verdicts: dict[tuple[Hashable, Hashable], SourceVerdict] = {}
        for kid in kids:
            site = CallSite.of(trace.spans[kid])
            key: Hashable
            if site is None:
                key = ("no site",)
            else:
                found = witness.locate(site)
                if isinstance(found, str):
                    key = ("abstain", found)
                else:
                    key = (id(found[0]), found[1], site.execution, site.started)
            self._classes[kid] = key
            self._sites.setdefault(key, site)

    def class_of(self, kid: str) -> Hashable:
        return self._classes.get(kid, ("no site",))

    def verdict_of(self, earlier: Hashable, later: Hashable) -> SourceVerdict:
        key = (earlier, later)
        known = self._verdicts.get(key)
        if known is None:
            known = self.witness.between(self._sites.get(earlier), self._sites.get(later))
            self._verdicts[key] = known
        return known

    def between(self, earlier: Hashable, later: Hashable) -> str:
        """``dependent``, ``independent`` or ``abstain``, for two classes."""
        return self.verdict_of(earlier, later).verdict.value

    def verdict(self, earlier: str, later: str) -> SourceVerdict:
        """The verdict for two children (by span id)."""
        return self.verdict_of(self.class_of(earlier), self.class_of(later))
