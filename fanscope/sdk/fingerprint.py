"""Data-flow fingerprints: short keyed hashes of what a step read and returned.

The analyzer needs to know whether a later step used an earlier step's output; timing alone
cannot tell a dependency from a coincidence. So branches, steps and GenAI calls record keyed
hashes of their inputs and outputs (``fanscope.dataflow.inputs`` / ``.outputs``), never the
content. ``docs/dataflow.md`` states the guarantee, the bounds and what is given up at them:

* Text is **normalised** first (escapes, HTML entities, NFKC and case undone; only letters
  and digits kept), so a value re-encoded as JSON, re-punctuated or re-wrapped keeps its
  characters.
* **Whole values**: one hash per string (per number too, for sequential steps), per JSON
  value a string holds, and, in outputs, per short line or XML element text.
* **In-process links**: every output's ``RUN``-grams are remembered per trace (``_Memory``);
  an input containing one records that output's reference fingerprint. Exact, whatever the
  lengths, for outputs made in this process. What an output repeats of the trace's earlier
  inputs (an answer echoing its question) is not remembered as that output's.
* **Winnowing** (Schleimer, Wilkerson and Aiken, SIGMOD 2003) recorded on the spans, for
  traces that cross processes: ``K``-grams, the smallest CRC-32 of every ``W`` consecutive
  ones, ``K + W - 1 == RUN``; sampled consistently past the caps.
* ``PARTIAL`` first in an input's fingerprints: they may miss an earlier output (the memory
  had to forget and a sample was recorded); the analyzer compares nothing for that step.

The key is random per process unless ``configure(fingerprint_key=...)`` sets one, so hashes
cannot be matched against guessed content by anyone without the key. Fingerprinting is on by
default; ``configure(fingerprints=False)`` turns it off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import os
import re
import unicodedata
import zlib
from collections.abc import Iterable, Mapping
from itertools import accumulate, compress
from typing import Any

from opentelemetry import trace

from fanscope.sdk.output_memory import OutputMemory

RUN = 16  #: a shared run of this many normalised characters is always recognised
K = 9  #: winnowing k-gram length (bytes of normalised text)
W = 8  #: winnowing window (k-grams); K + W - 1 == RUN
MIN_CHARS = 8  #: shortest string hashed whole in a ``map`` branch (raw characters)
MAX_INPUTS = 256  #: input fingerprints per span, at most
MAX_OUTPUTS = 128  #: output fingerprints per span, at most
MAX_ITEMS = 64  #: leaves (strings, numbers) recorded per value
MAX_DEPTH = 4  #: levels of containers walked
MAX_LINKS = 64  #: earlier outputs an input can name through in-process links
MAX_SEGMENTS = 64  #: short lines, XML element texts and labelled values hashed per text
REMEMBERED = 1 << 17  #: RUN-grams of outputs remembered in the process (all traces)
PARTIAL = "0000000000000000"  #: in inputs: they may miss an earlier output (see above)
REMEMBER_LEAVES = 4096  #: leaves of one output remembered for links (beyond MAX_ITEMS)
SAMPLED_FROM = 5  #: texts with more K-grams than this times the room left are not winnowed

assert K + W - 1 == RUN

_state: dict[str, Any] = {"key": os.urandom(32), "enabled": True, "shared": False}


def set_enabled(enabled: bool) -> None:
    """Turn fingerprinting on or off for the whole process."""
    _state["enabled"] = bool(enabled)


def is_enabled() -> bool:
    return bool(_state["enabled"])


def set_key(key: bytes | str) -> None:
    """Use a fixed key (to match fingerprints across processes of one trace)."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    _state["key"] = hashlib.blake2b(raw, digest_size=32).digest()
    _state["shared"] = True  # fingerprints of other processes can match: winnow
    _memory.clear()


_bases: dict[bytes, tuple[bytes, Any]] = {}


def _hasher(tag: bytes) -> Any:
    """A keyed BLAKE2b already fed ``tag``, to ``copy()`` per value (made once per key)."""
    key = _state["key"]
    made = _bases.get(tag)
    if made is None or made[0] is not key:
        base = hashlib.blake2b(digest_size=8, key=key)
        base.update(tag)
        made = _bases[tag] = (key, base)
    return made[1]


def _h(base: Any, data: bytes) -> int:
    h = base.copy()
    h.update(data)
    value = int.from_bytes(h.digest(), "big")
    return value or 1  # 0 is PARTIAL


def keyed_name(data: bytes, tag: bytes) -> str:
    """16 hex digits that name ``data`` without showing it: the keyed hash under ``tag`` (a
    vote's answer when content capture is off). Not a data-flow fingerprint."""
    return f"{_h(_hasher(tag), data):016x}"


# -- normalisation ---------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\+(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_CONTROL = frozenset("ntrbfva0")


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) > 1:
        try:
            return chr(int(code[1:], 16))
        except ValueError:  # beyond Unicode (\U0011ffff)
            return ""
    return "" if code in _CONTROL else code


def normalise(text: str) -> str:
    """The characters fingerprints are made of: letters and digits, case and escapes undone."""
    if "\\" in text:
        text = _ESCAPE.sub(_unescape, text)
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return "".join(filter(str.isalnum, text.casefold()))


# -- winnowing -------------------------------------------------------------------------------


class Text:
    """One normalised text, as UTF-8 bytes."""

    __slots__ = ("data", "runs")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.runs: list[int] | None = None

    def run_keys(self) -> list[int]:
        """The in-process key of every RUN-gram (Python's hash: random per process)."""
        if self.runs is None:
            data = self.data
            self.runs = list(map(hash, [data[i : i + RUN] for i in range(len(data) - RUN + 1)]))
        return self.runs


def winnow(text: Text, budget: int, novel: list[bool] | None = None) -> tuple[list[bytes], bool]:
    """The winnowed K-grams of ``text``, at most ``budget`` of them; and whether sampled.

    Every window of W consecutive K-grams contributes the K-grams whose CRC-32 is the
    window's smallest: about 2 / (W + 1) of the K-grams. Past ``budget``, only those whose
    CRC-32 is divisible by 2**j are kept, for the smallest j that fits: two texts that both
    record a K-gram of a shared window agree on it whenever its CRC passes the stricter of
    their two rules. A text with more than ``SAMPLED_FROM`` times ``budget`` K-grams is not
    winnowed at all (its sample would be thin, and the windows cost most of the time):
    nothing is recorded, and it counts as sampled; in-process links cover it.

    With ``novel`` (per RUN-gram of the text: whether it is new to the trace's inputs), a
    K-gram that only RUN-grams already seen in the trace's inputs contain is left out: an
    echo is no evidence. Every RUN-gram that is new keeps the K-gram its window selects.
    """
    data = text.data
    n = len(data) - K + 1
    if n <= 0:
        return [], False
    if budget <= 0 or n > SAMPLED_FROM * budget:
        return [], True
    grams = [data[i : i + K] for i in range(n)]
    crcs = list(map(zlib.crc32, grams))
    if n < W:
        lows = {min(crcs)}
    else:  # minimum of each window of 8: of 4, then of two of those (C loops, not Python)
        fours = list(map(min, crcs, crcs[1:], crcs[2:], crcs[3:]))
        lows = set(map(min, fours, fours[4:]))
    shift = 0
    while len(lows) > budget:  # the sample: the same rule on every text that reaches it
        shift += 1
        mask = (1 << shift) - 1
        lows = {c for c in lows if not c & mask}
    picked: Iterable[int] = compress(range(n), map(lows.__contains__, crcs))
    if novel is not None:  # K-gram i lies in the RUN-grams that start at i - W + 1 ... i
        new = [0, *accumulate(novel)]
        last = len(novel) - 1
        picked = [i for i in picked if new[min(i, last) + 1] > new[max(0, i - W + 1)]]
    chosen = dict.fromkeys(grams[i] for i in picked)
    if len(chosen) > budget:  # CRC-32 collisions only
        return list(chosen)[:budget], True
    return list(chosen), shift > 0


_memory = OutputMemory(REMEMBERED)


def _trace_id() -> int:
    return int(trace.get_current_span().get_span_context().trace_id)


# -- values ----------------------------------------------------------------------------------

_JSON_SPAN = 65536  #: longest string searched for embedded JSON


def _embedded_json(text: str) -> object:
    """The JSON object or array a string holds (alone or inside a code fence), else None."""
    if len(text) > _JSON_SPAN:
        return None
    brace, bracket = text.find("{"), text.find("[")
    if brace < 0 and bracket < 0:
        return None
    first = bracket if brace < 0 or 0 <= bracket < brace else brace
    last = max(text.rfind("}"), text.rfind("]"))
    if last <= first:
        return None
    try:
        decoded = json.loads(text[first : last + 1])
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict | list) else None


def _walk(value: object, depth: int, out: list[object], scalars: bool, limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(value, str | bytes | bytearray):
        if len(value) >= MIN_CHARS or (scalars and value):
            out.append(value)
        if isinstance(value, str) and depth < MAX_DEPTH:
            decoded = _embedded_json(value)
            if decoded is not None:
                _walk(decoded, depth + 1, out, True, limit)
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        if scalars:
            out.append(value)
        return
    if depth >= MAX_DEPTH or isinstance(value, complex):
        return
    items: Iterable[object]
    if isinstance(value, Mapping):
        items = value.values()
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = (getattr(value, f.name) for f in dataclasses.fields(value))
    else:
        return
    for item in items:
        _walk(item, depth + 1, out, scalars, limit)
        if len(out) >= limit:
            return


_SEGMENTS = re.compile(r"[\r\n]+|<[^<>]{0,200}>")
_MARKER = re.compile(r"^\s*(?:[-*\u2022]|\d{1,3}[.)]|[a-z][.)])\s+")


def _segments(text: str) -> Iterable[bytes]:
    """The short parts of a text a program may pass on whole, normalised: each line and XML
    element text (list markers removed), and what follows the last colon of a line
    (``Input: pricing``, ``Category: trail runners``)."""
    if len(text) > _JSON_SPAN or not ("\n" in text or "<" in text or ":" in text):
        return
    found = 0
    for piece in _SEGMENTS.split(text):
        line = _MARKER.sub("", piece)
        candidates = [line, line.rpartition(":")[2]] if ":" in line else [line]
        for candidate in candidates:
            short = normalise(candidate).encode()
            if short and len(short) < RUN:
                yield short
                found += 1
                if found >= MAX_SEGMENTS:
                    return


class _Prints:
    """Fingerprints gathered for one side of a span, within ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.found: dict[int, None] = {}
        self.dropped = False  # a fingerprint did not fit
        self.sampled = False  # winnowing recorded a sample
        self.whole = _hasher(b"w:")
        self.gram = _hasher(b"k:")
        self.texts: list[Text] = []  # long enough for RUN-grams
        self.keys: list[int] = []  # memory keys: whole values, then RUN-grams

    def add(self, value: int) -> None:
        if len(self.found) < self.limit:
            self.found[value] = None
        else:
            self.dropped = True

    def leaf(self, leaf: object, record: bool) -> None:
        """Hash one leaf whole (recorded when ``record``), and keep it for later steps."""
        if isinstance(leaf, str):
            data = normalise(leaf).encode()
            if not data:
                return
            if len(data) >= RUN:
                self.texts.append(Text(data))
        elif isinstance(leaf, bytes | bytearray):
            data = b"b:" + bytes(leaf)
        elif isinstance(leaf, int | float):
            data = b"n:" + repr(leaf).encode()
        else:
            return
        self.keys.append(hash(data))
        if record:
            self.add(_h(self.whole, data))

    def winnowed(self, trace_id: int | None = None) -> None:
        """Add the winnowed K-grams of the texts, sharing what room is left between them.

        With ``trace_id`` (outputs), K-grams that only echo the trace's inputs are left out.
        """
        texts = self.texts[:MAX_ITEMS]
        if not texts:
            return
        if not _state["shared"]:
            # With a key of this process alone, recorded k-grams could only ever match in
            # this process, where the links are exact: they would add nothing but matches
            # of runs shorter than RUN. The texts count as sampled (for PARTIAL).
            self.sampled = True
            return
        per_text = max(1, (self.limit - len(self.found)) // len(texts))
        for text in texts:
            novel = None if trace_id is None else _memory.unseen(trace_id, text.run_keys())
            grams, sampled = winnow(text, per_text, novel)
            self.sampled = self.sampled or sampled
            for gram in grams:
                self.add(_h(self.gram, gram))

    def hex(self) -> list[str]:
        return [f"{h:016x}" for h in self.found]


def _leaves(values: Iterable[object], scalars: bool) -> tuple[list[object], bool]:
    """The leaves of ``values`` that fingerprints are made of; and whether some were left."""
    leaves: list[object] = []
    for value in values:
        _walk(value, 0, leaves, scalars, REMEMBER_LEAVES + 1)
    return leaves[:REMEMBER_LEAVES], len(leaves) > REMEMBER_LEAVES


def inputs_of(
    args: tuple[object, ...], kwargs: Mapping[str, object], *, scalars: bool = False
) -> list[str]:
    """Fingerprints of a call's arguments (see the module docstring).

    With ``scalars``, numbers and short strings count too.
    """
    if not _state["enabled"]:
        return []
    if not scalars and not kwargs:
        for arg in args:  # a loop, not all(): this runs for every branch of a map
            if type(arg) not in _SCALARS:
                break
        else:
            return []  # the common cheap case in a map: numbers only, nothing to record
    leaves, cut = _leaves((*args, *kwargs.values()), scalars)
    if not leaves:
        return []
    prints = _Prints(MAX_INPUTS)
    for i, leaf in enumerate(leaves):
        prints.leaf(leaf, record=i < MAX_ITEMS)
    if not prints.keys:
        return []
    for leaf in leaves[:MAX_ITEMS]:  # a value on a line of its own, or after a label
        if isinstance(leaf, str):
            for short in _segments(leaf):
                prints.add(_h(prints.whole, short))
                prints.keys.append(hash(short))
    seen = list(prints.keys)  # whole values and segments, then every RUN-gram
    trace_id = _trace_id()
    links = _memory.links(trace_id, prints.keys)
    for text in prints.texts:
        runs = text.run_keys()
        links |= _memory.links(trace_id, runs)
        seen.extend(runs)
    _memory.see(trace_id, seen)  # what later outputs repeat of it is not theirs
    for link in sorted(links)[:MAX_LINKS]:
        prints.add(link)
    prints.winnowed()
    relied_on_memory = prints.sampled or prints.dropped or len(leaves) > MAX_ITEMS
    if cut or len(links) > MAX_LINKS or not _memory.complete(trace_id, relied_on_memory):
        return [PARTIAL, *prints.hex()[: MAX_INPUTS - 1]]
    return prints.hex()


def outputs_of(value: object, *, scalars: bool = False) -> list[str]:
    """Fingerprints of a call's return value (see the module docstring)."""
    if not _state["enabled"] or (not scalars and type(value) in _SCALARS):
        return []
    leaves, cut = _leaves((value,), scalars)
    if not leaves:
        return []
    prints = _Prints(MAX_OUTPUTS)
    for i, leaf in enumerate(leaves):
        prints.leaf(leaf, record=i < MAX_ITEMS)
    if not prints.found:
        return []
    ref = next(iter(prints.found))
    remembered = prints.keys
    for leaf in leaves:  # a plan's lines and XML elements, each passed on whole later
        if isinstance(leaf, str):
            for short in _segments(leaf):
                prints.add(_h(prints.whole, short))
                remembered.append(hash(short))
    for text in prints.texts:
        remembered.extend(text.run_keys())
    trace_id = _trace_id()
    prints.winnowed(trace_id)
    summary = prints.sampled or prints.dropped or len(leaves) > MAX_ITEMS
    _memory.remember(trace_id, remembered, ref, summary, cut)
    return prints.hex()


def fingerprints(values: Iterable[object], limit: int, *, scalars: bool = False) -> list[str]:
    """Fingerprints of ``values`` as inputs, at most ``limit`` of them."""
    return inputs_of(tuple(values), {}, scalars=scalars)[:limit]


_SCALARS = (int, float, bool, type(None))
