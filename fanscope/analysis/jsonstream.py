"""Reading JSON a piece at a time: trace files of any size in bounded memory.

A trace file is a sequence of JSON values (one per line for OTLP JSON lines, or one
pretty-printed document), and the values that hold spans can be as large as the whole file
(a Jaeger JSON download is one object). :class:`JsonStream` walks the structure of such a
value by hand (objects member by member, arrays item by item) and decodes the pieces that
matter (one span, one resource) whole with the standard library's C scanner, so that only
one piece at a time is held as text: memory is one read chunk plus the largest piece, not
the file.

Every problem is a :class:`JsonDamage` (a ``ValueError``) carrying the line it was found on;
the caller decides whether to skip to the next line (damaged JSON lines) or refuse the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

#: Largest single piece (a span, a resource, a value of an unknown key), in characters.
MAX_PIECE = 128 * 1024 * 1024
#: Longest member name, in characters.
MAX_NAME = 64 * 1024
#: Whitespace allowed before the first value: more is not a trace file.
MAX_LEADING_SPACE = 1024 * 1024

_SPACE = re.compile(r"[ \t\n\r]*")
_scan = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]


class JsonDamage(ValueError):
    """The JSON is broken (or is not JSON) at ``line``."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.reason = message
        self.line = line


class TooDeep(JsonDamage):
    """Arrays or objects nested deeper than the decoder goes: not a trace file."""


class JsonStream:
    """JSON values read from ``read(n)`` (text) a chunk at a time.

    Args:
        read: returns up to ``n`` characters, ``""`` at the end.
        chunk: characters per read.
    """

    def __init__(self, read: Callable[[int], str], chunk: int = 1 << 20) -> None:
        self._read = read
        self._chunk = chunk
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._lines_before = 0  # newlines in the text dropped from the front of ``buf``
        self._dropped = 0  # characters dropped from the front of ``buf``

    # ------------------------------------------------------------------ the buffer

    def _fill(self, at_least: int = 0) -> bool:
        """Read more; ``False`` at the end of the input."""
        if self.eof:
            return False
        if self.pos > len(self.buf) // 2:
            self._lines_before += self.buf.count("\n", 0, self.pos)
            self._dropped += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        want = max(self._chunk, at_least)
        parts = [self.buf]
        got = 0
        while got < want:
            text = self._read(want - got)
            if not text:
                self.eof = True
                break
            parts.append(text)
            got += len(text)
        if got:
            self.buf = "".join(parts)
        return got > 0

    def line(self) -> int:
        """The line number (from 1) of the current position."""
        return self._lines_before + self.buf.count("\n", 0, self.pos) + 1

    def damage(self, message: str) -> JsonDamage:
        return JsonDamage(message, self.line())

    # ------------------------------------------------------------------ tokens

    def peek(self) -> str:
        """The next character that is not whitespace (``""`` at the end), not consumed."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def leading(self) -> str:
        """:meth:`peek` for the first value of the input: a byte-order mark is allowed, and at
        most :data:`MAX_LEADING_SPACE` characters of whitespace."""
        skipped = 0
        while True:
            rest = self.buf[self.pos :]
            stripped = rest.lstrip(" \t\n\r\ufeff")
            skipped += len(rest) - len(stripped)
            self._lines_before += rest.count("\n", 0, len(rest) - len(stripped))
            self._dropped += self.pos + len(rest) - len(stripped)
            self.buf, self.pos = stripped, 0
            if stripped:
                return stripped[0]
            if skipped > MAX_LEADING_SPACE:
                raise self.damage("nothing but whitespace in the first megabyte")
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise self.damage(f"expected {char!r}, found {found[:1]!r}" if found else
                              f"expected {char!r}, found the end of the input")  # fmt: skip
        self.pos += 1

    def value(self, limit: int = MAX_PIECE) -> Any:
        """The whole JSON value at the current position, decoded (at most ``limit`` chars)."""
        if not self.peek():
            raise self.damage("expected a value, found the end of the input")
        start = self.pos
        while True:
            try:
                value, end = _scan(self.buf, start)
            except StopIteration as exc:  # no value where one must start (maybe nested)
                at = exc.value if isinstance(exc.value, int) else start
                if at >= len(self.buf) - 16 and self._grow(start, limit):
                    start = self.pos
                    continue
                self.pos = at
                raise self.damage("expected a JSON value") from None
            except json.JSONDecodeError as exc:
                incomplete = exc.msg.startswith("Unterminated") or exc.pos >= len(self.buf) - 16
                if incomplete and self._grow(start, limit):
                    start = self.pos
                    continue
                self.pos = exc.pos
                raise self.damage(exc.msg) from None
            except RecursionError:
                raise TooDeep("JSON nested too deeply to be a trace file", self.line()) from None
            if end == len(self.buf) and not self.eof and self._grow(start, limit):
                start = self.pos  # a number may go on in the next chunk
                continue
            self.pos = end
            return value

    def _grow(self, start: int, limit: int) -> bool:
        """Read enough to hold a longer piece that starts at ``start``; keeps it at ``pos``."""
        self.pos = start
        held = len(self.buf) - start
        if held > limit:
            size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"
            raise self.damage(f"one JSON value longer than {size}")
        return self._fill(at_least=held + self._chunk)

    def key(self) -> str:
        value = self.value(limit=MAX_NAME) if self.peek() == '"' else None
        if not isinstance(value, str):
            raise self.damage("expected a member name in double quotes")
        return value

    def members(self) -> Iterator[str]:
        """The member names of the object at the current position, in order.

        After each name the caller must consume its value (with :meth:`value` or a walk).
        """
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            name = self.key()
            self.expect(":")
            yield name
            found = self.peek()
            self.pos += 1
            if found == "}":
                return
            if found != ",":
                self.pos -= 1
                raise self.damage("expected ',' or '}' after a member")

    def items(self) -> Iterator[None]:
        """One step per item of the array at the current position; the caller consumes it."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield
            found = self.peek()
            self.pos += 1
            if found == "]":
                return
            if found != ",":
                self.pos -= 1
                raise self.damage("expected ',' or ']' after an item")

    def values(self) -> Iterator[Any]:
        """The items of the array at the current position, each decoded whole."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        scan = _scan
        while True:
            # the common case first: compact JSON, the whole item in the buffer
            buf, pos = self.buf, self.pos
            try:
                value, end = scan(buf, pos)
            except (StopIteration, json.JSONDecodeError, RecursionError):
                end = len(buf)
            if end < len(buf):
                self.pos = end
            else:  # whitespace, an item cut by the end of the buffer, or damage
                value = self.value()
            yield value
            buf, pos = self.buf, self.pos
            found = buf[pos] if pos < len(buf) else ""
            if found not in (",", "]"):
                found = self.peek()
            self.pos += 1
            if found == "]":
                return
            if found != ",":
                self.pos -= 1
                raise self.damage("expected ',' or ']' after an item")

    def offset(self) -> int:
        """Characters read before the current position."""
        return self._dropped + self.pos

    def resync(self, since: int) -> bool:
        """Move to where the next JSON line may start, after damage found at ``pos``.

        A JSON line starts at the beginning of a line with ``{`` or ``[``: the line the damage
        was found on, when it started after ``since`` (the offset of the damaged value: a
        truncated line is followed by a good one), else the next such line (indented lines
        of a damaged pretty-printed document are passed over). ``False`` at the end.
        """
        start = self.buf.rfind("\n", 0, self.pos) + 1
        if start and self._dropped + start > since and self.buf[start : start + 1] in ("{", "["):
            self.pos = start
            return True
        while True:
            newline = self.buf.find("\n", self.pos)
            if newline < 0:
                self.pos = len(self.buf)
                if not self._fill():
                    return False
                continue
            if newline + 1 >= len(self.buf) and not self.eof:
                self.pos = newline
                self._fill()
                continue
            self.pos = newline + 1
            if self.buf[self.pos : self.pos + 1] in ("{", "["):
                return True
