"""Expressions and calls, for the data-flow interpreter: what each value may carry.

A name carries what was assigned to it and what was put into its object in place; an
attribute, a subscript, an f-string, a method call on a value carries what the value does;
a call's result carries what its callee, receiver and arguments do, plus, for a call that
made a span (a *site*), that call itself as a source. A call then applies its effects
(:mod:`fanscope.analysis.effects`): what it may change of its arguments, receiver and outer
state gets everything it saw and made. A comprehension is a loop, run to a fixed point.
"""

from __future__ import annotations

import ast

from fanscope.analysis import effects as E
from fanscope.analysis import known as K
from fanscope.analysis import module_state, scope
from fanscope.analysis.machine import (
    ANYWHERE,
    MAX_PASSES,
    GiveUp,
    Machine,
)
from fanscope.analysis.scope import parameters
from fanscope.analysis.taint import SiteFacts, State, Taint, _union


class Values(Machine):
    """Evaluates expressions: the sources each value may carry."""

    def ev(self, node: ast.expr, state: State) -> Taint:
        method = getattr(self, f"_e_{type(node).__name__}", None)
        if method is not None:
            return method(node, state)  # type: ignore[no-any-return]
        out: Taint = {}
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                _union(out, self.ev(child, state))
            elif isinstance(child, ast.keyword):
                _union(out, self.ev(child.value, state))
        return out

    def _e_Constant(self, node: ast.Constant, state: State) -> Taint:
        return {}

    def _e_Name(self, node: ast.Name, state: State) -> Taint:
        out = self.read_name(node.id, state)
        lazy = self._lazy().get(node.id)
        if lazy and node.id not in self._rereading:
            # a generator expression runs when it is read, on what its names hold then
            self._rereading.add(node.id)
            try:
                for expression in lazy:
                    _union(out, self.ev(expression, state))
            finally:
                self._rereading.discard(node.id)
        return out

    def _namespace(self, node: ast.Call, state: State) -> Taint | None:
        """``locals()``, ``vars()`` or ``dir()`` (no argument) carry every local variable,
        ``globals()`` every global (``TEMPLATE.format(**locals())``); None for other calls."""
        func = node.func
        if (
            not isinstance(func, ast.Name)
            or func.id not in ("locals", "vars", "dir", "globals")
            or node.args
            or node.keywords
            or self.is_local(func.id)
            or func.id in self.module.functions
        ):
            return None
        out: Taint = {}
        if func.id == "globals":
            for name in sorted(_module_names(self.module.tree)):
                _union(out, self.read_outer(name, state, closure=False))
            _union(out, self.read_outer(E.ANY, state))
            return out
        for name in sorted(self.locals):
            _union(out, self.read_name(name, state))
        return out

    def _lazy(self) -> dict[str, list[ast.expr]]:
        """Local names bound to a generator: a generator expression, or a call of a generator
        function of this module. Its body runs when it is consumed, on what it reads then."""
        found = getattr(self, "_lazy_names", None)
        if found is None:
            found = {}
            for stmt in scope.walk_own(scope.own_statements(self.func)):
                if isinstance(stmt, ast.Assign | ast.AnnAssign) and (
                    isinstance(stmt.value, ast.GeneratorExp) or self._generator_call(stmt.value)
                ):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for target in targets:
                        if isinstance(target, ast.Name) and self.is_local(target.id):
                            found.setdefault(target.id, []).append(stmt.value)
            self._lazy_names: dict[str, list[ast.expr]] = found
            self._rereading: set[str] = set()
        return found

    def _generator_call(self, node: ast.expr | None) -> bool:
        """A call of a function of this module whose body yields."""
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        if not isinstance(func, ast.Name) or self.is_local(func.id):
            return False
        target = self.module.functions.get(func.id)
        if not isinstance(target, ast.FunctionDef | ast.AsyncFunctionDef):
            return False
        return any(
            isinstance(n, ast.Yield | ast.YieldFrom)
            for n in scope.walk_own(scope.own_statements(target))
        )

    def _e_Attribute(self, node: ast.Attribute, state: State) -> Taint:
        if node.attr == "__dict__":  # every attribute of the object
            return self.ev(node.value, state)
        if isinstance(node.value, ast.Name) and self.is_local(node.value.id):
            if module_state.is_method_name(self.module, node.attr):
                # a bound method (``partial(self.ask)``, ``target=self._run``) reads its object
                out = self.read_name(node.value.id, state)
            else:
                out = self.read_field(node.value.id, node.attr, state)
        else:
            out = self.ev(node.value, state)
        for summary in self._properties(node.attr, setter=False):  # a getter runs code
            for name in sorted(summary.reads):
                for outer, local in self.outer_names(name, summary.home):
                    _union(out, self.read_outer(outer, state, closure=local))
        return out

    def run_setters(self, target: ast.Attribute, taint: Taint, state: State) -> None:
        """``obj.tone = x`` where a class of the module has a ``tone`` property: its setter
        runs, and what it changes (a global, say) gets ``x``."""
        for summary in self._properties(target.attr, setter=True):
            for name in sorted(summary.writes):
                surely = not summary.unknown and name in summary.writes_surely
                for outer, local in self.outer_names(name, summary.home):
                    self.write_outer(outer, taint, state, closure=local, surely=surely)

    def _properties(self, attr: str, *, setter: bool) -> list[E.Summary]:
        """The summaries of the getters (or setters) named ``attr`` of the module's classes
        that read (or write) outer state."""
        found = []
        for func in module_state.properties(self.module, attr, setter=setter):
            summary = self.resolver.summary(self.module, func, self.depth + 1)
            if summary.reads or summary.writes:
                found.append(summary)
        return found

    def _e_IfExp(self, node: ast.IfExp, state: State) -> Taint:
        test = self.ev(node.test, state)
        out = dict(test)  # which value it is depends on the test
        with self.governed(test):
            _union(out, self.ev(node.body, state))
            _union(out, self.ev(node.orelse, state))
        return out

    def _e_BoolOp(self, node: ast.BoolOp, state: State) -> Taint:
        out: Taint = {}
        for value in node.values:  # each operand is evaluated only as the ones before say
            with self.governed(dict(out)):
                _union(out, self.ev(value, state))
        return out

    def _e_NamedExpr(self, node: ast.NamedExpr, state: State) -> Taint:
        taint = self.ev(node.value, state)
        self.assign(node.target, taint, state, node.value)
        return taint

    def _e_Lambda(self, node: ast.Lambda, state: State) -> Taint:
        out: Taint = {}
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]:
            _union(out, self.ev(default, state))  # evaluated here, held by the lambda
        params = {a.arg for a in parameters(node)}
        for inner in ast.walk(node.body):
            if isinstance(inner, ast.Name) and inner.id not in params and self.is_local(inner.id):
                _union(out, self.read_name(inner.id, state))
        return out

    def _e_Await(self, node: ast.Await, state: State) -> Taint:
        if isinstance(node.value, ast.Call):
            self._awaited.add(id(node.value))  # its coroutine runs right here
        taint = self.ev(node.value, state)
        sid = self.sites.get(id(node))
        if sid is None:
            return taint
        out = self._site(sid, taint, None)
        self.mutate(node.value, out, state, sid)
        return out

    def _comprehension(self, node: ast.expr, state: State, parts: list[ast.expr]) -> Taint:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        names = {n for g in generators for n in scope.target_names(g.target)}
        saved = {n: state.vars.get(n) for n in names}
        out: Taint = {}
        self._loop_depth += 1
        try:
            for _ in range(MAX_PASSES):
                before = state.copy()
                governing: Taint = {}  # the items and conditions decide what is computed
                for generator in generators:
                    with self.governed(governing):
                        items = self.ev(generator.iter, state)
                    _union(governing, items)
                    self.assign(generator.target, items, state, None)
                    for condition in generator.ifs:
                        with self.governed(governing):
                            _union(governing, self.ev(condition, state))
                with self.governed(governing):
                    for part in parts:
                        _union(out, self.ev(part, state))
                if state.same(before):
                    break
            else:
                raise GiveUp("a comprehension whose data flow does not settle")
        finally:
            self._loop_depth -= 1
        for name, value in saved.items():  # the comprehension's own names end with it
            if value is None:
                state.vars.pop(name, None)
            else:
                state.vars[name] = value
        return out

    def _e_ListComp(self, node: ast.ListComp, state: State) -> Taint:
        return self._comprehension(node, state, [node.elt])

    _e_SetComp = _e_ListComp

    _e_GeneratorExp = _e_ListComp

    def _e_DictComp(self, node: ast.DictComp, state: State) -> Taint:
        return self._comprehension(node, state, [node.key, node.value])

    def _e_Call(self, node: ast.Call, state: State) -> Taint:
        namespace = self._namespace(node, state)
        if namespace is not None:
            return namespace
        effect = self.effect(node)
        sid = self.sites.get(id(node))
        out = self._call(node, effect, sid, state)
        if sid is not None and effect.many and id(node) not in self._twice:
            # one item's effects may reach the next item's call: look again
            self._twice.add(id(node))
            try:
                _union(out, self._call(node, effect, sid, state))
            finally:
                self._twice.discard(id(node))
        return out

    def _call(self, node: ast.Call, effect: E.Effect, sid: int | None, state: State) -> Taint:
        func = node.func
        inputs: Taint = {}
        summary = effect.summary
        if isinstance(func, ast.Attribute):
            target = func.value
            if (effect.write_only or effect.client) and isinstance(target, ast.Name):
                receiver: Taint = {}  # not read: no need to look at it
            elif (
                effect.method
                and summary.receiver_reads is not None
                and isinstance(target, ast.Name)
                and self.is_local(target.id)
            ):
                receiver = self.read_fields(target.id, summary.receiver_reads, state)
            else:
                receiver = self.ev(target, state)
            if not effect.client and not effect.write_only:
                _union(inputs, receiver)
        else:
            _union(inputs, self.ev(func, state))
        for arg in node.args:
            _union(inputs, self.ev(arg, state))
        for keyword in node.keywords:
            _union(inputs, self.ev(keyword.value, state))
        for name in sorted(summary.reads):
            if effect.closure:
                _union(inputs, self.read_outer(name, state))
                continue
            for outer, local in self.outer_names(name, summary.home):
                _union(inputs, self.read_outer(outer, state, closure=local))
        handed = self._handed_functions(node) if summary.unknown else []
        for callback, inner in handed:  # code it cannot see may call them: what they read
            for name in sorted(callback.reads):
                for outer, local in self._callback_names(name, callback, inner):
                    _union(inputs, self.read_outer(outer, state, closure=local))
        if sid is not None:
            for source, via in self.later_inputs.get(sid, {}).items():
                inputs.setdefault(source, via)  # what the work may read when it runs
        out = self._site(sid, inputs, effect) if sid is not None else inputs
        if sid is not None and (
            effect.apply or handed or (summary.coroutine and id(node) not in self._awaited)
        ):  # a coroutine awaited later runs later too
            self._defer(sid, node, effect, [callback for callback, _ in handed])
        if sid is not None and _tail(func) in TASK_STARTERS:
            self._defer_tasks(sid, node)
        self._apply(node, effect, out, state, sid)
        for callback, inner in handed:  # ... and what they change, with what that code saw
            for name in sorted(callback.writes):
                for outer, local in self._callback_names(name, callback, inner):
                    self.write_outer(outer, out, state, closure=local, changer=sid, surely=False)
        return out

    def _defer(self, sid: int, node: ast.Call, effect: E.Effect, handed: list[E.Summary]) -> None:
        """Note what the work a call hands over (to a pool, a thread, a task, a fan-out) may
        read when it runs, which may be after the caller changed it: the objects of its
        operands (and of a bound method's object), and the names and globals the functions
        it runs read. :meth:`settle` adds what those ever held to the site's inputs."""
        objects, names = self.deferred.setdefault(sid, (set(), set()))
        operands = [*node.args, *(k.value for k in node.keywords)]
        if isinstance(node.func, ast.Attribute) and not effect.client:
            operands.append(node.func.value)
        for operand in operands:
            for part in (operand, operand.value if isinstance(operand, ast.Attribute) else None):
                if part is not None:
                    for key in self.roots(part):
                        self._defer_object(objects, key)
        for summary in (effect.summary, *handed):
            for name in summary.reads:
                if name == E.ANY:
                    objects.add(self.uf.find(ANYWHERE))
                    continue
                for outer, _ in self.outer_names(name, summary.home):
                    if self.is_local(outer):  # a closure's free variable: read when it runs
                        names.add(outer)
                        self._defer_object(objects, f"v:{outer}")
                    else:
                        self._defer_object(objects, f"g:{outer}")

    def _defer_tasks(self, sid: int, node: ast.Call) -> None:
        """A call that makes asyncio tasks of the coroutines in its arguments
        (``asyncio.create_task(work(jobs))``, ``asyncio.gather(*(ask(q) for q in qs))``,
        ``group.create_task(...)``): the tasks run those calls later, on what their operands
        and the functions' outer names hold then."""
        work = self.task_work.setdefault(sid, set())
        self.deferred.setdefault(sid, (set(), set()))
        for operand in [*node.args, *(k.value for k in node.keywords)]:
            if not _made_here(operand):
                self.task_opaque.add(sid)  # coroutines made elsewhere: their work not here
            for inner in ast.walk(operand):
                if not isinstance(inner, ast.Call):
                    continue
                inner_sid = self.sites.get(id(inner))
                if inner_sid is not None:
                    work.add(inner_sid)
                effect = self.effect(inner)
                self._defer(sid, inner, effect, [])

    def _defer_object(self, objects: set[str], key: str) -> None:
        rep = self.uf.find(key)
        objects.add(rep)
        objects.update(self.uf.find(f) for f in self.fields_of.get(rep, ()))

    def settle(self) -> bool:
        """Give each site that handed work over every source its work may read when it
        runs: whatever the objects and names it reads held at any point of the function
        (a queue filled after the workers were submitted, a closure variable assigned
        after the thread started). Returns whether a site gained one: then the function
        runs again, so that what the work returns (a future's result) carries them too."""
        grew = False
        for sid, (objects, names) in self.deferred.items():
            extra = self.later_inputs.setdefault(sid, {})
            before = len(extra)
            for rep in sorted(objects):
                label = self.label(rep)
                for source in sorted(self.ever.get(rep, ())):
                    extra.setdefault(source, label)
            for name in sorted(names):
                for source in sorted(self.ever_vars.get(name, ())):
                    extra.setdefault(source, name)
            grew = grew or len(extra) > before
        return grew

    def _handed_functions(self, node: ast.Call) -> list[tuple[E.Summary, bool]]:
        """The summaries of the project functions a call hands to code the witness cannot
        see (``threading.Thread(target=fill)``, ``runner(fill, q)``), which may call them;
        with each, whether it is a closure of this function (a nested ``def`` or a lambda,
        whose outer names are this function's variables)."""
        found = []
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if not self.resolver._is_fn(self, arg):
                continue
            summary = self.resolver._callable(self, arg)
            if summary is not None and (summary.writes or summary.reads):
                found.append((summary, self._is_closure(arg)))
        return found

    def _bound_methods(self) -> set[str]:
        """The local names bound to a method of a local object (``add = notes.append``)."""
        found: set[str] | None = getattr(self, "_bound", None)
        if found is None:
            found = set()
            for target, value, _ in scope.assignments(self):
                if (
                    isinstance(target, ast.Name)
                    and isinstance(value, ast.Attribute)
                    and isinstance(value.value, ast.Name)
                    and self.is_local(value.value.id)
                    and (
                        value.attr in K.MUTATING_METHODS
                        or module_state.is_method_name(self.module, value.attr)
                    )
                ):
                    found.add(target.id)
            self._bound = found
        return found

    def _is_closure(self, node: ast.expr) -> bool:
        """Whether ``node`` is a function defined in this one: a lambda, a nested ``def``, or
        ``functools.partial`` of one."""
        if isinstance(node, ast.Call) and E.dotted(node.func) in ("partial", "functools.partial"):
            return bool(node.args) and self._is_closure(node.args[0])
        return isinstance(node, ast.Lambda) or (
            isinstance(node, ast.Name) and node.id in self.local_defs
        )

    def _callback_names(
        self, name: str, callback: E.Summary, closure: bool
    ) -> list[tuple[str, bool]]:
        """The names, in this function's terms, of outer name ``name`` of a function handed
        over: a closure's are this function's own variables."""
        if closure:
            return [(name, True)]
        return self.outer_names(name, callback.home)

    def _site(self, sid: int, inputs: Taint, effect: E.Effect | None) -> Taint:
        facts = self.facts.get(sid)
        if facts is None:
            facts = self.facts[sid] = SiteFacts({})
        for source, via in inputs.items():
            facts.inputs.setdefault(source, via)
        for source, via in self.control().items():  # it ran because a test said so
            if source not in facts.inputs:
                facts.inputs[source] = via
                self.controlled.add((sid, source))
        facts.evaluated = True
        self._site_log.append(sid)
        facts.in_loop = facts.in_loop or self._loop_depth > 0
        if effect is not None:
            facts.effect = effect
        out = dict(inputs)
        out[sid] = None
        return out

    def _apply(
        self, node: ast.Call, effect: E.Effect, out: Taint, state: State, sid: int | None
    ) -> None:
        """What the call may change: arguments, its receiver, outer state."""
        summary = effect.summary
        what = effect.what
        if not summary.unknown and summary.blind:
            what = f"{summary.blind} (via {_plain(what)})"
        if summary.mutates:
            target = node.func.value if isinstance(node.func, ast.Attribute) else None
            for operand, param in self._mutated_operands(node, effect):
                surely = not summary.unknown and (
                    E.ANY in summary.mutates_surely or param in summary.mutates_surely
                )
                if (
                    operand is target
                    and summary.receiver_writes is not None
                    and isinstance(target, ast.Name)
                    and self.is_local(target.id)
                ):
                    for attr in sorted(summary.receiver_writes):
                        key = f"f:{target.id}.{attr}"
                        self.mutate_key(key, out, state, sid, surely=surely, what=what)
                    if summary.receiver_shared:  # an object it holds from outside changed
                        self.mutate(operand, out, state, sid, surely=surely, what=what)
                    continue
                self.mutate(operand, out, state, sid, surely=surely, what=what)
        for name in sorted(summary.writes):
            surely = not summary.unknown and name in summary.writes_surely
            names = [(name, True)] if effect.closure else self.outer_names(name, summary.home)
            for outer, local in names:
                self.write_outer(
                    outer, out, state, closure=local, changer=sid, surely=surely, what=what
                )

    def _mutated_operands(
        self, node: ast.Call, effect: E.Effect
    ) -> list[tuple[ast.expr, str | None]]:
        """The operands the call may change, each with the parameter it fills (``None``:
        not known which)."""
        summary = effect.summary
        everything = E.ANY in summary.mutates
        operands: list[tuple[ast.expr, str | None]] = []
        params = list(summary.params)
        if isinstance(node.func, ast.Attribute) and not effect.client:
            receiver = params[0] if params else "self"
            if everything or (effect.method and receiver in summary.mutates):
                operands.append((node.func.value, receiver if effect.method else None))
        elif (
            summary.unknown
            and isinstance(node.func, ast.Name)
            and node.func.id in self._bound_methods()
        ):
            operands.append((node.func, None))  # a bound method: calling it changes its object
        if effect.method and params:
            params = params[1:]
        for i, arg in enumerate(node.args):
            if effect.apply and arg is effect.callback:
                continue
            if isinstance(arg, ast.Starred):
                operands.append((arg, None))  # which parameters it fills is not known
                continue
            name = params[i] if i < len(params) else summary.vararg
            if everything or (name is not None and name in summary.mutates):
                operands.append((arg, name))
        for keyword in node.keywords:
            name = keyword.arg if keyword.arg in params else summary.kwarg
            if everything or keyword.arg is None or (name is not None and name in summary.mutates):
                operands.append((keyword.value, name))
        return operands


#: Calls that make asyncio tasks of the coroutines they are given.
TASK_STARTERS = frozenset({"create_task", "ensure_future", "gather", "run_coroutine_threadsafe"})


def _made_here(operand: ast.expr) -> bool:
    """Whether an operand of a call that makes tasks is a coroutine made right there: a
    call, or a starred comprehension of calls (``*(ask(q) for q in qs)``); a keyword's
    constant (``return_exceptions=True``) too."""
    if isinstance(operand, ast.Starred):
        operand = operand.value
        return isinstance(operand, ast.GeneratorExp | ast.ListComp) and isinstance(
            operand.elt, ast.Call | ast.Await
        )
    return isinstance(operand, ast.Call | ast.Constant)


def _tail(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _plain(what: str) -> str:
    return what if what.startswith("`") else f"`{what}`"


def _module_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level or through ``global`` statements."""
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.update(n for t in targets for n in scope.target_names(t))
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            names.update(node.names)
    return names
