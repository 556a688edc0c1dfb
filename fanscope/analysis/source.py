"""Finding a call site's source: the file, the function, and the call expression.

A span's ``code.*`` attributes (``docs/conventions.md``) name a file relative to the project,
a function (``module.qualname``), and the position of the call in it. :class:`SourceIndex`
reads files under a source root (the working directory, or ``--source-root``), parses each
once with :mod:`ast`, and returns the call's node and its enclosing function, or a reason to
abstain: the file is missing, unreadable or does not parse, the function is not where the
trace says, or the position is no longer a call (the source changed since the trace).
"""

from __future__ import annotations

import ast
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.Module

#: Largest source file read (bytes); a bigger one is not read (abstain).
MAX_FILE_BYTES = 4_000_000


@dataclass
class Module:
    """One parsed source file."""

    path: str  # as in the trace
    tree: ast.Module
    name: str  # dotted module name guessed from the path
    #: every function (and the module itself) by its qualified name in the file
    functions: dict[str, FunctionNode] = field(default_factory=dict)
    #: the qualified name of each function node
    qualnames: dict[int, str] = field(default_factory=dict)
    #: class definitions by qualified name
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    #: the parent of every node (for finding enclosing statements)
    parents: dict[int, ast.AST] = field(default_factory=dict)
    #: caches of the analysis: imported names, kinds of module-level names
    imports: dict[str, str] | None = None
    kinds: dict[str, str | None] | None = None
    #: the values each module-level name is bound to (``module_state``)
    bound: dict[str, list[ast.expr | None]] | None = None
    #: the names its code gives to calls it may not know (``module_state``)
    handed: frozenset[str] | None = None
    #: the names of the methods its classes define (``module_state``)
    methods: frozenset[str] | None = None
    #: property getters and setters by (name, is a setter) (``module_state``)
    properties: dict[tuple[str, bool], list[ast.FunctionDef | ast.AsyncFunctionDef]] | None = None
    #: run as a script (the trace names it ``__main__``), or imported from a script's folder:
    #: its absolute imports may name files next to it (that folder is first on ``sys.path``)
    next_to: bool = False


@dataclass(frozen=True)
class Site:
    """A call site found in the source."""

    module: Module
    function: FunctionNode
    qualname: str
    node: ast.expr  # the Call (or Await) at the position


class Abstain(Exception):
    """The source witness cannot look: the message says why."""


class SourceIndex:
    """Source files under ``root``, parsed on demand and cached."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else Path.cwd()
        self._modules: dict[str, Module | str] = {}
        #: files asked for that are not under the root
        self.missing: set[str] = set()

    def module(self, path: str) -> Module:
        """The parsed file at ``path`` (relative to the root, as the trace names it)."""
        cached = self._modules.get(path)
        if isinstance(cached, Module):
            return cached
        if isinstance(cached, str):
            raise Abstain(cached)
        try:
            loaded: Module | str = self._load(path)
        except Abstain as why:
            loaded = str(why)
        self._modules[path] = loaded
        if isinstance(loaded, str):
            raise Abstain(loaded)
        return loaded

    def _load(self, path: str) -> Module:
        if not path or path.startswith("<"):
            raise Abstain(f"{path or 'the call'} has no source file")
        candidate = Path(path)
        full = candidate if candidate.is_absolute() else self.root / candidate
        try:
            resolved = full.resolve()
            if not candidate.is_absolute() and not resolved.is_relative_to(self.root.resolve()):
                raise Abstain(f"{path} is outside the source root")
            info = resolved.stat()
        except FileNotFoundError:
            self.missing.add(path)
            raise Abstain(f"{path} is not under {tail(self.root)}") from None
        except OSError as error:
            raise Abstain(f"{path} cannot be read ({error.strerror or error})") from None
        except ValueError:  # a NUL or a lone surrogate in the trace's path: no file has it
            raise Abstain(f"{path} is not a file name") from None
        # The path comes from the trace: a device (``/dev/zero``) never ends and a FIFO never
        # answers. Only a regular file is read, and no more of it than the limit.
        if not stat.S_ISREG(info.st_mode):
            raise Abstain(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise Abstain(f"{path} is larger than {MAX_FILE_BYTES:,} bytes")
        try:
            with open(resolved, "rb") as handle:
                text = handle.read(MAX_FILE_BYTES + 1)
            if len(text) > MAX_FILE_BYTES:
                raise Abstain(f"{path} is larger than {MAX_FILE_BYTES:,} bytes")
            tree = ast.parse(text, filename=str(resolved))
        except (OSError, ValueError, SyntaxError, RecursionError, MemoryError) as error:
            raise Abstain(f"{path} does not parse ({type(error).__name__})") from None
        module = Module(path, tree, _module_name(path))
        _index(module)
        return module

    def site(self, path: str, function: str, line: int, column: int | None) -> Site:
        """The call at ``line``/``column`` (1-based) of ``function`` in ``path``."""
        module = self.module(path)
        where = f"{path}:{line}"
        qualname = _qualname_in(module, function)
        func = module.functions.get(qualname) if qualname is not None else None
        if func is None or qualname is None:
            raise Abstain(f"{where}: its function is not in the file (the source changed?)")
        if not _spans(func, line):
            raise Abstain(f"{where} is not inside its function (the source changed)")
        node = _call_at(module, func, line, column)
        if node is None:
            raise Abstain(f"{where} is no longer a call (the source changed)")
        return Site(module, func, qualname, node)

    def exists(self, path: str) -> bool:
        """Whether ``path`` (relative to the root) is a file, without reading it."""
        return (self.root / path).is_file()

    def function(self, path: str, qualname: str) -> FunctionNode | None:
        try:
            return self.module(path).functions.get(qualname)
        except Abstain:
            return None


def tail(root: Path, keep: int = 40) -> str:
    """``root`` as evidence names it: whole, or its end when it is long."""
    text = str(root)
    return text if len(text) <= keep else "…" + text[-(keep - 1) :]


def _module_name(path: str) -> str:
    parts = [p for p in Path(path).with_suffix("").parts if p not in ("", "/", ".")]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _qualname_in(module: Module, function: str) -> str | None:
    """The qualified name inside the file that ``function`` (``module.qualname``) names.

    The module part in the trace is the module's ``__name__`` (``__main__`` for a script, or a
    package path that need not match the file's path): leading dotted parts are dropped until
    the rest names a function of the file; the longest match wins.
    """
    parts = function.split(".")
    for i in range(len(parts)):
        candidate = ".".join(parts[i:])
        if candidate in module.functions:
            return candidate
    return None


def _index(module: Module) -> None:
    module.functions["<module>"] = module.tree
    module.qualnames[id(module.tree)] = "<module>"
    stack: list[tuple[ast.AST, str]] = [(module.tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            module.parents[id(child)] = node
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                module.functions.setdefault(name, child)
                module.qualnames[id(child)] = name
                stack.append((child, f"{name}.<locals>."))
            elif isinstance(child, ast.Lambda):
                name = f"{prefix}<lambda>"
                module.qualnames[id(child)] = name
                stack.append((child, f"{name}.<locals>."))
            elif isinstance(child, ast.ClassDef):
                name = f"{prefix}{child.name}"
                module.classes.setdefault(name, child)
                stack.append((child, f"{name}."))
            else:
                stack.append((child, prefix))


def _spans(func: FunctionNode, line: int) -> bool:
    if isinstance(func, ast.Module):
        return True
    decorators: list[ast.expr] = getattr(func, "decorator_list", [])
    start = min([func.lineno, *(d.lineno for d in decorators)])
    end = func.end_lineno or func.lineno
    return start <= line <= end


def _call_at(module: Module, func: FunctionNode, line: int, column: int | None) -> ast.expr | None:
    """The outermost call (or await) of ``func`` whose position is ``line``/``column``.

    Python reports a call's position as the start of the call expression, or, for a method
    call split over lines, the start of the method's name; an ``await`` as the start of the
    ``await``. Calls inside nested functions and classes are not ``func``'s. Without a column,
    the line must hold exactly one outermost call.
    """
    found: list[ast.expr] = []
    for node in _own_nodes(func):
        if not isinstance(node, ast.Call | ast.Await):
            continue
        if column is None:
            hit = node.lineno == line
        else:
            col = column - 1
            hit = (node.lineno, node.col_offset) == (line, col)
            if not hit and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attr = node.func
                if attr.end_lineno is not None and attr.end_col_offset is not None:
                    hit = (attr.end_lineno, attr.end_col_offset - len(attr.attr)) == (line, col)
        if hit:
            found.append(node)
    if not found:
        return None
    outer = [n for n in found if not any(o is not n and _contains(o, n) for o in found)]
    if len(outer) != 1:
        return None  # several calls where one was expected: do not guess
    node = outer[0]
    if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
        return node.value
    return node


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(n is inner for n in ast.walk(outer))


def _own_nodes(func: FunctionNode) -> list[ast.AST]:
    """The nodes of ``func``'s body, not those of functions or classes nested in it
    (comprehensions and lambdas' defaults are ``func``'s own)."""
    roots: list[ast.AST]
    if isinstance(func, ast.Lambda):
        roots = [func.body]
    elif isinstance(func, ast.Module):
        roots = list(func.body)
    else:
        roots = list(func.body)
    out: list[ast.AST] = []
    stack = roots
    while stack:
        node = stack.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                stack.extend(child.decorator_list)
                if not isinstance(child, ast.ClassDef):
                    stack.extend(_defaults(child.args))
                continue
            if isinstance(child, ast.Lambda):
                stack.extend(_defaults(child.args))
                continue
            stack.append(child)
    return out


def _defaults(args: ast.arguments) -> list[ast.AST]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
