"""Module globals as state: what a function changes and reads through names it does not bind.

A class, a function or an imported module is immutable as a *name*, but its attributes are
state: ``Registry.notes.append(x)``, ``llm.last = x``, ``os.environ["LANG"] = x`` change what
a later ``Registry.notes``, ``llm.last`` or ``os.environ`` reads. A name imported from a
project module (``from shared import NOTES``) is that module's object, the same one
``shared.NOTES`` names: the witness gives every name a function imports from one project
module, and the module itself, one location.

Code that ran when the module was imported can link globals in ways no function shows: a
handler given to a logger at the top of the file (``log.addHandler(HANDLER)``) receives what
``log.warning(...)`` is given later, and ``HANDLER.lines`` then holds it. So a mutable global
object is read together with the state that code the witness cannot see may have filled
(``g:*``); sources that reach it only that way are possible ones, on which the witness
abstains rather than claims. Globals made by a known standard-library or client constructor
(``anthropic.Anthropic()``, ``re.compile(...)``) or bound to constants are not such objects.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeGuard

from fanscope.analysis import known as K
from fanscope.analysis.source import Abstain
from fanscope.analysis.summaries import dotted, imports_of

if TYPE_CHECKING:
    from fanscope.analysis.machine import Machine
    from fanscope.analysis.source import FunctionNode, Module

#: The logging calls that hand their arguments to the handlers a logger has.
LOG_CALLS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)


def holds_state(m: Machine, name: str) -> bool:
    """Whether global ``name`` is a class or function of this module, or a name imported
    from a project module that is not one there: its attributes (or, for an imported object,
    its items) are state a write changes."""
    if m.is_local(name):
        return False
    if name in m.module.classes or name in m.module.functions:
        return True
    return project_object(m, name)


def attribute_state(m: Machine, name: str) -> bool:
    """Whether an attribute of global ``name`` is state: :func:`holds_state`, or an imported
    module's attribute (``os.environ``, ``config.MODE``), except the modules known to keep
    no data (``json``, ``re``)."""
    if m.is_local(name):
        return False
    target = imports_of(m.module).get(name)
    if target is not None and not K.pure_module(target + "."):
        return True
    return holds_state(m, name)


def shares_unseen(m: Machine, name: str) -> bool:
    """Whether global ``name`` (of this module, or ``path::name`` of another) is a mutable
    object that code run at import time may have handed to code the witness cannot see (a
    handler added to a logger): reading it reads what such code may hold."""
    if "::" in name:
        path, _, attr = name.partition("::")
        owner = _module_at(m, path)
        return owner is None or _unseen_in(owner, attr)
    if m.is_local(name):
        return False
    if name in imports_of(m.module):
        found = _imported_object(m, name)
        if found is None:
            return False  # a module, a library's name, a project function or class
        owner, attr = found
        return owner is None or name in _handed_away(m.module) or _unseen_in(owner, attr)
    return _unseen_in(m.module, name)


def _unseen_in(module: Module, name: str) -> bool:
    if name in module.classes or name in module.functions:
        return False
    if name in imports_of(module):
        return True  # imported there in turn: not followed further
    values = _module_values(module).get(name)
    if values is None:  # a builtin, or a name only ``globals()`` or ``setattr`` may bind
        return not hasattr(builtins, name)
    if name in _handed_away(module):
        return True
    return any(not _known_value(module, v) for v in values)


def _module_at(m: Machine, path: str) -> Module | None:
    if m.resolver.index is None:
        return None
    try:
        return m.resolver.index.module(path)
    except Abstain:
        return None


def _imported_object(m: Machine, name: str) -> tuple[Module | None, str] | None:
    """The project module a name is imported from and its name there, when it is an object
    (not a function or class) of a project module; the module is None when it cannot be
    read."""
    for (path, attr), names in m.resolver.aliases(m.module).items():
        if attr is None or name not in names:
            continue
        owner = _module_at(m, path)
        if owner is not None and (attr in owner.functions or attr in owner.classes):
            return None
        return owner, attr
    return None


def captured(m: Machine, func: FunctionNode, roots: Callable[[ast.AST], list[str]]) -> list[str]:
    """The locations a closure defined in ``m``'s function holds: those of the function's
    variables it reads (``def done(f): self.verdicts[name] = ...`` holds ``self``)."""
    out: list[str] = []
    if id(func) in _CAPTURING:
        return out  # closures that read each other: each one's variables once
    _CAPTURING.add(id(func))
    try:
        for node in ast.walk(func):
            if _loaded(node) and m.is_local(node.id):
                out.extend(roots(ast.Name(node.id, ast.Load())))
    finally:
        _CAPTURING.discard(id(func))
    return out


_CAPTURING: set[int] = set()


def is_namespace(m: Machine, node: ast.expr) -> bool:
    """Whether ``node`` is a module's namespace: ``globals()``, ``sys.modules[...]``,
    ``vars(module)``; a write into it binds a global."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id == "globals" and not m.is_local("globals")
    if isinstance(node, ast.Subscript):
        node = node.value
    name = dotted(node)
    if name is None or m.is_local(name.split(".")[0]):
        return False
    head, _, rest = name.partition(".")
    return f"{imports_of(m.module).get(head, head)}.{rest}" == "sys.modules"


def is_method_name(module: Module, attr: str) -> bool:
    """Whether a class of the module defines a method ``attr`` (not a property): reading
    ``obj.attr`` without calling it makes a bound method, which holds ``obj``."""
    if module.methods is None:
        module.methods = frozenset(
            qualname.rpartition(".")[2]
            for qualname, func in module.functions.items()
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
            and "<locals>" not in qualname
            and qualname.rpartition(".")[0] in module.classes
        )
    if attr not in module.methods:
        return False
    return not (properties(module, attr, setter=False) or properties(module, attr, setter=True))


def properties(
    module: Module, attr: str, *, setter: bool
) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The property getters (``@property``) or setters (``@x.setter``) named ``attr`` of the
    module's classes: reading or assigning ``obj.attr`` runs them."""
    table = module.properties
    if table is None:
        table = {}
        for cls in module.classes.values():
            for func in cls.body:
                if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for deco in func.decorator_list:
                    if isinstance(deco, ast.Name) and deco.id in ("property", "cached_property"):
                        table.setdefault((func.name, False), []).append(func)
                    elif isinstance(deco, ast.Attribute) and deco.attr == "setter":
                        table.setdefault((func.name, True), []).append(func)
        module.properties = table
    return table.get((attr, setter), [])


def module_groups(m: Machine) -> list[set[str]]:
    """The global locations one project module's objects share: the module imported as a
    name and every object (not a function or class) imported from it (``shared`` and
    ``NOTES`` for ``shared.NOTES``), as the callees' writes to that module's globals have it
    (:meth:`~fanscope.analysis.machine.Machine.outer_names`)."""
    groups: dict[str, set[str]] = {}
    for (path, attr), names in m.resolver.aliases(m.module).items():
        for name in names:
            if m.is_local(name) or (attr is not None and not project_object(m, name)):
                continue
            groups.setdefault(path, set()).add(f"g:{name}")
            if attr is not None:
                groups[path].add(f"g:{path}::{attr}")
    return [g for g in groups.values() if len(g) > 1]


def project_object(m: Machine, name: str) -> bool:
    """A name imported from a project module that is not a function or class there."""
    return _imported_object(m, name) is not None


def _module_values(module: Module) -> dict[str, list[ast.expr | None]]:
    """Each name the module binds at its top level (or through ``global``), with the values
    it is bound to there (``None``: bound some other way)."""
    if module.bound is not None:
        return module.bound
    out: dict[str, list[ast.expr | None]] = {}
    for stmt in module.tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        whole = isinstance(target, ast.Name)
                        out.setdefault(node.id, []).append(stmt.value if whole else None)
        elif isinstance(stmt, ast.AugAssign | ast.For | ast.With | ast.If | ast.Try):
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    out.setdefault(node.id, []).append(None)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Global):
            for name in node.names:
                out.setdefault(name, []).append(None)
    module.bound = out
    return out


def _handed_away(module: Module) -> frozenset[str]:
    """The names the module's code, anywhere in the file, gives to a call it may not know
    (``log.addHandler(HANDLER)``, ``atexit.register(flush, NOTES)``): a call of a method
    the witness knows by name (``.append``, ``.map``, a pool's ``submit``) is not one."""
    if module.handed is not None:
        return module.handed
    known_methods = K.PURE_METHODS | K.MUTATING_METHODS | K.FANSCOPE_MAP | K.POOL_MAP
    names: set[str] = set()
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in known_methods:
            continue
        if isinstance(func, ast.Name) and func.id in K.PURE_BUILTINS:
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            names.update(n.id for n in ast.walk(arg) if _loaded(n))
    module.handed = frozenset(names)
    return module.handed


def _known_value(module: Module, value: ast.expr | None) -> bool:
    """A value no code the witness cannot see holds: a constant, a literal container, or
    what a standard-library or client constructor known to keep no data makes
    (``anthropic.Anthropic()``)."""
    if value is None:
        return False
    if isinstance(value, ast.Constant | ast.JoinedStr):
        return True
    if isinstance(value, ast.Tuple | ast.List | ast.Set):
        return all(_known_value(module, e) for e in value.elts)
    if isinstance(value, ast.Dict):
        return all(_known_value(module, e) for e in [*value.keys, *value.values] if e is not None)
    if isinstance(value, ast.Call):
        name = dotted(value.func)
        if name is None:
            return False
        head, _, rest = name.partition(".")
        target = imports_of(module).get(head)
        if target is None:
            return False
        full = f"{target}.{rest}" if rest else target
        return K.pure_module(full) and full.rpartition(".")[2] not in ("getLogger",)
    return False


def _loaded(node: ast.AST) -> TypeGuard[ast.Name]:
    return isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
