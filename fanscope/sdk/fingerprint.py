"""Data-flow fingerprints: short keyed hashes of what a step read and returned.

The analyzer needs to know whether a later step used an earlier step's output; timing
alone cannot tell a dependency from a coincidence. So branches and steps record keyed
hashes of their inputs and outputs (``fanscope.dataflow.inputs`` / ``.outputs``), never
the content. How a value is fingerprinted:

* a string of at least ``MIN_CHARS`` characters (whitespace collapsed): a hash of the whole
  string, plus, when it has at least ``SHINGLE_WORDS`` words, hashes of windows of
  ``SHINGLE_WORDS`` consecutive words. Only content-defined "anchor" windows are kept (those
  whose hash is 0 modulo ``ANCHOR_EVERY``), and of those the smallest, so both sides of a
  paste pick the same windows wherever the text sits: an answer pasted into a later prompt
  is recognised as long as it is more than about 1/``MAX_INPUTS`` of that prompt;
* bytes of at least ``MIN_CHARS``: a hash of the whole;
* lists, tuples, sets and dict values: their items, up to ``MAX_ITEMS`` and ``MAX_DEPTH``
  levels deep; dataclass instances: their fields;
* numbers and strings shorter than ``MIN_CHARS``: only for sequential steps (``@traced``,
  a lone ``await f(x)``, ``gather`` branches), where missing a value passed on would claim
  independence falsely; a match that is a coincidence only makes the analyzer cautious.
  Not for ``map`` branches, whose items are often plain numbers and cost matters there;
* booleans, ``None`` and other objects: nothing (a shared ``True`` says nothing).

The key is random per process unless ``configure(fingerprint_key=...)`` sets one, so hashes
cannot be matched against guessed content by anyone without the key. Fingerprinting is on by
default; ``configure(fingerprints=False)`` turns it off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

MIN_CHARS = 8
SHINGLE_WORDS = 8
ANCHOR_EVERY = 4
MAX_INPUTS = 64
MAX_OUTPUTS = 16
MAX_ITEMS = 64
MAX_DEPTH = 4

_state: dict[str, Any] = {"key": os.urandom(16), "enabled": True}


def set_enabled(enabled: bool) -> None:
    """Turn fingerprinting on or off for the whole process."""
    _state["enabled"] = bool(enabled)


def is_enabled() -> bool:
    return bool(_state["enabled"])


def set_key(key: bytes | str) -> None:
    """Use a fixed key (to match fingerprints across processes of one trace)."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    _state["key"] = hashlib.blake2b(raw, digest_size=32).digest()


def _h(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, key=_state["key"]).digest(), "big")


def _text(text: str, budget: int) -> list[int]:
    words = text.split()
    norm = " ".join(words)
    if not norm:
        return []
    whole = _h(norm.encode())
    if len(words) <= SHINGLE_WORDS or budget <= 1:
        return [whole]
    # Anchors are chosen with CRC-32 (fast, C, the same in every process) and only the kept
    # ones get the keyed hash: the choice records nothing, and both sides of a paste choose
    # the same windows. Keyed-hashing every window cost ~0.15 ms per 1,000 characters.
    chosen: dict[int, str] = {}
    for i in range(len(words) - SHINGLE_WORDS + 1):
        shingle = " ".join(words[i : i + SHINGLE_WORDS])
        crc = zlib.crc32(shingle.encode())
        if crc % ANCHOR_EVERY == 0:
            chosen.setdefault(crc, shingle)
    kept = sorted(chosen)[: budget - 1]
    return [whole, *(_h(chosen[crc].encode()) for crc in kept)]


def _walk(value: object, depth: int, out: list[object], scalars: bool) -> None:
    if len(out) >= MAX_ITEMS:
        return
    if isinstance(value, str | bytes | bytearray):
        if len(value) >= MIN_CHARS or (scalars and value):
            out.append(value)
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
        _walk(item, depth + 1, out, scalars)
        if len(out) >= MAX_ITEMS:
            return


def fingerprints(values: Iterable[object], limit: int, *, scalars: bool = False) -> list[str]:
    """Fingerprints of ``values`` as 16-hex-digit strings, at most ``limit`` of them.

    With ``scalars``, numbers and short strings count too (see the module docstring).
    """
    if not _state["enabled"]:
        return []
    leaves: list[object] = []
    for value in values:
        _walk(value, 0, leaves, scalars)
    if not leaves:
        return []
    per_leaf = max(1, limit // len(leaves))
    found: dict[int, None] = {}
    for leaf in leaves:
        if isinstance(leaf, str):
            hashes = _text(leaf, per_leaf)
        elif isinstance(leaf, bytes | bytearray):
            hashes = [_h(b"b:" + bytes(leaf))]
        elif isinstance(leaf, int | float):
            hashes = [_h(b"n:" + repr(leaf).encode())]
        else:
            continue
        for h in hashes:
            found[h] = None
        if len(found) >= limit:
            break
    return [f"{h:016x}" for h in list(found)[:limit]]


_SCALARS = (int, float, bool, type(None))


def inputs_of(
    args: tuple[object, ...], kwargs: Mapping[str, object], *, scalars: bool = False
) -> list[str]:
    """Fingerprints of a call's arguments."""
    if not scalars and not kwargs and all(type(a) in _SCALARS for a in args):
        return []  # the common cheap case in a map: numbers only, nothing to record
    return fingerprints((*args, *kwargs.values()), MAX_INPUTS, scalars=scalars)


def outputs_of(value: object, *, scalars: bool = False) -> list[str]:
    """Fingerprints of a call's return value."""
    return fingerprints((value,), MAX_OUTPUTS, scalars=scalars)
