"""What a call may do to data its caller can see, as data: a callee's :class:`Summary`
(the parameters' objects it may change, the state it may read and write), what one call does
(:class:`Effect`), and the summaries known without reading source (pure, unknown, the
receiver only). How a call's effects are found: :mod:`fanscope.analysis.effects`."""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from fanscope.analysis import known as K
from fanscope.analysis.source import Module

#: Calls followed into callees' source, one inside another.
MAX_DEPTH = 4
ANY = "*"


@dataclass(frozen=True)
class Summary:
    """What calling a function may do, in terms its caller can apply.

    Attributes:
        mutates: names of parameters whose objects it may change (``*``: any argument).
        reads: outer names (module globals, closure variables) it may read (``*``: state
            shared by unknown code).
        writes: outer names it may rebind or change (``*`` as above).
        params: the parameter names in order (to match arguments), with ``self``.
        returns: ``imm`` when the annotations say it returns an immutable value, ``immlist``
            for a list of them.
        unknown: nothing is known (the conservative default).
        receiver_reads / receiver_writes: for a method, the attributes of ``self`` it may read
            or change (``None``: the whole object).
        returns_from: the parameters whose objects the result may share (``None``: any).
        mutates_surely / writes_surely: the part of ``mutates`` / ``writes`` that code the
            analysis follows does; the rest only code it cannot see might do.
        receiver_shared: of ``receiver_writes``, the attributes whose objects may come from
            outside the object (a constructor's argument, a dataclass field, a class
            attribute): changing them changes that outside object too.
        blind: the first call inside it that the analysis cannot see into (for evidence).
        home: the path of the file it is defined in: its plain outer names are that module's
            globals (names from other modules are qualified, ``path::name``).
        coroutine: an ``async def``: its body runs when the coroutine is awaited or made a
            task, which may be after the call.
    """

    mutates: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    params: tuple[str, ...] = ()
    vararg: str | None = None
    kwarg: str | None = None
    returns: str | None = None
    unknown: bool = False
    receiver_reads: frozenset[str] | None = None
    receiver_writes: frozenset[str] | None = None
    returns_from: frozenset[str] | None = None
    mutates_surely: frozenset[str] = frozenset()
    writes_surely: frozenset[str] = frozenset()
    blind: str = ""
    home: str = ""
    receiver_shared: frozenset[str] = frozenset()
    coroutine: bool = False  # an ``async def``: a call makes a coroutine, run when awaited


PURE = Summary()
#: Writes what it is given into a stream argument (``file=``): that object changes, and what
#: reads the stream back (a file reopened, ``getvalue()``) is code it cannot see.
TO_STREAM = Summary(
    frozenset({"file"}),
    writes=frozenset({ANY}),
    kwarg="file",
    mutates_surely=frozenset({"file"}),
    writes_surely=frozenset({ANY}),
)


def known_pure(full: str) -> Effect:
    """A standard-library function known to keep no data; ``json.dump`` and the like write
    what they are given into a stream argument."""
    stream = K.TO_STREAM.get(full)
    if stream is None:
        return Effect(PURE, what=full)
    params, into = stream
    return Effect(replace(TO_STREAM, mutates=frozenset({into}), mutates_surely=frozenset({into}),
                          params=params, kwarg=None), what=full)  # fmt: skip


UNKNOWN = Summary(frozenset({ANY}), frozenset({ANY}), frozenset({ANY}), unknown=True)
#: A logging call (``logging.warning(msg)``): the handlers loggers have (code the witness
#: cannot see) may keep what it is given, and a handler object the program reads later
#: (``HANDLER.lines``) then holds it.
LOGGED = Summary(writes=frozenset({ANY}))
RECEIVER_ONLY = Summary(frozenset({"self"}), params=("self",), mutates_surely=frozenset({"self"}))


@dataclass(frozen=True)
class Effect:
    """How one call acts: the summary, and how the interpreter applies it.

    ``method``: the receiver is the summary's first parameter. ``client``: the receiver carries
    no data and is not read (the Anthropic client, an executor). ``closure``: the callee is
    a function defined in the caller, whose outer names may be the caller's variables.
    ``apply``: the call runs a function on the other arguments (``many``: once per item, as
    ``map`` does); ``callback`` is the argument holding that function. ``opaque_repeat``: a
    function is passed to code that may call it several times, feeding one call's result to
    the next (``reduce``).
    """

    summary: Summary
    method: bool = False
    client: bool = False
    apply: bool = False
    many: bool = False
    callback: ast.expr | None = None
    opaque_repeat: bool = False
    closure: bool = False
    write_only: bool = False
    what: str = ""


#: Methods of str, bytes, dict, list, tuple and set that change nothing.
#: Methods of containers that change their receiver (with their arguments), nothing else.
#: Methods returning immutable values when called on one.


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names, else ``None``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def imports_of(module: Module) -> dict[str, str]:
    """Local name -> imported dotted name (``ET`` -> ``xml.etree.ElementTree``), relative
    imports resolved against the module's path."""
    if module.imports is not None:
        return module.imports
    names: dict[str, str] = {}
    package = list(PurePosixPath(module.path).parent.parts)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    names[head] = head
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                base = ".".join([*up, *([base] if base else [])])
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = (
                        f"{base}.{alias.name}" if base else alias.name
                    )
    module.imports = names
    return names


def over_all_args(summary: Summary) -> Summary:
    """The summary of a function applied to arguments whose positions are not known."""
    mutates = frozenset({ANY}) if summary.mutates else frozenset()
    surely = frozenset({ANY}) if summary.mutates_surely else frozenset()
    return Summary(
        mutates,
        summary.reads,
        summary.writes,
        unknown=summary.unknown,
        mutates_surely=surely,
        writes_surely=summary.writes_surely,
        blind=summary.blind,
        home=summary.home,
    )
