"""What a function or a class keeps between calls, read from its source: the results a
memoising decorator or a shared default keeps (:func:`remembering`), the attributes of a
class's objects that may hold objects made outside them (:func:`outside_fields`), and a
method found through the class and its bases (:func:`find_method`)."""

from __future__ import annotations

import ast
from dataclasses import replace

from fanscope.analysis import known as K
from fanscope.analysis.scope import target_names
from fanscope.analysis.source import FunctionNode, Module
from fanscope.analysis.summaries import ANY, UNKNOWN, Summary, dotted


def remembering(module: Module, func: FunctionNode, summary: Summary) -> Summary:
    """The summary of ``func`` with what a memoising decorator keeps between calls.

    ``@functools.cache`` / ``@lru_cache`` keep every result on the function object: a later
    call with the same arguments returns what an earlier call made, with no call of its own.
    A default value that is an object (``history: list = []``), which the function changes,
    is one object shared by every call that does not pass that argument. For a module
    function either is state on a module global (the function's own name), which each call
    reads and writes; for any other (a method, a nested function) it is not followed: unknown.
    """
    if isinstance(func, ast.Lambda | ast.Module) or summary.unknown:
        return summary
    shared = _shared_defaults(func)
    if not (summary.mutates & (shared | {ANY}) and shared) and not any(
        K.tail(d.func if isinstance(d, ast.Call) else d) in K.MEMOISING_DECORATORS
        for d in func.decorator_list
    ):
        return summary
    if not any(node is func for node in module.tree.body):
        return UNKNOWN
    own = frozenset({func.name})
    return replace(
        summary,
        reads=summary.reads | own,
        writes=summary.writes | own,
        writes_surely=summary.writes_surely | own,
    )


def outside_fields(module: Module, cls: ast.ClassDef) -> frozenset[str] | None:
    """Attributes of ``cls``'s objects that may hold objects made outside them: assigned on
    ``self`` from anything but a fresh value (a literal, a comprehension, a new container),
    or declared in the class body (dataclass fields, class attributes every object shares).
    ``None``: all of them may (a base class it cannot read)."""
    out: set[str] = set()
    seen: set[int] = set()
    todo = [cls]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for base in node.bases:
            found = module.classes.get(base.id) if isinstance(base, ast.Name) else None
            if found is None:
                return None
            todo.append(found)
        for item in node.body:
            if isinstance(item, ast.AnnAssign | ast.Assign):
                targets = [item.target] if isinstance(item, ast.AnnAssign) else item.targets
                out.update(n for t in targets for n in target_names(t))
            if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) or not item.args.args:
                continue
            own = item.args.args[0].arg
            for stmt in ast.walk(item):
                if isinstance(stmt, ast.Assign):
                    pairs = [(t, stmt.value) for t in stmt.targets]
                elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and stmt.value is not None:
                    pairs = [(stmt.target, stmt.value)]
                else:
                    continue
                for target, value in pairs:
                    for sub in ast.walk(target):
                        if (
                            isinstance(sub, ast.Attribute)
                            and isinstance(sub.value, ast.Name)
                            and sub.value.id == own
                            and not (sub is target and _fresh(value))
                        ):
                            out.add(sub.attr)
    return frozenset(out)


def _fresh(node: ast.expr) -> bool:
    """A value no one else holds: a literal, a comprehension, a new empty container."""
    if isinstance(node, ast.List | ast.Dict | ast.Set | ast.Tuple):
        return all(_fresh(e) for e in getattr(node, "elts", [])) and all(
            v is None or _fresh(v) for v in getattr(node, "values", [])
        )
    if isinstance(node, ast.Constant | ast.JoinedStr | ast.ListComp | ast.DictComp | ast.SetComp):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in K.FRESH_CONTAINERS
        and not node.args
        and not node.keywords
    )


def _shared_defaults(func: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
    """Parameters whose default is an object every call without them shares (not a
    constant, a string or a tuple of them)."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(
        zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
    )
    pairs += [
        (a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
    ]
    return frozenset(a.arg for a, d in pairs if not _immutable_literal(d))


def _immutable_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant | ast.JoinedStr):
        return True
    if isinstance(node, ast.Tuple):
        return all(_immutable_literal(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return _immutable_literal(node.operand)
    return False


def find_method(
    module: Module, cls: ast.ClassDef, name: str
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """A method ``name`` of ``cls`` or of a base class in the same file."""
    seen: set[int] = set()
    pending = [cls]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        for node in current.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return node
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    return None  # a class attribute, not a method we can read
        for base in current.bases:
            found = module.classes.get(dotted(base) or "")
            if found is not None:
                pending.append(found)
    return None
