"""The source witness never calls a pair independent when data flowed between them.

Hypothesis writes small agent functions (assignments, f-strings, slices, string methods,
JSON, lists and dicts changed in place, loops, branches, helpers, closures, a memoised
helper whose later calls return the first call's answer, a helper whose default list keeps
what every call gave it, ``print(..., file=)`` and ``json.dump`` into a stream, an object
handed to another's constructor and changed through it, ``format(**locals())``, a helper
handed to unknown code that runs it); the test runs
each, with a client whose calls return unique tokens and record their arguments, and checks
every pair of calls where a token of the earlier call reached the later call's arguments: the
witness must not say independent (dependent, or abstaining, is fine).
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fanscope.analysis.witness import CallSite, SourceWitness, Verdict

NAMES = ["a", "b", "c", "d"]
PRELUDE = """import functools
import io
import json

client = None
NOTES = []


@functools.lru_cache(maxsize=None)
def cached(key):
    return client.messages.create(None, key)


def helper(x):
    return f"[{x}]"


def noted(x, notes=[]):
    notes.append(x)
    return " ".join(notes)


def remember(x):
    NOTES.append(x)


def recall():
    return " ".join(NOTES)


class Memory:
    def __init__(self):
        self.items = []

    def add(self, x):
        self.items.append(x)

    def text(self):
        return "/".join(self.items)


class Holder:
    def __init__(self, kept):
        self.kept = kept

    def put(self, x):
        self.kept.add(x)


def agent(question, fn):
    a = b = c = d = question
    box = []
    table = {}
    memory = Memory()
    holder = Holder(memory)
    stream = io.StringIO()
    tail = lambda v: v[-3:]

    def show():
        return a + b
"""

name = st.sampled_from(NAMES)


@st.composite
def expression(draw: st.DrawFn) -> str:
    x, y = draw(name), draw(name)
    forms = [
        x,
        f'f"<{{{x}}}>"',
        f"{x} + {y}",
        f"{x}[:60]",
        f"{x}.upper()",
        f'{x}.replace("<", "(")',
        f"json.dumps([{x}])",
        f"helper({x})",
        f"tail({x})",
        '"constant"',
        f"str(len({x}))",
        '" ".join(box)',
        'table.get("k", "")',
        "recall()",
        "memory.text()",
        "stream.getvalue()",
        "stream.getvalue()",
        '"{a} {b} {c} {d}".format(**locals())',
        '"{question}".format_map(vars())',
        f"noted({x})",
        f"noted({x})",
        f'"{{}} and {{}}".format({x}, {y})',
        "show()",
        f"fn({x})",
        f'" ".join([helper(i) for i in [{x}, {y}]])',
        f"{{'k': {x}}}['k']",
    ]
    return draw(st.sampled_from(forms))


@st.composite
def statement(draw: st.DrawFn, depth: int = 0) -> list[str]:
    target = draw(name)
    kinds = ["call", "call", "assign", "append", "table", "remember", "memory", "swap"]
    kinds += ["augment", "comprehension", "unknown", "error", "helper", "memo", "memo", "memo"]
    kinds += ["print", "dump", "noted", "hold", "handed"] * 2
    if depth < 2:
        kinds += ["for", "if", "walrus", "while"]
    kind = draw(st.sampled_from(kinds))
    if kind == "call":
        return [f"{target} = client.messages.create(SITE, {draw(expression())})"]
    if kind == "assign":
        return [f"{target} = {draw(expression())}"]
    if kind == "append":
        return [f"box.append({draw(name)})"]
    if kind == "table":
        return [f'table["k"] = {draw(expression())}']
    if kind == "remember":
        return [f"remember({draw(name)})"]
    if kind == "memory":
        return [f"memory.add({draw(name)})"]
    if kind == "walrus":
        return [f"if (w := {draw(expression())}):", f"    {target} = w"]
    if kind == "swap":
        return [f"{target}, {draw(name)} = {draw(name)}, {draw(expression())}"]
    if kind == "augment":
        return [f"{target} += {draw(expression())}"]
    if kind == "comprehension":
        return [f"box.extend([client.messages.create(SITE, i) for i in [{draw(name)}, 'x']])"]
    if kind == "unknown":
        return [f"fn(box, {draw(name)})"]
    if kind == "handed":  # unknown code runs ``remember``, which keeps its argument
        return [f"fn(remember, {draw(name)})"]
    if kind == "hold":  # the holder keeps ``memory``: it changes memory's items
        return [f"holder.put({draw(name)})"]
    if kind == "print":
        return [f"print({draw(name)}, file=stream)"]
    if kind == "dump":
        return [f"json.dump([{draw(name)}], stream)"]
    if kind == "noted":
        return [f"noted({draw(name)})"]
    if kind == "memo":  # a hit returns the answer of the call that missed, at another site
        return [f'{target} = cached("k")']
    if kind == "helper":
        return [f"{target} = helper(client.messages.create(SITE, {draw(name)}))"]
    if kind == "error":
        return [
            "try:",
            f"    {target} = str(int({draw(name)}))",
            "except ValueError as error:",
            f"    {target} = str(error)",
        ]
    body = draw(st.lists(statement(depth + 1), min_size=1, max_size=3))
    lines = [f"    {line}" for block in body for line in block]
    if kind == "for":
        return [f"for {target} in [{draw(name)}, {draw(name)}]:", *lines]
    if kind == "while":
        return [
            "for _round in range(2):",
            f"    if len({draw(name)}) > 500:",
            "        break",
            *lines,
        ]
    other = draw(st.lists(statement(depth + 1), min_size=1, max_size=2))
    rest = [f"    {line}" for block in other for line in block]
    return [f"if len({draw(name)}) % 2:", *lines, "else:", *rest]


def program(blocks: list[list[str]]) -> str:
    lines = [line for block in blocks for line in block]
    counter = itertools.count()
    numbered = []
    for line in lines:
        while "SITE" in line:
            line = line.replace("SITE", str(next(counter)), 1)
        numbered.append(f"    {line}")
    return PRELUDE + "\n".join(numbered) + "\n    return a, b, c, d\n"


CALL_RECALL = "b = client.messages.create(SITE, recall())"
CALL_NOTED = "b = client.messages.create(SITE, noted(c))"
CALL_STREAM = "b = client.messages.create(SITE, stream.getvalue())"
CALL_MEMORY = "b = client.messages.create(SITE, memory.text())"


class Recorder:
    """A client whose calls return unique tokens and record what they were given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, str]] = []  # site, token, repr of its arguments
        self.messages = self

    def create(self, site: int | None, *args: Any) -> str:
        if site is None:  # from a helper: the site is the line of ``agent`` that called it
            frame = sys._getframe(1)
            while frame.f_code.co_name != "agent":
                frame = frame.f_back  # type: ignore[assignment]
            site = -frame.f_lineno
        token = f"@{len(self.calls)}@"
        self.calls.append((site, token, repr(args)))
        return token


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statement(), min_size=2, max_size=8))
# each a shape that was once called independent, drawn rarely: always tried
@example([["a = client.messages.create(SITE, question)"], ["fn(remember, a)"], [CALL_RECALL]])
@example([["a = client.messages.create(SITE, question)"], ["noted(a)"], [CALL_NOTED]])
@example([["a = cached('k')"], ["b = cached('k')"], ["c = client.messages.create(SITE, b)"]])
@example([["a = client.messages.create(SITE, question)"], ["print(a, file=stream)"], [CALL_STREAM]])
@example([["a = client.messages.create(SITE, question)"], ["holder.put(a)"], [CALL_MEMORY]])
def test_no_pair_the_data_flowed_between_is_called_independent(
    tmp_path_factory: Any, blocks: list[list[str]]
) -> None:
    source = program(blocks)
    root = tmp_path_factory.mktemp("prog")
    path = Path(root, "prog.py")
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"prog_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recorder = Recorder()
    module.client = recorder

    def fn(*args: Any) -> str:
        if args and callable(args[0]):  # a runner: calls the function it is handed
            return str(args[0](*args[1:]))
        if len(args) > 1 and isinstance(args[0], list):
            args[0].append(args[1])
        return "|".join(map(str, args))

    module.agent("q<0>", fn)
    sites = {}
    func = next(n for n in ast.parse(source).body if getattr(n, "name", "") == "agent")
    for node in ast.walk(func):
        called = ast.unparse(node.func) if isinstance(node, ast.Call) else ""
        if called in ("client.messages.create", "cached"):
            number = -node.lineno if called == "cached" else node.args[0].value  # type: ignore[attr-defined]
            sites[number] = CallSite(
                "prog.py", "prog.agent", node.lineno, node.col_offset + 1, None, False
            )
    witness = SourceWitness(root)
    for (i, earlier), (j, later) in itertools.combinations(enumerate(recorder.calls), 2):
        if earlier[1] not in later[2]:
            continue  # no token of the earlier call reached the later one's arguments
        verdict = witness.between(sites[earlier[0]], sites[later[0]])
        assert verdict.verdict != Verdict.INDEPENDENT, (source, i, j, verdict.evidence)
    sys.modules.pop(spec.name, None)
