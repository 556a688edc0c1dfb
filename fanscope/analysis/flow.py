"""The source witness's data flow: which call results can reach which calls, in one function.

An abstract interpreter over one function's ``ast``. Each call that made a span (a *site*) is
a source; the interpreter follows every value a source may reach, flow-sensitively (a name
assigned again no longer carries what it held), through assignments, unpacking, f-strings and
``format``, method calls and subscripts on derived values, comprehensions, loops (to a fixed
point, so a call may depend on an earlier iteration), ``await``, ``try`` and ``match``, and
through objects changed in place: a call that may change an argument, ``self``, a global or
a closure variable (:mod:`fanscope.analysis.effects`) puts what it saw and made into that
object, which every alias of it then carries (:mod:`fanscope.analysis.scope`).

It over-approximates: a path it cannot rule out counts. What it does not model (values
reached through reflection, ``exec``, objects shared through module state that unknown code
changes behind the caller's back) is listed in ``docs/dataflow.md``. This module runs the
statements; :mod:`fanscope.analysis.values` evaluates expressions and calls, and
:mod:`fanscope.analysis.machine` holds the state they change.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from fanscope.analysis import effects as E
from fanscope.analysis import scope
from fanscope.analysis.known import annotation_kind
from fanscope.analysis.machine import (
    ANYWHERE,
    MAX_PASSES,
    GiveUp,
)
from fanscope.analysis.scope import parameters
from fanscope.analysis.taint import EMPTY, SiteFacts, State, Taint, _union
from fanscope.analysis.values import Values

__all__ = ["ANYWHERE", "GiveUp", "Interpreter", "SiteFacts", "State", "Taint"]


class Interpreter(Values):
    """Runs one function abstractly; ``sites`` maps call nodes to source ids."""

    def run(self) -> State:
        for _ in range(MAX_PASSES):
            self._sticky = {}
            out = self.block(scope.own_statements(self.func), State())
            if not self.settle():
                return out
        raise GiveUp("work handed over whose data flow does not settle")

    def block(self, statements: Iterable[ast.stmt], state: State) -> State:
        for statement in statements:
            if not state.live:
                break
            state = self.stmt(statement, state)
        return state

    def stmt(self, node: ast.stmt, state: State) -> State:
        for frame in self._trying:
            frame.append(state.copy())
        method = getattr(self, f"_s_{type(node).__name__}", None)
        out = method(node, state) if method is not None else self._s_default(node, state)
        for frame in self._trying:
            frame.append(out.copy())
        return out

    def _s_default(self, node: ast.stmt, state: State) -> State:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.ev(child, state)
        return state

    def _s_Expr(self, node: ast.Expr, state: State) -> State:
        self.ev(node.value, state)
        return state

    def _s_Assign(self, node: ast.Assign, state: State) -> State:
        taint = self.ev(node.value, state)
        for target in node.targets:
            self.assign(target, taint, state, node.value)
        return state

    def _s_AnnAssign(self, node: ast.AnnAssign, state: State) -> State:
        if node.value is not None:
            self.assign(node.target, self.ev(node.value, state), state, node.value)
        return state

    def _s_AugAssign(self, node: ast.AugAssign, state: State) -> State:
        taint = self.ev(node.value, state)
        _union(taint, self.ev(_as_load(node.target), state))
        self.assign(node.target, taint, state, None)
        return state

    def _s_Return(self, node: ast.Return, state: State) -> State:
        if node.value is not None:
            self.ev(node.value, state)
            self.returned.update(self.roots(node.value))
        return State.dead()

    def _s_Raise(self, node: ast.Raise, state: State) -> State:
        for child in (node.exc, node.cause):
            if child is not None:
                self.ev(child, state)
        for frame in self._trying:
            frame.append(state.copy())
        return State.dead()

    def _s_Break(self, node: ast.Break, state: State) -> State:
        if self._loops:
            self._loops[-1][1].append(state)
        return State.dead()

    def _s_Continue(self, node: ast.Continue, state: State) -> State:
        if self._loops:
            self._loops[-1][0].append(state)
        return State.dead()

    def _s_If(self, node: ast.If, state: State) -> State:
        test = self.ev(node.test, state)
        with self.governed(test):  # what runs, runs because of the test
            body = self.block(node.body, state.copy())
            orelse = self.block(node.orelse, state.copy())
        if _exits(node.body) or _exits(node.orelse):
            self.govern_rest(test)  # a branch that leaves decides whether the rest runs
        return body.join(orelse)

    def _s_Assert(self, node: ast.Assert, state: State) -> State:
        test = self.ev(node.test, state)
        if node.msg is not None:
            self.ev(node.msg, state)
        self.govern_rest(test)
        return state

    def _s_For(self, node: ast.For | ast.AsyncFor, state: State) -> State:
        items = self.ev(node.iter, state)

        def enter(head: State) -> tuple[State, Taint]:
            entered = head.copy()
            self.assign(node.target, dict(items), entered, None)
            return entered, items  # how many rounds run depends on the items

        # when the items run out nothing is assigned: the loop leaves from its head
        return self._loop(state, enter, State.copy, node, exits_normally=True)

    _s_AsyncFor = _s_For

    def _s_While(self, node: ast.While, state: State) -> State:
        forever = isinstance(node.test, ast.Constant) and bool(node.test.value)

        def enter(head: State) -> tuple[State, Taint]:
            entered = head.copy()
            return entered, self.ev(node.test, entered)

        def leave(head: State) -> State:
            return enter(head)[0]

        return self._loop(state, enter, leave, node, exits_normally=not forever)

    def _loop(
        self,
        state: State,
        enter: Callable[[State], tuple[State, Taint]],
        leave: Callable[[State], State],
        node: ast.For | ast.AsyncFor | ast.While,
        *,
        exits_normally: bool,
    ) -> State:
        body, orelse = node.body, node.orelse
        head = state.copy()
        breaks: list[State] = []
        control: Taint = {}
        self._loop_depth += 1
        try:
            for _ in range(MAX_PASSES):
                self._loops.append(([], []))
                entered, control = enter(head)
                with self.governed(control):
                    end = self.block(body, entered)
                continues, broke = self._loops.pop()
                breaks = broke
                new_head = head.join(end, *continues)
                if new_head.same(head):
                    break
                head = new_head
            else:
                raise GiveUp("a loop whose data flow does not settle")
        finally:
            self._loop_depth -= 1
        if _exits(body, loop=False):
            self.govern_rest(control)  # a return in a round: what follows may not run
        normal = self.block(orelse, leave(head)) if exits_normally else State.dead()
        return normal.join(*breaks)

    def _s_Try(self, node: ast.Try, state: State) -> State:
        self._trying.append([state.copy()])
        logged = len(self._site_log)
        try:
            body_end = self.block(node.body, state.copy())
        finally:
            seen = self._trying.pop()
        raised = State.dead().join(*seen)
        # an exception may carry anything a call in the body saw or made
        error: set[int] = set(self._site_log[logged:])
        for table in (raised.vars, raised.heap):
            for value in table.values():
                error |= value
        ends = [self.block(node.orelse, body_end)]
        failed: Taint = dict.fromkeys(error)
        for handler in node.handlers:
            entry = raised.copy()
            if handler.type is not None:
                self.ev(handler.type, entry)
            if handler.name:
                self._bind(handler.name, dict(failed), entry)
            with self.governed(failed):  # a handler runs because a call in the block failed
                ends.append(self.block(handler.body, entry))
        out = State.dead().join(*ends)
        if node.finalbody:
            out = self.block(node.finalbody, out.join(raised))
        return out

    _s_TryStar = _s_Try

    def _s_With(self, node: ast.With | ast.AsyncWith, state: State) -> State:
        for item in node.items:
            taint = self.ev(item.context_expr, state)
            if item.optional_vars is not None:
                self.assign(item.optional_vars, taint, state, item.context_expr)
        out = self.block(node.body, state)
        for item in reversed(node.items):  # the managers' exits run after the body
            if out.live:
                self._exit(item, isinstance(node, ast.AsyncWith), out)
        return out

    def _exit(self, item: ast.withitem, is_async: bool, state: State) -> None:
        """What a context manager's exit does: a project class's ``__exit__`` (its summary,
        on the object), or, for a manager made by code the witness cannot see (a
        ``@contextmanager`` generator, a library's), what unknown code may do with the
        object (``with recording() as notes:`` may copy ``notes`` anywhere on exit)."""
        made = item.context_expr
        if not isinstance(made, ast.Call):
            return
        summary: E.Summary | None = None
        owner = self.resolver._class_named(self, made.func)
        if owner is not None:
            module, cls = owner
            name = "__aexit__" if is_async else "__exit__"
            method = E.find_method(module, cls, name)
            if method is not None:
                summary = self.resolver.summary(module, method, self.depth + 1)
            elif cls.bases:
                summary = E.UNKNOWN
        elif self.effect(made).summary.unknown:
            summary = E.UNKNOWN
        if summary is None:
            return
        target = item.optional_vars if isinstance(item.optional_vars, ast.Name) else made
        exit_call = ast.Call(ast.Attribute(target, "__exit__", ast.Load()), [], [])
        what = E.dotted(made.func) or "a context manager"
        self._call(exit_call, E.Effect(summary, method=True, what=f"`{what}` on exit"), None, state)

    _s_AsyncWith = _s_With

    def _s_Match(self, node: ast.Match, state: State) -> State:
        subject = self.ev(node.subject, state)
        ends = [state.copy()]
        with self.governed(subject):
            for case in node.cases:
                entry = state.copy()
                for name in _pattern_names(case.pattern):
                    self._bind(name, subject, entry)
                guard = self.ev(case.guard, entry) if case.guard is not None else {}
                with self.governed(guard):
                    ends.append(self.block(case.body, entry))
        if any(_exits(case.body) for case in node.cases):
            self.govern_rest(subject)
        return State.dead().join(*ends)

    def _s_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef, state: State) -> State:
        # defaults and decorators are evaluated here, once: the function holds what they
        # carry (``def ask(q, persona=persona.title())``), and so does every call of it
        held: Taint = {}
        for child in [*node.decorator_list, *node.args.defaults]:
            _union(held, self.ev(child, state))
        for default in node.args.kw_defaults:
            if default is not None:
                _union(held, self.ev(default, state))
        if self.is_local(node.name):
            self._bind(node.name, held, state)
        return state

    _s_AsyncFunctionDef = _s_FunctionDef

    def _s_ClassDef(self, node: ast.ClassDef, state: State) -> State:
        # a class made in the function holds what its body read of the function's variables
        # (``class Settings: tone = tone``)
        held: Taint = {}
        for child in [*node.decorator_list, *node.bases]:
            _union(held, self.ev(child, state))
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Name)
                and isinstance(inner.ctx, ast.Load)
                and self.is_local(inner.id)
            ):
                _union(held, self.read_name(inner.id, state))
        if self.is_local(node.name):
            self._bind(node.name, held, state)
        return state

    def _s_Import(self, node: ast.Import | ast.ImportFrom, state: State) -> State:
        for alias in node.names:
            name = (alias.asname or alias.name).split(".")[0]
            if self.is_local(name):
                state.vars[name] = EMPTY
        return state

    _s_ImportFrom = _s_Import

    def _s_Global(self, node: ast.stmt, state: State) -> State:
        return state

    _s_Nonlocal = _s_Global

    _s_Pass = _s_Global

    def _s_Delete(self, node: ast.Delete, state: State) -> State:
        for target in node.targets:
            if not isinstance(target, ast.Name):
                self.ev(_as_load(target), state)
        return state

    def summary(self) -> E.Summary:
        """What calling this function may do, for its callers."""
        self.run()
        mutated = {self.uf.find(k) for k in self.mutated}
        surely = {self.uf.find(k) for k in self.mutated_surely}
        params = [a.arg for a in parameters(self.func)]
        changed, changed_surely = set(), set()
        for name in params:
            rep = self.uf.find(f"v:{name}")
            fields = {self.uf.find(f) for f in self.fields_of.get(rep, ())}
            if rep in mutated or fields & mutated:
                changed.add(name)
            if rep in surely or fields & surely:
                changed_surely.add(name)
        returns = None
        if isinstance(self.func, ast.FunctionDef | ast.AsyncFunctionDef):
            returns = annotation_kind(self.func.returns)
        vararg = kwarg = None
        if not isinstance(self.func, ast.Module):
            vararg = self.func.args.vararg.arg if self.func.args.vararg else None
            kwarg = self.func.args.kwarg.arg if self.func.args.kwarg else None
            for extra in (vararg, kwarg):
                if extra is not None and self.uf.find(f"v:{extra}") in mutated:
                    changed.add(E.ANY)
                if extra is not None and self.uf.find(f"v:{extra}") in surely:
                    changed_surely.add(E.ANY)
        receiver_reads = receiver_writes = None
        if self.self_name is not None:
            rep = self.uf.find(f"v:{self.self_name}")
            if rep not in self.whole_reads:
                receiver_reads = frozenset(a for r, a in self.field_reads if r == rep)
            if rep not in mutated:
                receiver_writes = frozenset(
                    f[2:].partition(".")[2]
                    for f in self.fields_of.get(rep, ())
                    if self.uf.find(f) in mutated
                )
        receiver_shared: frozenset[str] = frozenset()
        if receiver_writes and self.class_node is not None:
            outside = E.outside_fields(self.module, self.class_node)
            receiver_shared = receiver_writes if outside is None else receiver_writes & outside
        returns_from: frozenset[str] | None = None
        generator = any(
            isinstance(n, ast.Yield | ast.YieldFrom)
            for n in scope.walk_own(scope.own_statements(self.func))
        )
        if not generator and not isinstance(self.func, ast.Lambda):
            shared = {self.uf.find(k) for k in self.returned}
            aliased = set()
            for name in params:
                rep = self.uf.find(f"v:{name}")
                fields = {self.uf.find(f) for f in self.fields_of.get(rep, ())}
                if rep in shared or fields & shared:
                    aliased.add(name)
            if vararg is None and kwarg is None:
                returns_from = frozenset(aliased)
        return E.Summary(
            frozenset(changed),
            frozenset(self.outer_reads),
            frozenset(self.outer_writes),
            tuple(params),
            vararg,
            kwarg,
            returns,
            receiver_reads=receiver_reads,
            receiver_writes=receiver_writes,
            receiver_shared=receiver_shared,
            returns_from=returns_from,
            mutates_surely=frozenset(changed_surely),
            writes_surely=frozenset(self.outer_writes_surely),
            blind=self.blind,
            home=self.module.path,
            coroutine=isinstance(self.func, ast.AsyncFunctionDef),
        )


def _as_load(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.Name):
        return ast.Name(node.id, ast.Load())
    if isinstance(node, ast.Attribute):
        return ast.Attribute(node.value, node.attr, ast.Load())
    if isinstance(node, ast.Subscript):
        return ast.Subscript(node.value, node.slice, ast.Load())
    return node


def _pattern_names(pattern: ast.pattern) -> list[str]:
    names = []
    for node in ast.walk(pattern):
        if isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            names.append(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.append(node.rest)
    return names


def _exits(statements: list[ast.stmt], loop: bool = True) -> bool:
    """Whether ``statements`` may leave early (``return``, ``raise``; with ``loop``, also
    ``break`` and ``continue``), so that what follows them runs only on some paths."""
    kinds: tuple[type[ast.stmt], ...] = (ast.Return, ast.Raise)
    if loop:
        kinds += (ast.Break, ast.Continue)
    return any(isinstance(n, kinds) for n in scope.walk_own(statements))
