"""What the source witness knows of code it does not read: builtins, the standard library,
container methods, the Anthropic client, and what annotations say.

These tables decide which calls change nothing (``json.loads``, ``str.strip``, ``print``),
which change only their receiver (``list.append``), which run a function on items
(``map``, a pool's ``submit``), and which types are immutable. A method is known by its name
alone (``.strip()``, ``.get()``): a project class that gives a read-only name a method that
changes things defeats this, which ``docs/dataflow.md`` lists among the limits.
"""

from __future__ import annotations

import ast

IMM, IMMLIST = "imm", "immlist"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PURE_BUILTINS = _words(
    """
    abs all any ascii bin bool bytearray bytes callable chr complex dict dir divmod
    enumerate float format frozenset getattr hasattr hash hex id int isinstance
    issubclass iter len list max min next oct ord pow print range repr reversed round
    set slice sorted str sum tuple type vars zip super object NotImplementedError
    ValueError TypeError KeyError RuntimeError Exception
    """
)

IMM_BUILTINS = _words(
    """
    str int float bool len repr format hash ord chr abs round ascii
    """
)

MAP_BUILTINS = frozenset({"map", "filter"})

HIGHER_ORDER_OPAQUE = frozenset({"sorted", "min", "max", "reduce"})

PURE_MODULES = (
    "json.",
    "re.",
    "textwrap.",
    "math.",
    "statistics.",
    "string.",
    "html.",
    "xml.etree.",
    "xml.dom.minidom.",
    "itertools.",
    "operator.",
    "copy.",
    "datetime.",
    "time.",
    "uuid.",
    "random.",
    "hashlib.",
    "base64.",
    "logging.",
    "typing.",
    "dataclasses.",
    "collections.",
    "enum.",
    "pydantic.",
    "os.getenv",
    "os.environ.get",
    "os.path.",
    "shlex.",
    "difflib.",
    "unicodedata.",
    "functools.partial",
    "functools.wraps",
    "asyncio.sleep",
    "asyncio.gather",
    "asyncio.wait",
    "asyncio.wait_for",
    "asyncio.shield",
    "asyncio.create_task",
    "asyncio.ensure_future",
    "asyncio.as_completed",
    "asyncio.Semaphore",
    "asyncio.Lock",
    "asyncio.Event",
    "asyncio.TaskGroup",
    "asyncio.timeout",
    "asyncio.get_running_loop",
    "asyncio.get_event_loop",
    "asyncio.run",
    "concurrent.futures.ThreadPoolExecutor",
    "concurrent.futures.as_completed",
    "concurrent.futures.wait",
    "fanscope.gather",
    "fanscope.configure",
    "fanscope.Limiter",
    "fanscope.Retry",
    "anthropic.Anthropic",
    "anthropic.AsyncAnthropic",
)

APPLY_ONCE = frozenset({"asyncio.to_thread"})

PURE_METHODS = frozenset(
    [
        "strip",
        "lstrip",
        "rstrip",
        "split",
        "rsplit",
        "splitlines",
        "join",
        "format",
        "format_map",
        "replace",
        "lower",
        "upper",
        "title",
        "casefold",
        "capitalize",
        "swapcase",
        "startswith",
        "endswith",
        "find",
        "rfind",
        "index",
        "rindex",
        "count",
        "partition",
        "rpartition",
        "removeprefix",
        "removesuffix",
        "encode",
        "decode",
        "zfill",
        "center",
        "ljust",
        "rjust",
        "expandtabs",
        "translate",
        "isdigit",
        "isalpha",
        "isalnum",
        "isspace",
        "isupper",
        "islower",
        "isnumeric",
        "isdecimal",
        "isidentifier",
        "istitle",
        "get",
        "keys",
        "values",
        "items",
        "copy",
        "union",
        "intersection",
        "difference",
        "symmetric_difference",
        "issubset",
        "issuperset",
        "isdisjoint",
        "hex",
        "fromkeys",
        "result",
        "done",
        "cancelled",
        "exception",
        "group",
        "groups",
        "groupdict",
        "span",
        "start",
        "end",
        "findall",
        "finditer",
        "search",
        "match",
        "fullmatch",
        "sub",
        "find",
        "findall",
        "findtext",
        "iter",
        "itertext",
        "attrib",
        "tag",
        "text",
        "getchildren",
    ]  # ElementTree
)

MUTATING_METHODS = _words(
    """
    append extend insert update add setdefault pop popitem remove discard clear sort
    reverse appendleft extendleft popleft put put_nowait set_result
    """
)
#: Of those, the ones that read nothing of their receiver into what they return.
WRITE_ONLY_METHODS = _words(
    """
    append extend insert add update appendleft extendleft clear discard remove put
    put_nowait set_result
    """
)

IMM_METHODS = _words(
    """
    strip lstrip rstrip join format format_map replace lower upper title casefold
    capitalize swapcase removeprefix removesuffix zfill center ljust rjust expandtabs
    translate encode decode
    """
)

IMMLIST_METHODS = frozenset(["split", "rsplit", "splitlines", "partition", "rpartition"])

CLIENT_METHODS = frozenset({"create", "stream", "count_tokens", "parse"})

FANSCOPE_MAP = frozenset({"map", "starmap", "as_completed", "amap"})

POOL_APPLY_ONCE = frozenset({"submit", "run_in_executor", "apply_async"})

POOL_MAP = frozenset({"map", "imap", "imap_unordered", "starmap"})

TRANSPARENT_DECORATORS = _words(
    """
    parallel traced vote staticmethod classmethod property cache lru_cache
    cached_property wraps abstractmethod override retry overload setter getter deleter
    """
)

#: Functions of the modules above that write what they are given into a stream argument:
#: their parameters, and the one that is the stream (``effects.known_pure``).
TO_STREAM = {
    "json.dump": (("obj", "fp"), "fp"),
}

#: Constructors that, called with no argument, make a container no one else holds.
FRESH_CONTAINERS = frozenset({"list", "dict", "set", "deque", "defaultdict", "OrderedDict"})

#: Transparent decorators that keep results between calls (``effects.remembering``).
MEMOISING_DECORATORS = frozenset({"cache", "lru_cache"})

IMM_TYPES = _words(
    """
    str int float bool bytes complex None Literal LiteralString Decimal Fraction
    """
)

LIST_TYPES = _words(
    """
    list List Sequence Iterable Iterator tuple Tuple set Set frozenset FrozenSet
    AbstractSet Collection
    """
)


def annotation_kind(node: ast.expr | None) -> str | None:
    """``imm`` for an annotation of an immutable type, ``immlist`` for a collection of one."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            parsed = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None
        return annotation_kind(parsed)
    if isinstance(node, ast.Constant) and node.value is None:
        return "imm"
    name = tail(node)
    if name in IMM_TYPES:
        return "imm"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = annotation_kind(node.left), annotation_kind(node.right)
        return left if left == right else None
    if isinstance(node, ast.Subscript):
        outer = tail(node.value)
        if outer == "Optional":
            return annotation_kind(node.slice)
        if outer == "Literal":
            return "imm"
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        kinds = {annotation_kind(i) for i in items if not _is_ellipsis(i)}
        if outer in ("tuple", "Tuple") and kinds == {"imm"}:
            return "imm"
        if outer in LIST_TYPES and kinds == {"imm"}:
            return "immlist"
    return None


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def tail(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def pure_module(full: str) -> bool:
    return any(full == p or full.startswith(p) for p in PURE_MODULES)
