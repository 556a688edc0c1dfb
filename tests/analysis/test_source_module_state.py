"""State a function reaches through names it does not bind: module globals, a class's or a
function's attributes, an imported module's objects, a logger's handlers, and what a nested
function holds from when it was defined.

Each of these is a channel between two calls that the calls' arguments do not show. Read
wrongly, the two calls are called independent, which is false; so each case here fails if
the witness calls the pair independent, and the controls check that what no channel links
stays independent.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from fanscope.analysis.witness import CallSite, SourceWitness, Verdict

SHARED = """
NOTES = []
BOARD = {}


def helper(text):
    return text.strip()
"""

AGENT = """
import functools
import logging
import os
import queue
import sys
import threading
import anthropic
from shared import NOTES, BOARD, helper
import shared

client = anthropic.Anthropic()
log = logging.getLogger("agent")
VENDORS = ["a", "b"]


def llm(prompt: str) -> str:
    return client.messages.create(model="m", max_tokens=9, messages=[prompt]).content[0].text


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines = []

    def emit(self, record) -> None:
        self.lines.append(record.getMessage())


HANDLER = Keep()
log.addHandler(HANDLER)


class Registry:
    notes = []


TONES = {}


class Voice:
    @property
    def tone(self):
        return TONES.get("t", "plain")

    @tone.setter
    def tone(self, value):
        TONES["t"] = value


def property_setter(topic: str) -> str:
    Voice().tone = llm("Pick a tone")  # site: prop-set
    return llm(f"In {TONES['t']}: {topic}")  # site: prop-read-global


def property_getter(topic: str) -> str:
    TONES["t"] = llm("Pick a tone")  # site: prop-global
    return llm(f"In {Voice().tone}: {topic}")  # site: prop-get


def environ(topic: str) -> str:
    lang = llm("Pick a language code")  # site: env-lang
    os.environ["AGENT_LANG"] = lang.strip()
    return llm(f"Write about {topic} in {os.environ['AGENT_LANG']}")  # site: env-write


def logger_handler(topic: str) -> str:
    idea = llm(f"Idea on {topic}")  # site: log-idea
    log.warning("idea: %s", idea.strip())
    return llm("Critique " + HANDLER.lines[-1])  # site: log-crit


def root_logging(topic: str) -> str:
    idea = llm(f"Idea on {topic}")  # site: root-idea
    logging.warning("idea: %s", idea.strip())
    return llm("Critique " + HANDLER.lines[-1])  # site: root-crit


def class_attribute(topic: str) -> str:
    Registry.notes.append(llm(f"Note on {topic}"))  # site: cls-note
    Registry.last = llm(f"Title for {topic}")  # site: cls-title
    return llm("Expand " + Registry.notes[-1] + Registry.last)  # site: cls-expand


def function_attribute(topic: str) -> str:
    llm.tone = llm("Pick a tone")  # site: fn-tone
    return llm(f"Write in {llm.tone}")  # site: fn-write


def imported_objects(topic: str) -> str:
    NOTES.append(llm(f"Note on {topic}"))  # site: imp-note
    BOARD["x"] = llm(f"Title for {topic}")  # site: imp-title
    return llm("Expand " + shared.NOTES[-1] + BOARD["x"])  # site: imp-expand


def namespace_writes(topic: str) -> str:
    globals()["MOOD"] = llm("Pick a mood")  # site: ns-mood
    sys.modules[__name__].TONE = llm("Pick a tone")  # site: ns-tone
    return llm(f"Write in {MOOD} and {TONE}")  # site: ns-write


def nested_default(topic: str) -> str:
    persona = llm("A persona")  # site: def-persona

    def ask(q, p=persona.title()):
        return llm(f"As {p}: {q}")

    return ask(topic)  # site: def-ask


def lambda_default(topic: str) -> str:
    persona = llm("A persona")  # site: lam-persona
    ask = lambda q, p=persona.lower(): llm(f"As {p}: {q}")  # noqa: E731
    return ask(topic)  # site: lam-ask


def local_class(topic: str) -> str:
    persona = llm("A persona")  # site: lc-persona

    class Settings:
        who = persona.strip()

    return llm(f"As {Settings.who}: {topic}")  # site: lc-ask


def thread_closure(topic: str) -> str:
    out = queue.Queue()

    def work(q):
        out.put(llm(f"Work on {q}"))

    ids = llm(f"Ids for {topic}")  # site: th-ids
    threads = [threading.Thread(target=work, args=(i.upper(),)) for i in ids.split(",")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [out.get() for _ in threads]
    return llm("Merge " + ";".join(got))  # site: th-merge


class Persona:
    def __init__(self) -> None:
        self.persona = "plain"

    def ask(self, q):
        return llm(f"As {self.persona}: {q}")

    def run(self, pool, topic) -> str:
        self.persona = llm("A persona")  # site: bm-persona
        ask = functools.partial(self.ask)
        return pool.submit(ask, topic).result()  # site: bm-submit


class Reviewer:
    def __init__(self) -> None:
        self.verdicts = {}

    def _keep(self, name):
        def done(future):
            self.verdicts[name] = future.result().lower()

        return done

    def release(self, pool, files) -> str:
        for name in files:
            future = pool.submit(llm, f"Review {name}")  # site: rv-review
            future.add_done_callback(self._keep(name))
        return llm(f"Note: {sorted(self.verdicts.items())}")  # site: rv-note


def bound_append(topic: str) -> str:
    notes = []
    add = notes.append
    add(llm(f"Note on {topic}"))  # site: add-note
    return llm(" ".join(notes))  # site: add-use


def controls(topic: str) -> str:
    prices = [int(llm(f"Price of {v}")) for v in VENDORS]  # site: ctl-price
    cheapest = VENDORS[prices.index(min(prices))]
    note = llm(f"Note to {cheapest}")  # site: ctl-note
    other = llm(f"Overview of {', '.join(VENDORS)} and {helper(topic)}")  # site: ctl-other
    log.info("done %s", note)
    return note + other
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("module_state")
    (folder / "agent.py").write_text(textwrap.dedent(AGENT))
    (folder / "shared.py").write_text(textwrap.dedent(SHARED))
    return folder


def site(root: Path, marker: str) -> CallSite:
    source = (root / "agent.py").read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    funcs = [(f.name, f) for f in tree.body if isinstance(f, ast.FunctionDef)]
    for cls in (c for c in tree.body if isinstance(c, ast.ClassDef)):
        funcs += [(f"{cls.name}.{f.name}", f) for f in cls.body if isinstance(f, ast.FunctionDef)]
    for name, func in funcs:
        for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
            if lines[call.lineno - 1].endswith(marker):
                return CallSite(
                    "agent.py", f"__main__.{name}", call.lineno, call.col_offset + 1, None, False
                )
    raise AssertionError(marker)


def between(root: Path, earlier: str, later: str) -> tuple[Verdict, str]:
    found = SourceWitness(root).between(
        site(root, f"# site: {earlier}"), site(root, f"# site: {later}")
    )
    return found.verdict, found.evidence


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("env-lang", "env-write"),  # os.environ set, then read
        ("cls-note", "cls-expand"),  # a class attribute's list appended to
        ("cls-title", "cls-expand"),  # a class attribute set
        ("fn-tone", "fn-write"),  # a function's attribute set
        ("imp-note", "imp-expand"),  # a list imported from a project module, read via it
        ("imp-title", "imp-expand"),  # a dict imported from a project module
        ("def-persona", "def-ask"),  # a nested function's default
        ("lam-persona", "lam-ask"),  # a lambda's default
        ("lc-persona", "lc-ask"),  # a class made in the function reads a variable
        ("prop-set", "prop-read-global"),  # a property's setter writes a global
        ("prop-global", "prop-get"),  # ... and its getter reads it
        ("ns-mood", "ns-write"),  # a global bound through ``globals()``
        ("ns-tone", "ns-write"),  # ... and through ``sys.modules``
    ],
)
def test_state_the_code_shows_makes_the_calls_dependent(
    root: Path, earlier: str, later: str
) -> None:
    verdict, evidence = between(root, earlier, later)
    assert verdict == Verdict.DEPENDENT, evidence


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("log-idea", "log-crit"),  # a handler added to the logger at import time
        ("root-idea", "root-crit"),  # the root logger's handlers
        ("th-ids", "th-merge"),  # a thread runs a closure that fills a queue of the step
        ("rv-review", "rv-note"),  # a done-callback made by a method changes ``self``
        ("bm-persona", "bm-submit"),  # a bound method handed over reads its object
        ("add-note", "add-use"),  # ``add = notes.append`` called: ``notes`` may change
    ],
)
def test_state_only_unseen_code_links_is_never_called_independent(
    root: Path, earlier: str, later: str
) -> None:
    verdict, evidence = between(root, earlier, later)
    assert verdict != Verdict.INDEPENDENT, evidence


def test_a_global_list_only_read_and_min_of_a_list_link_nothing(root: Path) -> None:
    # ``VENDORS`` is a literal no code hands away; ``min(prices)`` runs no code of its own;
    # ``log.info`` after both calls reads what they made but changes nothing they read
    verdict, evidence = between(root, "ctl-price", "ctl-other")
    assert verdict == Verdict.INDEPENDENT, evidence
    verdict, evidence = between(root, "ctl-note", "ctl-other")
    assert verdict == Verdict.INDEPENDENT, evidence
    assert between(root, "ctl-price", "ctl-note")[0] == Verdict.DEPENDENT
