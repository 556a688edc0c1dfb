"""Which values cannot be changed in place: the kinds the data-flow interpreter infers.

A call cannot change a string, a number or a tuple of them, so passing one to code the
analysis cannot see changes nothing. The interpreter knows a value is ``imm`` (immutable)
from its expression (literals, f-strings, ``str`` methods, ``len`` ...), from annotations
(``question: str``, ``-> list[str]``), and, for a local name, when everything ever assigned to
it is (a fixed point over the function's bindings); ``immlist`` is a collection of such values
(``text.split()``, ``re.findall(...)``): iterating it gives ``imm`` values.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fanscope.analysis import effects as E
from fanscope.analysis import known as K
from fanscope.analysis.known import IMM, IMMLIST, annotation_kind
from fanscope.analysis.scope import assignments, parameters, target_names
from fanscope.analysis.source import Module

if TYPE_CHECKING:
    from fanscope.analysis.machine import Machine


def meet(a: str | None, b: str | None) -> str | None:
    return a if a == b else None


def infer(interp: Machine) -> None:
    """Fill in ``interp.kinds``: the kind of each local name, lowered until it settles."""
    kinds = interp.kinds
    for arg in parameters(interp.func):
        kinds[arg.arg] = annotation_kind(arg.annotation)
    if not isinstance(interp.func, ast.Module):
        for extra in (interp.func.args.vararg, interp.func.args.kwarg):
            if extra is not None:
                kinds[extra.arg] = None
    if interp.self_name is not None:
        kinds[interp.self_name] = None
    params = set(kinds)
    bindings = list(assignments(interp))
    assigned = {n for target, _, _ in bindings for n in target_names(target)} - params
    for name in assigned:
        kinds[name] = IMM  # optimistic start; lowered until nothing changes
    for _ in range(20):
        changed = False
        for target, value, how in bindings:
            for name, kind in _target_kinds(interp, target, value, how):
                if name in params or name not in kinds:
                    continue
                new = meet(kinds[name], kind)
                if new != kinds[name]:
                    kinds[name] = new
                    changed = True
        if not changed:
            break
    else:
        for name in assigned:
            kinds[name] = None


def _target_kinds(
    interp: Machine, target: ast.AST, value: ast.AST | None, how: str
) -> Iterator[tuple[str, str | None]]:
    if how == "imm":
        for name in target_names(target):
            yield name, IMM
        return
    if how == "opaque" or value is None or not isinstance(value, ast.expr):
        for name in target_names(target):
            yield name, None
        return
    if how == "iter":
        yield from _iter_kinds(interp, target, value)
        return
    if how == "aug":
        for name in target_names(target):
            yield name, meet(kind(interp, value), interp.kinds.get(name))
        return
    if (
        isinstance(target, ast.Tuple | ast.List)
        and isinstance(value, ast.Tuple | ast.List)
        and len(target.elts) == len(value.elts)
        and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
    ):
        for t, v in zip(target.elts, value.elts, strict=True):
            yield from _target_kinds(interp, t, v, how)
        return
    if isinstance(target, ast.Name):
        yield target.id, kind(interp, value)
        return
    if isinstance(target, ast.Tuple | ast.List):
        element = IMM if kind(interp, value) in (IMM, IMMLIST) else None
        for name in target_names(target):
            yield name, element
        return
    # attribute and subscript targets bind no name


def _iter_kinds(
    interp: Machine, target: ast.AST, iterable: ast.expr
) -> Iterator[tuple[str, str | None]]:
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name):
        fname = iterable.func.id
        if fname == "range" and fname not in interp.locals:
            for name in target_names(target):
                yield name, IMM
            return
        if fname in ("enumerate", "zip") and isinstance(target, ast.Tuple):
            sources = list(iterable.args)
            if fname == "enumerate":
                sources = [ast.Constant(0), *sources[:1]]
            if len(sources) == len(target.elts):
                for t, src in zip(target.elts, sources, strict=True):
                    found = IMM if isinstance(src, ast.Constant) else _element(interp, src)
                    for name in target_names(t):
                        yield name, found
                return
    found = _element(interp, iterable)
    for name in target_names(target):
        yield name, found


def _element(interp: Machine, iterable: ast.expr) -> str | None:
    found = kind(interp, iterable)
    return IMM if found in (IMM, IMMLIST) else None


def kind(interp: Machine, node: ast.expr) -> str | None:
    """``imm`` when ``node``'s value cannot be changed in place, ``immlist`` for a
    collection of such values, else ``None``."""
    if isinstance(node, ast.Constant | ast.JoinedStr | ast.FormattedValue | ast.Compare):
        return IMM
    if isinstance(node, ast.Name):
        if interp.is_local(node.id):
            return interp.kinds.get(node.id)
        return _global_kind(interp.module, node.id)
    if isinstance(node, ast.BinOp):
        left, right = kind(interp, node.left), kind(interp, node.right)
        if isinstance(node.op, ast.Add) and IMM in (left, right):
            return IMM
        if isinstance(node.op, ast.Mod) and left == IMM:
            return IMM
        return IMM if left == right == IMM else None
    if isinstance(node, ast.UnaryOp):
        return IMM if isinstance(node.op, ast.Not) else kind(interp, node.operand)
    if isinstance(node, ast.BoolOp):
        return IMM if all(kind(interp, v) == IMM for v in node.values) else None
    if isinstance(node, ast.IfExp):
        return meet(kind(interp, node.body), kind(interp, node.orelse))
    if isinstance(node, ast.Subscript):
        return IMM if kind(interp, node.value) in (IMM, IMMLIST) else None
    if isinstance(node, ast.Tuple):
        return IMM if all(kind(interp, e) == IMM for e in node.elts) else None
    if isinstance(node, ast.List | ast.Set):
        return IMMLIST if all(kind(interp, e) == IMM for e in node.elts) else None
    if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
        return IMMLIST if kind(interp, node.elt) == IMM else None
    if isinstance(node, ast.Await):
        return kind(interp, node.value)
    if isinstance(node, ast.Call):
        return _call_kind(interp, node)
    return None


def _call_kind(interp: Machine, node: ast.Call) -> str | None:
    func = node.func
    if (
        isinstance(func, ast.Name)
        and not interp.is_local(func.id)
        and func.id in K.IMM_BUILTINS
        and func.id not in interp.module.functions
    ):
        return IMM
    if isinstance(func, ast.Attribute):
        receiver = kind(interp, func.value)
        if func.attr in K.IMM_METHODS and (
            receiver == IMM or func.attr in ("join", "format", "format_map")
        ):
            return IMM
        if func.attr in K.IMMLIST_METHODS and receiver == IMM:
            return IMMLIST
        name = E.dotted(func)
        head = name.split(".")[0] if name else ""
        if head and not interp.is_local(head):
            full = E.imports_of(interp.module).get(head, "") + (name or "")[len(head) :]
            if full in ("json.dumps", "re.sub", "re.escape", "html.escape", "textwrap.dedent"):
                return IMM
            if full in ("re.findall", "re.split", "shlex.split"):
                return IMMLIST
    returns = interp.effect(node).summary.returns
    return returns


def _global_kind(module: Module, name: str) -> str | None:
    """Kinds of module-level names: constants assigned once, functions, classes, imports."""
    table = module.kinds
    if table is None:
        table = {}
        counts: dict[str, int] = {}
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                table[node.name] = IMM
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    table[(alias.asname or alias.name).split(".")[0]] = IMM
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                for target in targets:
                    if isinstance(target, ast.Name):
                        counts[target.id] = counts.get(target.id, 0) + 1
                        simple = value is not None and isinstance(
                            value, ast.Constant | ast.JoinedStr
                        )
                        table[target.id] = IMM if simple else None
        for name, count in counts.items():
            if count > 1:
                table[name] = None
        # a module-level name rebound inside any function is not a constant
        for inner in ast.walk(module.tree):
            if isinstance(inner, ast.Global):
                for name in inner.names:
                    table[name] = None
        module.kinds = table
    return table.get(name)
