"""What the data-flow interpreter knows of one function, and how it reads and changes it.

The interpreter's plain data is in :mod:`fanscope.analysis.taint`: a :class:`~.taint.State`
maps each local name to the sources its value may carry, and each object location to the
sources put into it in place. Locations are strings (``v:name`` a local's object,
``f:name.attr`` an attribute of it, ``g:name`` a module global or closure variable, ``g:*``
state shared by code the analysis cannot see), merged into alias classes before the run
(:mod:`fanscope.analysis.scope`, which also finds the function's class, ``self`` and local
definitions). A source is a call's id; its negative is the same source arrived only through
code the analysis cannot see, on which the witness abstains.

:class:`Machine` holds what the interpreter knows of the function (locals, kinds, aliases,
the callees' effects) and reads and writes names and objects; ``values.Values`` evaluates
expressions on it, and ``flow.Interpreter`` runs statements.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath

from fanscope.analysis import effects as E
from fanscope.analysis import kinds, module_state, scope
from fanscope.analysis import known as K
from fanscope.analysis.source import FunctionNode, Module
from fanscope.analysis.taint import EMPTY, SiteFacts, State, Taint, _merged, _union

#: Passes over a loop before the interpreter gives up (it then abstains).
MAX_PASSES = 40

ANYWHERE = "g:*"


class GiveUp(Exception):
    """The function is beyond what the interpreter follows (it then abstains)."""


class Machine:
    """One function's names, objects and callees, for the interpreter that runs it."""

    def __init__(
        self,
        module: Module,
        func: FunctionNode,
        resolver: E.Resolver,
        *,
        sites: dict[int, int] | None = None,
        depth: int = 0,
    ) -> None:
        self.module = module
        self.func = func
        self.resolver = resolver
        self.depth = depth
        self.sites = sites or {}
        self.facts: dict[int, SiteFacts] = {}
        self.origin: dict[tuple[str, int], str | None] = {}
        self.mutated: set[str] = set()
        self.mutated_surely: set[str] = set()  # changed by code the analysis follows
        self.outer_writes_surely: set[str] = set()
        self.speculated: dict[tuple[str, int], str] = {}  # (location, -source) -> unseen code
        self.changed_by: set[tuple[str, int]] = set()  # (location, source) a call changed
        self.outer_reads: set[str] = set()
        self.outer_writes: set[str] = set()
        self.locals, self.globals_declared, self.nonlocals_declared = scope.local_names(func)
        self.class_node = scope.enclosing_class(module, func)
        self.self_name = scope.self_name(func, self.class_node)
        # a lambda or nested function inside a method sees the method's self
        self.outer_self = scope.outer_self(module, func) if self.self_name is None else None
        self.local_defs: dict[str, FunctionNode] = {}
        self.kinds: dict[str, str | None] = {}
        self.uf = scope.UnionFind()
        self.field_keys: set[str] = set()
        self.fields_of: dict[str, set[str]] = {}
        self._effects: dict[int, E.Effect] = {}
        self._loops: list[tuple[list[State], list[State]]] = []
        self._control: list[Taint] = []  # the tests what runs now depends on
        self._sticky: Taint = {}  # tests that decided whether the rest of the function runs
        self.controlled: set[tuple[int, int]] = set()  # (site, source) by control only
        self._trying: list[list[State]] = []
        self._loop_depth = 0
        self._twice: set[int] = set()
        self._site_log: list[int] = []
        self.returned: set[str] = set()  # locations the return value may share objects with
        self.whole_reads: set[str] = set()  # locations read as whole objects
        self.field_reads: set[tuple[str, str]] = set()  # (location of the object, attribute)
        self.blind = ""  # the first call it cannot see into (a summary's ``blind``)
        # every source ever put into each object location, and bound to each local name, on
        # any path: what work handed to a pool, a thread or a task may read when it runs
        self.ever: dict[str, set[int]] = {}
        self.ever_vars: dict[str, set[int]] = {}
        self.deferred: dict[int, tuple[set[str], set[str]]] = {}  # site -> (objects, names)
        self.later_inputs: dict[int, Taint] = {}  # site -> what its work may read later
        # a site that makes asyncio tasks (create_task, gather, ...) -> the calls in its
        # arguments, whose work the tasks run
        self.task_work: dict[int, set[int]] = {}
        self.task_opaque: set[int] = set()  # ... given coroutines made elsewhere
        self._awaited: set[int] = set()  # calls awaited where they are made
        scope.local_defs(func, self.locals, self.local_defs, self.field_keys)
        kinds.infer(self)
        scope.aliases(self)
        for group in module_state.module_groups(self):  # ``shared.NOTES`` is ``NOTES``
            self.uf.union(group)

    def method_of(self, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """A method ``name`` of the enclosing class (or of a base class in the same file)."""
        if self.class_node is None:
            return None
        return E.find_method(self.module, self.class_node, name)

    def effect(self, call: ast.Call) -> E.Effect:
        known = self._effects.get(id(call))
        if known is None:
            known = self.resolver.effects(self, call)
            self._effects[id(call)] = known
            if not self.blind and known.summary.unknown:
                self.blind = known.what or "a call not followed"
            elif not self.blind and known.summary.blind:
                self.blind = known.summary.blind
        return known

    def is_local(self, name: str) -> bool:
        return name in self.locals

    def kind(self, node: ast.expr) -> str | None:
        """``imm`` when ``node``'s value cannot be changed in place, ``immlist`` for a
        collection of such values, else ``None`` (:mod:`fanscope.analysis.kinds`)."""
        return kinds.kind(self, node)

    def _key(self, name: str) -> str:
        return f"v:{name}" if self.is_local(name) else f"g:{name}"

    def location_roots(self, target: ast.AST) -> list[str]:
        """The locations an assignment to ``target`` writes."""
        if isinstance(target, ast.Name):
            return [self._key(target.id)]
        if isinstance(target, ast.Attribute | ast.Subscript) and module_state.is_namespace(
            self, target.value
        ):  # ``globals()["TONE"] = x``, ``sys.modules[__name__].TONE = x``: any global
            return [ANYWHERE]
        if isinstance(target, ast.Attribute):
            if isinstance(target.value, ast.Name) and self.is_local(target.value.id):
                key = f"f:{target.value.id}.{target.attr}"
                self.field_keys.add(key)
                return [key]
            if isinstance(target.value, ast.Name):  # ``Registry.last = x``, ``llm.calls = n``
                return [self._key(target.value.id)]
            return self.roots(target.value)
        if isinstance(target, ast.Subscript):
            return self.roots(target.value)
        if isinstance(target, ast.Starred):
            return self.location_roots(target.value)
        if isinstance(target, ast.Tuple | ast.List):
            return [k for e in target.elts for k in self.location_roots(e)]
        return []

    def roots(self, node: ast.AST) -> list[str]:
        """The locations whose objects ``node``'s value may be, or be part of."""
        if isinstance(node, ast.Name) and module_state.holds_state(self, node.id):
            return [self._key(node.id)]
        if isinstance(node, ast.Lambda) or (
            isinstance(node, ast.Name) and node.id in self.local_defs
        ):  # a closure holds the objects of the variables it reads
            inner = node if isinstance(node, ast.Lambda) else self.local_defs[node.id]
            return module_state.captured(self, inner, self.roots)
        if isinstance(node, ast.expr) and self.kind(node) == K.IMM:
            return []
        if isinstance(node, ast.Name):
            return [self._key(node.id)]
        if isinstance(node, ast.Attribute):
            if node.attr == "__dict__":  # the object's attributes themselves
                return self.roots(node.value)
            if isinstance(node.value, ast.Name) and self.is_local(node.value.id):
                key = f"f:{node.value.id}.{node.attr}"
                self.field_keys.add(key)
                if node.attr in K.MUTATING_METHODS or module_state.is_method_name(
                    self.module, node.attr
                ):  # a bound method (``add = notes.append``) holds its object
                    return [key, self._key(node.value.id)]
                return [key]
            base = node.value
            if isinstance(base, ast.Name) and module_state.attribute_state(self, base.id):
                return [self._key(base.id)]  # ``Registry.notes``, ``os.environ``
            return self.roots(node.value)
        if isinstance(node, ast.Subscript | ast.Starred | ast.Await):
            return self.roots(node.value)
        if isinstance(node, ast.Lambda | ast.Constant | ast.JoinedStr | ast.Compare):
            return []
        if isinstance(node, ast.Call):
            return [k for p in self._result_sources(node) for k in self.roots(p)]
        if isinstance(node, ast.NamedExpr):
            return [*self.roots(node.target), *self.roots(node.value)]
        out: list[str] = []
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr | ast.comprehension | ast.keyword):
                out.extend(self.roots(child))
        return out

    def _result_sources(self, node: ast.Call) -> list[ast.AST]:
        """The operands a call's result may share objects with."""
        effect = self.effect(node)
        if effect.client:
            return []  # a response made from HTTP, or an executor's future
        summary = effect.summary
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        operands: list[ast.AST] = [*node.args, *(k.value for k in node.keywords)]
        if summary.returns_from is None or effect.apply:
            return [*operands, *([receiver] if receiver is not None else [])]
        params = list(summary.params)
        out: list[ast.AST] = []
        if effect.method and params:
            if params[0] in summary.returns_from and receiver is not None:
                out.append(receiver)
            params = params[1:]
        for i, arg in enumerate(node.args):
            name = params[i] if i < len(params) else summary.vararg
            if isinstance(arg, ast.Starred) or name is None or name in summary.returns_from:
                out.append(arg)
        for keyword in node.keywords:
            name = keyword.arg if keyword.arg in params else summary.kwarg
            if name is None or name in summary.returns_from:
                out.append(keyword.value)
        return out

    def label(self, key: str) -> str:
        name = key[2:]
        if "::" in name:  # another module's global: ``helpers.STATE``
            path, _, attr = name.partition("::")
            return f"{PurePosixPath(path).stem}.{attr}"
        return name

    def outer_names(self, name: str, home: str) -> list[tuple[str, bool]]:
        """The names, in this function's terms, of outer name ``name`` of a callee defined in
        file ``home``: a global of this module by its plain name; another module's as
        ``path::name``, and as every name this module imports it or its module by. With each,
        whether it is a local of this function (an import inside it)."""
        if name == E.ANY or not home:
            return [(name, False)]
        path, attr = name.partition("::")[::2] if "::" in name else (home, name)
        out = [(attr, False) if path == self.module.path else (f"{path}::{attr}", False)]
        aliases = self.resolver.aliases(self.module)
        for local in [*aliases.get((path, attr), ()), *aliases.get((path, None), ())]:
            out.append((local, self.is_local(local)))
        return out

    def assign(self, target: ast.AST, taint: Taint, state: State, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, taint, state)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, taint, state, None)
        elif isinstance(target, ast.Tuple | ast.List):
            pairs = _pairs(target, value)
            if pairs is not None:  # every value first, then the targets, as Python does
                parts = [(t, self.ev(v, state), v) for t, v in pairs]
                for t, part, v in parts:
                    self.assign(t, part, state, v)
            else:
                for element in target.elts:
                    self.assign(element, taint, state, None)
        elif isinstance(target, ast.Attribute):
            base = self.ev(target.value, state)
            for key in self.location_roots(target):
                self.mutate_key(key, _merged(taint, base), state)
            self.run_setters(target, _merged(taint, base), state)
        elif isinstance(target, ast.Subscript):
            index = self.ev(target.slice, state)
            self.ev(target.value, state)
            for key in self.location_roots(target):
                self.mutate_key(key, _merged(taint, index), state)

    def _bind(self, name: str, taint: Taint, state: State) -> None:
        taint = self._chosen(taint)
        if self.is_local(name):
            state.vars[name] = frozenset(taint)
            if taint:
                self.ever_vars.setdefault(name, set()).update(taint)
            for source, via in taint.items():
                if via != name:
                    self.origin.setdefault((name, source), via)
        else:
            self.mutate_key(f"g:{name}", taint, state)

    def mutate_key(
        self,
        key: str,
        taint: Taint,
        state: State,
        changer: int | None = None,
        *,
        surely: bool = True,
        what: str = "",
    ) -> None:
        """``key``'s objects may now hold ``taint``. Not ``surely``: only because code the
        analysis cannot see (``what``) might have put it there: the sources are kept as
        possible ones (negative ids), on which the witness abstains rather than claims."""
        taint = self._chosen(taint)
        if key.startswith("g:"):
            self.outer_writes.add(key[2:])
            if surely:
                self.outer_writes_surely.add(key[2:])
        rep = self.uf.find(key)
        self.mutated.add(rep)
        if surely:
            self.mutated_surely.add(rep)
        else:
            taint = {-abs(s): via for s, via in taint.items()}
            for source in taint:
                self.speculated.setdefault((self.label(key), source), what)
        if not taint:
            return
        self.ever.setdefault(rep, set()).update(taint)
        held = state.heap.get(rep, EMPTY)
        new = held | frozenset(taint)
        if new != held:
            state.heap[rep] = new
        label = self.label(key)
        if changer is not None:
            self.changed_by.add((label, changer))
        for source, via in taint.items():
            if via != label:
                self.origin.setdefault((label, source), via)

    def mutate(
        self,
        node: ast.AST,
        taint: Taint,
        state: State,
        changer: int | None = None,
        *,
        surely: bool = True,
        what: str = "",
    ) -> None:
        for key in self.roots(node):
            self.mutate_key(key, taint, state, changer, surely=surely, what=what)

    def read_name(self, name: str, state: State) -> Taint:
        if not self.is_local(name):
            return self.read_outer(name, state)
        out: Taint = dict.fromkeys(state.vars.get(name, EMPTY), name)
        rep = self.uf.find(f"v:{name}")
        self.whole_reads.add(rep)
        self._add_heap(out, rep, state, name)
        for field in self.fields_of.get(rep, ()):
            self._add_heap(out, self.uf.find(field), state, self.label(field))
        return out

    def read_field(self, name: str, attr: str, state: State) -> Taint:
        out: Taint = dict.fromkeys(state.vars.get(name, EMPTY), name)
        rep = self.uf.find(f"v:{name}")
        self.field_reads.add((rep, attr))
        self._add_heap(out, rep, state, name)
        key = f"f:{name}.{attr}"
        self._add_heap(out, self.uf.find(key), state, f"{name}.{attr}")
        return out

    def read_fields(self, name: str, attrs: Iterable[str], state: State) -> Taint:
        """A local object read only through some of its attributes (a method of ``self``
        whose source says which)."""
        out: Taint = {}
        for attr in sorted(attrs):
            _union(out, self.read_field(name, attr, state))
        if not out:
            out = dict.fromkeys(state.vars.get(name, EMPTY), name)
            self._add_heap(out, self.uf.find(f"v:{name}"), state, name)
        return out

    def read_outer(self, name: str, state: State, *, closure: bool = True) -> Taint:
        """An outer name read by this function, or by a callee: a closure's free variables
        may be this function's locals; a module function's outer names are globals."""
        if name == E.ANY:
            self.outer_reads.add(E.ANY)
            out: Taint = {}
            self._add_heap(out, self.uf.find(ANYWHERE), state, self.label(ANYWHERE))
            return out
        if closure and self.is_local(name):  # a closure's free variable, read here
            return self.read_name(name, state)
        self.outer_reads.add(name)
        out = {}
        self._add_heap(out, self.uf.find(f"g:{name}"), state, self.label(f"g:{name}"))
        if module_state.shares_unseen(self, name):  # linked at import time to unseen code
            self._add_heap(out, self.uf.find(ANYWHERE), state, self.label(ANYWHERE))
        return out

    def write_outer(
        self,
        name: str,
        taint: Taint,
        state: State,
        *,
        closure: bool = True,
        changer: int | None = None,
        surely: bool = True,
        what: str = "",
    ) -> None:
        if name == E.ANY:
            self.mutate_key(ANYWHERE, taint, state, changer, surely=False, what=what)
        elif closure and self.is_local(name):  # a closure changes a variable of this function
            if surely:
                held: Taint = dict.fromkeys(state.vars.get(name, EMPTY), name)
                _union(held, taint)
                self._bind(name, held, state)
            self.mutate_key(f"v:{name}", taint, state, changer, surely=surely, what=what)
        else:
            self.mutate_key(f"g:{name}", taint, state, changer, surely=surely, what=what)

    @staticmethod
    def _add_heap(out: Taint, rep: str, state: State, label: str) -> None:
        for source in state.heap.get(rep, EMPTY):
            out.setdefault(source, label)

    def chain(self, name: str | None, source: int, limit: int = 6) -> list[str]:
        """The names ``source`` went through to reach ``name``, nearest first."""
        out: list[str] = []
        while name is not None and name not in out and len(out) < limit:
            out.append(name)
            name = self.origin.get((name, source))
        return out

    @contextmanager
    def governed(self, test: Taint) -> Iterator[None]:
        """What runs inside runs only as ``test`` decided (a branch, a loop, a handler)."""
        self._control.append(test)
        try:
            yield
        finally:
            self._control.pop()

    def govern_rest(self, test: Taint) -> None:
        """``test`` decided whether the rest of the function runs (a branch that returns)."""
        _union(self._sticky, test)

    def _chosen(self, taint: Taint) -> Taint:
        """``taint``, with the tests of the branches a write runs in: which value a name or
        an object gets depends on them (``if verdict == "yes": prompt = A`` ``else: ...``)."""
        if not self._control:
            return taint
        out = dict(taint)
        for test in self._control:
            _union(out, test)
        return out

    def control(self) -> Taint:
        """The sources what runs now depends on by control: tests it runs under."""
        out: Taint = dict(self._sticky)
        for test in self._control:
            _union(out, test)
        return out

    def ev(self, node: ast.expr, state: State) -> Taint:
        """The sources ``node``'s value may carry (:class:`~fanscope.analysis.values.Values`)."""
        raise NotImplementedError

    def run_setters(self, target: ast.Attribute, taint: Taint, state: State) -> None:
        """What a property's setter does when ``target`` is assigned (``values.Values``)."""
        raise NotImplementedError


def _pairs(
    target: ast.Tuple | ast.List, value: ast.AST | None
) -> list[tuple[ast.AST, ast.expr]] | None:
    if not isinstance(value, ast.Tuple | ast.List) or len(value.elts) != len(target.elts):
        return None
    if any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts)):
        return None
    return list(zip(target.elts, value.elts, strict=True))
