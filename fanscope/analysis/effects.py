"""What a call may do to data its caller can see: the callee's effects, conservatively.

The source witness (:mod:`fanscope.analysis.flow`) follows values through one function; a
call inside it may also change an argument (``notes.append(answer)``), state on ``self``, a
module global or a closure variable, and may read such state. :func:`Resolver.effects` says
what, for one call:

* the Anthropic client's ``messages.create`` / ``stream`` / ``count_tokens``: nothing (the
  client keeps no data between calls);
* builtins, ``str``/``dict``/``list`` read-only methods and standard-library functions known to
  keep no data (``json``, ``re``, ``textwrap``, ``asyncio.sleep`` ...): nothing;
* mutating methods of containers (``append``, ``update``, ...): change their receiver;
* functions and methods whose source is under the source root (same module, ``self``'s
  class, project imports): their :class:`Summary`, computed from their own source, one level
  of calls after another (cycles and depth past :data:`MAX_DEPTH` are unknown);
* calls that run a function on items (``asyncio.to_thread``, a pool's ``submit``/``map``,
  ``f.map`` of a ``@parallel`` function, builtin ``map``): the function's summary;
* anything else: unknown: it may change its receiver and every mutable argument, and read and
  change whatever state unknown calls share (the ``*`` location).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from fanscope.analysis import known as K
from fanscope.analysis.held_state import find_method, outside_fields, remembering
from fanscope.analysis.module_state import LOG_CALLS, project_object
from fanscope.analysis.scope import own_statements, parameters, target_names, walk_own
from fanscope.analysis.source import Abstain, FunctionNode, Module, SourceIndex
from fanscope.analysis.summaries import (
    ANY,
    LOGGED,
    MAX_DEPTH,
    PURE,
    RECEIVER_ONLY,
    TO_STREAM,
    UNKNOWN,
    Effect,
    Summary,
    dotted,
    imports_of,
    known_pure,
    over_all_args,
)

if TYPE_CHECKING:
    from fanscope.analysis.machine import Machine as Interpreter

__all__ = [
    "ANY",
    "MAX_DEPTH",
    "PURE",
    "RECEIVER_ONLY",
    "TO_STREAM",
    "UNKNOWN",
    "Effect",
    "Resolver",
    "Summary",
    "dotted",
    "find_method",
    "imports_of",
    "known_pure",
    "outside_fields",
    "remembering",
]


@dataclass
class Resolver:
    """Finds callees in the source and summarises them (cached per function)."""

    index: SourceIndex | None
    _summaries: dict[int, Summary | None] = field(default_factory=dict)
    _aliases: dict[int, dict[tuple[str, str | None], list[str]]] = field(default_factory=dict)

    def aliases(self, module: Module) -> dict[tuple[str, str | None], list[str]]:
        """The names ``module`` imports from project files: (file, name) -> local names, and
        (file, None) -> the names the module itself is imported as."""
        known = self._aliases.get(id(module))
        if known is not None:
            return known
        out: dict[tuple[str, str | None], list[str]] = {}
        for local, target in imports_of(module).items():
            whole = self._project_module(target, module)
            if whole is not None:
                out.setdefault((whole.path, None), []).append(local)
                continue
            base, _, attr = target.rpartition(".")
            owner = self._project_module(base, module)
            if owner is not None:
                out.setdefault((owner.path, attr), []).append(local)
        self._aliases[id(module)] = out
        return out

    # -- one call ----------------------------------------------------------------------------

    def effects(self, interp: Interpreter, call: ast.Call) -> Effect:
        func = call.func
        if isinstance(func, ast.Attribute):
            return self._attribute_call(interp, call, func)
        if isinstance(func, ast.Name):
            return self._name_call(interp, call, func.id)
        if isinstance(func, ast.Lambda):
            summary = self.summary(interp.module, func, interp.depth + 1)
            return Effect(summary, closure=True, what="lambda")
        return Effect(UNKNOWN, what="a computed callable")

    def _name_call(self, interp: Interpreter, call: ast.Call, name: str) -> Effect:
        local = interp.local_defs.get(name)
        if local is not None:
            summary = self.summary(interp.module, local, interp.depth + 1)
            return Effect(summary, closure=True, what=name)
        if name in interp.locals:
            return Effect(UNKNOWN, what=f"`{name}`")
        if imports_of(interp.module).get(name) in K.APPLY_ONCE:
            return self._higher_order(interp, call, False, f"{name}")
        enclosing = self.enclosing_def(interp, name)
        if enclosing is not None:
            summary = self.summary(interp.module, enclosing, interp.depth + 1)
            return Effect(summary, what=name)
        found = self.resolve_global(interp.module, name, interp.depth + 1)
        if found is not None:
            return found
        if name in K.MAP_BUILTINS or name in K.HIGHER_ORDER_OPAQUE:
            return self._higher_order(interp, call, name in K.MAP_BUILTINS, f"builtin {name}")
        if name in K.PURE_BUILTINS:
            if name == "print" and any(k.arg == "file" for k in call.keywords):
                return Effect(TO_STREAM, what="print to a file")
            return Effect(PURE, what=name)
        return Effect(UNKNOWN, what=f"`{name}`")

    def class_of_local(self, interp: Interpreter, name: str) -> tuple[Module, ast.ClassDef] | None:
        """The project class every value of local ``name`` is made from (``x = Agent()``, or
        a parameter annotated ``x: Agent``), when there is one."""
        found: set[tuple[int, int]] = set()
        owner: tuple[Module, ast.ClassDef] | None = None
        for arg in parameters(interp.func):
            if arg.arg == name:
                if arg.annotation is None:
                    return None
                owner = self._class_named(interp, arg.annotation)
                if owner is None:
                    return None
                found.add((id(owner[0]), id(owner[1])))
        for node in walk_own(own_statements(interp.func)):
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor | ast.withitem):
                bound = node.optional_vars if isinstance(node, ast.withitem) else node.target
                if bound is not None and name in target_names(bound):
                    return None
                continue
            elif isinstance(node, ast.NamedExpr) and node.target.id == name:
                return None
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                if any(name in target_names(t) for t in targets):
                    return None  # unpacked into: not known
                continue
            if not isinstance(value, ast.Call):
                return None
            owner = self._class_named(interp, value.func)
            if owner is None:
                return None
            found.add((id(owner[0]), id(owner[1])))
        return owner if len(found) == 1 else None

    def _class_named(
        self, interp: Interpreter, node: ast.expr
    ) -> tuple[Module, ast.ClassDef] | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return None
        if not isinstance(node, ast.Name) or node.id in interp.locals:
            return None
        cls = interp.module.classes.get(node.id)
        if cls is not None:
            return interp.module, cls
        target = imports_of(interp.module).get(node.id)
        if target is None:
            return None
        module_path, _, attr = target.rpartition(".")
        module = self._project_module(module_path, interp.module)
        if module is None or attr not in module.classes:
            return None
        return module, module.classes[attr]

    def enclosing_def(self, interp: Interpreter, name: str) -> FunctionNode | None:
        """A function ``name`` defined in a function enclosing ``interp``'s (a closure)."""
        qualname = interp.module.qualnames.get(id(interp.func), "")
        parts = qualname.split(".<locals>.")
        for depth in range(len(parts) - 1, 0, -1):
            prefix = ".<locals>.".join(parts[:depth])
            found = interp.module.functions.get(f"{prefix}.<locals>.{name}")
            if found is not None:
                return found
        return None

    def resolve_global(self, module: Module, name: str, depth: int) -> Effect | None:
        """A module-level name of ``module`` called: its def, class or import."""
        func = module.functions.get(name)
        if func is not None and not isinstance(func, ast.Module | ast.Lambda):
            return Effect(self.summary(module, func, depth), what=name)
        cls = module.classes.get(name)
        if cls is not None:
            return Effect(self._constructor(module, cls, depth), what=name)
        target = imports_of(module).get(name)
        if target is not None:
            return self._imported(target, depth, module)
        return None

    def _imported(self, target: str, depth: int, importer: Module) -> Effect:
        if K.pure_module(target):
            return known_pure(target)
        if target in K.APPLY_ONCE:
            return Effect(UNKNOWN, what=target)  # handled as apply by the caller
        module_path, _, attr = target.rpartition(".")
        module = self._project_module(module_path, importer)
        if module is not None:
            func = module.functions.get(attr)
            if func is not None and not isinstance(func, ast.Module | ast.Lambda):
                return Effect(self.summary(module, func, depth), what=target)
            cls = module.classes.get(attr)
            if cls is not None:
                return Effect(self._constructor(module, cls, depth), what=target)
        return Effect(UNKNOWN, what=f"`{target}`")

    def _project_module(self, dotted_name: str, importer: Module) -> Module | None:
        """The project file an absolute import names: under the source root, or, for a
        script (the trace names it ``__main__``) and the modules it imports from its folder,
        next to the importing file, since Python puts a script's folder first on
        ``sys.path``. A module imported as part of a package does not search its folder."""
        if self.index is None or not dotted_name:
            return None
        base = dotted_name.replace(".", "/")
        here = PurePosixPath(importer.path).parent
        folders = [f"{here}/"] if importer.next_to and str(here) not in ("", ".") else []
        folders.append("")
        for folder in folders:
            for path in (f"{folder}{base}.py", f"{folder}{base}/__init__.py"):
                try:
                    found = self.index.module(path)
                except Abstain:
                    continue
                if folder:
                    found.next_to = True
                return found
        return None

    def _constructor(self, module: Module, cls: ast.ClassDef, depth: int) -> Summary:
        init = next(
            (
                n
                for n in cls.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "__init__"
            ),
            None,
        )
        if init is None:
            return PURE if not cls.bases else UNKNOWN
        summary = self.summary(module, init, depth)
        # the new object is fresh: what __init__ does to self is not the caller's concern
        own = summary.params[0] if summary.params else "self"
        return replace(
            summary,
            mutates=summary.mutates - {own},
            mutates_surely=summary.mutates_surely - {own},
            params=summary.params[1:],
            returns=None,
            receiver_reads=None,
            receiver_writes=None,
            returns_from=None,
        )

    def _attribute_call(self, interp: Interpreter, call: ast.Call, func: ast.Attribute) -> Effect:
        attr = func.attr
        receiver = func.value
        if (
            attr in K.CLIENT_METHODS
            and isinstance(receiver, ast.Attribute)
            and receiver.attr == "messages"
        ):
            return Effect(PURE, client=True, what="the Anthropic client")
        name = dotted(func)
        head = name.split(".")[0] if name else None
        # a module (or a name imported from one)
        if head is not None and head not in interp.locals and name is not None:
            target = imports_of(interp.module).get(head)
            if target is not None and project_object(interp, head):
                target = None  # ``NOTES.append(x)``: a project module's list, not a module
            if target is not None:
                full = target + name[len(head) :]
                if full in K.APPLY_ONCE:
                    return self._higher_order(interp, call, False, full)
                if full.startswith("logging.") and attr in LOG_CALLS:
                    return Effect(LOGGED, what=f"`{full}`")
                if K.pure_module(full):
                    return known_pure(full)
                if attr in K.FANSCOPE_MAP or attr in K.POOL_MAP:
                    pass  # f.map where f was imported: handled below
                else:
                    return self._imported(full, interp.depth + 1, interp.module)
        # self.method(...), or a method of a local made from a project class
        if isinstance(receiver, ast.Name):
            owner: tuple[Module, ast.ClassDef] | None = None
            outer = interp.outer_self
            if receiver.id == interp.self_name and interp.class_node is not None:
                owner = (interp.module, interp.class_node)
            elif outer is not None and receiver.id == outer[0] and receiver.id not in interp.locals:
                owner = (interp.module, outer[1])
            elif receiver.id in interp.locals:
                owner = self.class_of_local(interp, receiver.id)
            method = find_method(owner[0], owner[1], attr) if owner is not None else None
            if owner is not None and method is not None:
                summary = self.summary(owner[0], method, interp.depth + 1)
                static = any(K.tail(d) == "staticmethod" for d in method.decorator_list)
                return Effect(summary, method=not static, what=f"{receiver.id}.{attr}")
        # f.map(items) of a @parallel function, pool.map(fn, items), pool.submit(fn, x)
        if attr in K.FANSCOPE_MAP and isinstance(receiver, ast.Name | ast.Attribute):
            target_effect = self._callable(interp, receiver)
            if target_effect is not None:
                return Effect(
                    over_all_args(target_effect),
                    client=True,
                    apply=True,
                    many=True,
                    closure=isinstance(receiver, ast.Name) and receiver.id in interp.local_defs,
                    what=f"{dotted(receiver)}.{attr}",
                )
        if attr in K.POOL_MAP and call.args:
            return self._higher_order(interp, call, True, attr)
        if attr in K.POOL_APPLY_ONCE and call.args:
            return self._higher_order(interp, call, False, attr)
        if attr in K.PURE_METHODS:
            return Effect(PURE, what=f".{attr}")
        if attr in K.MUTATING_METHODS:
            # append, update, ...: the receiver gets the arguments; the write-only ones do
            # not read it either (``transcript.append(x)`` passes nothing of it on)
            write_only = attr in K.WRITE_ONLY_METHODS
            return Effect(RECEIVER_ONLY, method=True, write_only=write_only, what=f".{attr}")
        return Effect(UNKNOWN, method=True, what=f"`{_short(name) if name else '.' + attr}`")

    def _callable(self, interp: Interpreter, node: ast.expr) -> Summary | None:
        """The summary of the function ``node`` refers to, when it is known."""
        if isinstance(node, ast.Lambda):
            return self.summary(interp.module, node, interp.depth + 1)
        if isinstance(node, ast.Name):
            local = interp.local_defs.get(node.id)
            if local is not None:
                return self.summary(interp.module, local, interp.depth + 1)
            if node.id in interp.locals:
                return None
            enclosing = self.enclosing_def(interp, node.id)
            if enclosing is not None:
                return self.summary(interp.module, enclosing, interp.depth + 1)
            found = self.resolve_global(interp.module, node.id, interp.depth + 1)
            return found.summary if found is not None and not found.summary.unknown else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == interp.self_name:
                method = interp.method_of(node.attr)
                if method is not None:
                    return self.summary(interp.module, method, interp.depth + 1)
                return None
            head = imports_of(interp.module).get(node.value.id)
            if head is not None and node.value.id not in interp.locals:
                found = self._imported(f"{head}.{node.attr}", interp.depth + 1, interp.module)
                return None if found.summary.unknown else found.summary
        partial = isinstance(node, ast.Call) and dotted(node.func) in (
            "partial",
            "functools.partial",
        )
        if partial and isinstance(node, ast.Call) and node.args:
            return self._callable(interp, node.args[0])
        return None

    def _higher_order(self, interp: Interpreter, call: ast.Call, many: bool, what: str) -> Effect:
        """``fn`` run on the other arguments: ``map(fn, xs)``, ``pool.submit(fn, x)`` ..."""
        args = list(call.args)
        if what in ("run_in_executor",) and args:
            args = args[1:]  # loop.run_in_executor(executor, fn, *args)
        opaque = what.endswith(tuple(K.HIGHER_ORDER_OPAQUE))
        if opaque:
            callbacks = [
                a for a in [*args, *(k.value for k in call.keywords)] if self._is_fn(interp, a)
            ]
            summary = PURE if not callbacks else UNKNOWN  # ``min(prices)``: no code of its own
            for cb in callbacks:
                found = self._callable(interp, cb)
                summary = over_all_args(found) if found is not None else UNKNOWN
            return Effect(summary, opaque_repeat=bool(callbacks), what=what)
        if not args:
            return Effect(UNKNOWN, what=what)
        callable_summary = self._callable(interp, args[0])
        closure = isinstance(args[0], ast.Lambda) or (
            isinstance(args[0], ast.Name) and args[0].id in interp.local_defs
        )
        found = over_all_args(callable_summary) if callable_summary is not None else UNKNOWN
        return Effect(
            found, client=True, apply=True, many=many, callback=args[0], closure=closure, what=what
        )

    def _is_fn(self, interp: Interpreter, node: ast.expr) -> bool:
        if isinstance(node, ast.Lambda):
            return True
        if isinstance(node, ast.Name):
            return node.id in interp.local_defs or (
                node.id not in interp.locals
                and (node.id in interp.module.functions or node.id in imports_of(interp.module))
            )
        return isinstance(node, ast.Attribute)

    # -- summaries ---------------------------------------------------------------------------

    def summary(self, module: Module, func: FunctionNode, depth: int) -> Summary:
        if isinstance(func, ast.Module) or depth > MAX_DEPTH:
            return UNKNOWN
        key = id(func)
        if key in self._summaries:
            known = self._summaries[key]
            return known if known is not None else UNKNOWN  # None: being computed (a cycle)
        if not isinstance(func, ast.Lambda) and not all(
            K.tail(d.func if isinstance(d, ast.Call) else d) in K.TRANSPARENT_DECORATORS
            for d in func.decorator_list
        ):
            self._summaries[key] = UNKNOWN
            return UNKNOWN
        self._summaries[key] = None
        from fanscope.analysis.flow import GiveUp, Interpreter

        try:
            summary = Interpreter(module, func, self, depth=depth).summary()
        except (RecursionError, GiveUp):
            summary = UNKNOWN
        summary = remembering(module, func, summary)
        self._summaries[key] = summary
        return summary


def _short(name: str, limit: int = 32) -> str:
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]
