"""What the data-flow interpreter learns about a function before running it.

* its local names (parameters and everything it binds, less ``global``/``nonlocal`` names),
  and the functions and lambdas it defines;
* the class it is defined in, and its ``self`` (or the ``self`` of the method a nested
  function or lambda sits in);
* which names hold immutable values (``imm``: strings, numbers, f-strings, annotated ``str``
  parameters ...) or collections of them (``immlist``): a call cannot change those, so passing
  one to an unknown function changes nothing;
* which names may refer to the same objects (aliases, merged into classes, flow-insensitively):
  changing an object through one name is seen through every name of its class.

Locations are strings: ``v:name`` a local variable, ``f:name.attr`` an attribute of a local's
object (``self.history``), ``g:name`` a module global or closure variable, ``g:*`` state
shared by unknown code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from fanscope.analysis import known as K
from fanscope.analysis.source import FunctionNode, Module

if TYPE_CHECKING:
    from fanscope.analysis.machine import Machine


def own_statements(func: FunctionNode) -> list[ast.stmt]:
    if isinstance(func, ast.Lambda):
        return [ast.Return(func.body)]
    return list(func.body)


def walk_own(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node under ``nodes`` except the insides of nested functions and classes (their
    decorators and defaults are evaluated here, their bodies elsewhere)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(getattr(node, "decorator_list", ()))
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.ClassDef):
            stack.extend(node.decorator_list)
            stack.extend(node.bases)
            continue
        stack.extend(ast.iter_child_nodes(node))


def target_names(target: ast.AST) -> Iterator[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Starred) and isinstance(node.value, ast.Name):
            yield node.value.id


def local_names(func: FunctionNode) -> tuple[set[str], set[str], set[str]]:
    """(locals, names declared global, names declared nonlocal) of ``func``."""
    declared_global: set[str] = set()
    declared_nonlocal: set[str] = set()
    names: set[str] = {a.arg for a in parameters(func)}
    if not isinstance(func, ast.Module):
        for extra in (func.args.vararg, func.args.kwarg):
            if extra is not None:
                names.add(extra.arg)
    body = own_statements(func)
    for node in walk_own(body):
        if isinstance(node, ast.Global):
            declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            declared_nonlocal.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node is not func:
                names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (
            isinstance(node, ast.MatchAs | ast.MatchStar) and node.name
        ):
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    if isinstance(func, ast.Module):
        return set(), set(), set()  # module code: every name is a global
    names -= declared_global | declared_nonlocal
    return names, declared_global, declared_nonlocal


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        parent = self.parent.get(key)
        if parent is None:
            return key
        root = key
        while True:
            up = self.parent.get(root)
            if up is None:
                break
            root = up
        while key != root:  # path compression
            up = self.parent[key]
            self.parent[key] = root
            key = up
        return root

    def union(self, keys: Iterable[str]) -> bool:
        roots = {self.find(k) for k in keys}
        if len(roots) < 2:
            return False
        first, *rest = sorted(roots)
        for other in rest:
            self.parent[other] = first
        return True


def assignments(interp: Machine) -> Iterator[tuple[ast.AST, ast.expr | None, str]]:
    """(target, value, how) for every binding in the function: ``how`` is ``value``, ``iter``
    (an element of the value), ``aug`` or ``opaque`` (nothing known)."""
    for node in walk_own(own_statements(interp.func)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                yield target, node.value, "value"
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            yield node.target, node.value, "value"
        elif isinstance(node, ast.AugAssign):
            yield node.target, node.value, "aug"
        elif isinstance(node, ast.NamedExpr):
            yield node.target, node.value, "value"
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            yield node.target, node.iter, "iter"
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            yield node.optional_vars, node.context_expr, "value"
        elif isinstance(node, ast.ExceptHandler) and node.name:
            yield ast.Name(node.name, ast.Store()), None, "opaque"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                yield ast.Name((alias.asname or alias.name).split(".")[0], ast.Store()), None, "imm"
        elif (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node is not interp.func
        ):
            yield ast.Name(node.name, ast.Store()), None, "imm"


def aliases(interp: Machine) -> None:
    """Merge the locations that may share objects, then fields of merged objects."""
    uf = interp.uf
    for target, value, how in assignments(interp):
        if value is None or not isinstance(value, ast.expr) or how in ("imm", "opaque"):
            continue
        keys = set(interp.location_roots(target)) | set(interp.roots(value))
        uf.union(keys)
    for node in walk_own(own_statements(interp.func)):
        if isinstance(node, ast.Call):
            effect = interp.effect(node)
            summary = effect.summary
            if summary.mutates or summary.unknown:
                # what the call may store where: every operand into what it changes
                keys = set()
                receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
                if receiver is not None and not effect.client:
                    if (
                        effect.method
                        and summary.receiver_writes is not None
                        and isinstance(receiver, ast.Name)
                        and interp.is_local(receiver.id)
                    ):
                        fields = {f"f:{receiver.id}.{a}" for a in summary.receiver_writes}
                        interp.field_keys.update(fields)
                        keys |= fields
                    else:
                        keys |= set(interp.roots(receiver))
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    keys |= set(interp.roots(arg))
                uf.union(keys)
    # fields of objects in one class are one location per attribute name
    while True:
        groups: dict[tuple[str, str], list[str]] = {}
        for key in list(interp.field_keys):
            base, _, attr = key[2:].partition(".")
            groups.setdefault((uf.find("v:" + base), attr), []).append(key)
        merged = [uf.union(keys) for keys in groups.values() if len(keys) > 1]
        if not any(merged):
            break
    by_object: dict[str, set[str]] = {}
    for key in interp.field_keys:
        base = key[2:].partition(".")[0]
        by_object.setdefault(uf.find("v:" + base), set()).add(key)
    interp.fields_of = by_object


def parameters(func: FunctionNode) -> Iterator[ast.arg]:
    if isinstance(func, ast.Module):
        return iter(())
    a = func.args
    return iter([*a.posonlyargs, *a.args, *a.kwonlyargs])


def local_defs(
    func: FunctionNode, names: set[str], defs: dict[str, FunctionNode], field_keys: set[str]
) -> None:
    """Into ``defs``: the functions and lambdas ``func`` defines under its local ``names``
    (one bound only once, and to nothing else); into ``field_keys``: the attributes of its
    locals it names (``f:name.attr``)."""
    for node in walk_own(own_statements(func)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not func:
            if node.name in names:
                defs[node.name] = node
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    defs[target.id] = node.value
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
        ):
            field_keys.add(f"f:{node.value.id}.{node.attr}")
    # a name bound to a local function and to something else is not known to be it
    for node in walk_own(own_statements(func)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound = defs.get(node.id)
            if bound is not None and not isinstance(bound, ast.Lambda):
                defs.pop(node.id, None)
    lambdas: dict[str, int] = {}
    for node in walk_own(own_statements(func)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            lambdas[node.id] = lambdas.get(node.id, 0) + 1
    for name, count in lambdas.items():
        if count > 1 and isinstance(defs.get(name), ast.Lambda):
            defs.pop(name, None)


def enclosing_class(module: Module, func: FunctionNode) -> ast.ClassDef | None:
    """The class ``func`` is defined in directly (``None`` outside a class body)."""
    parent = module.parents.get(id(func))
    return parent if isinstance(parent, ast.ClassDef) else None


def outer_self(module: Module, func: FunctionNode) -> tuple[str, ast.ClassDef] | None:
    """``self`` of the method a nested function or lambda is defined in (a free variable)."""
    node: ast.AST | None = module.parents.get(id(func))
    while node is not None and not isinstance(node, ast.Module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            cls = enclosing_class(module, node)
            name = self_name(node, cls)
            return (name, cls) if name is not None and cls is not None else None
        node = module.parents.get(id(node))
    return None


def self_name(func: FunctionNode, cls: ast.ClassDef | None) -> str | None:
    """The name of a method's first parameter (``self``); ``None`` for a static method or
    a function outside a class."""
    if cls is None or not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    if any(K.tail(d) == "staticmethod" for d in func.decorator_list):
        return None
    params = [*func.args.posonlyargs, *func.args.args]
    return params[0].arg if params else None
