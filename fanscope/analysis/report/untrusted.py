"""Text from a trace is untrusted: one function per kind of output makes it safe to print.

Span names, attribute values, service names, status messages, file names and anything else
that came from a trace file can hold whatever its writer put there: terminal escape
sequences (set the window title, clear the screen), a carriage return and a fake "all gates
passed" line, Markdown links to ``javascript:``, HTML, lone surrogates that no encoder
accepts, or ten megabytes. Every report prints such text only through these functions:

* :func:`terminal`: control characters (C0, DEL, C1: ESC, BEL, CR, newlines, tabs), Unicode
  bidirectional and invisible formatting characters, and lone surrogates are written as
  visible escapes (``\\x1b``, ``\\n``, ``\\u202e``);
* :func:`markdown`: :func:`terminal`, then every ASCII character that can open Markdown or
  HTML (links, images, autolinks, emphasis, code, tables, raw HTML, entities) is
  backslash-escaped, so the text renders as itself and never as a link;
* :func:`html`: :func:`terminal`, then HTML-escaped (for text put into markup; the HTML
  report itself never puts trace text into markup, see ``report/html.py``);
* :func:`json_document`: every string of a JSON document cut, lone surrogates replaced, and
  numbers that are not finite written as the strings ``"NaN"``, ``"Infinity"`` and
  ``"-Infinity"`` (as OTLP JSON writes them: a bare ``NaN`` is not JSON, and the HTML report's
  ``JSON.parse`` would refuse the whole page for one attribute);
* :func:`json_text`: a JSON document as one line of text that any JSON parser reads, with every
  character :func:`terminal` would escape written as a ``\\uXXXX`` escape (the JSON encoder
  escapes only C0 controls: C1 controls such as the 8-bit CSI ``\\x9b`` and the bidirectional
  overrides would reach a terminal that shows the document). Read back, every string is what
  :func:`json_document` made of it.

Each cuts the text at :data:`MAX_CHARS` characters first (an ellipsis marks the cut), so a
ten-megabyte span name costs a line, not a ten-megabyte report. :func:`terminal_output` and
:func:`markdown_output` are a last pass over a whole rendered report: they remove any control
character a renderer may have let through, keeping the report's own newlines.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fanscope.otlp_json import valid_utf8

#: Characters of trace text kept in a report (names, messages, values).
MAX_CHARS = 200
#: Characters kept of one warning line (warnings quote names and file paths).
MAX_LINE_CHARS = 1000

_VISIBLE = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_ESCAPES: dict[int, str] = {}
for _code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]:
    _ESCAPES[_code] = _VISIBLE.get(_code, f"\\x{_code:02x}")
# bidirectional overrides and isolates ("Trojan Source"), invisible joiners and marks,
# line and paragraph separators, the byte-order mark
for _code in [0x061C, *range(0x200B, 0x2010), *range(0x2028, 0x202F), *range(0x2060, 0x2070),
              0xFEFF]:  # fmt: skip
    _ESCAPES[_code] = f"\\u{_code:04x}"
for _code in range(0xD800, 0xE000):  # lone surrogates: no encoder writes them
    _ESCAPES[_code] = f"\\u{_code:04x}"
_UNSAFE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_ESCAPES)) + "]")

# Every ASCII character that can start a Markdown or HTML construct inline: links and
# images ([ ] ( ) !), autolinks and raw HTML (< > :), emphasis and strikethrough (* _ ~),
# code (`), tables (|), entities (&), headings and lists at a line start (# + - .), escapes (\),
# math on GitHub ($).
_MARKDOWN = {ord(c): "\\" + c for c in "\\`*_{}[]()<>#+-.!|~:&$"}
# GitHub links e-mail addresses whatever is escaped around the @; in a code span it is not.
# A run of them is one code span: "`@``@`" would read as one span holding "@``@".
_AT_RUN = re.compile("@+")


def cut(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` cut at ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def terminal(text: object, limit: int = MAX_CHARS) -> str:
    """Trace text safe to print on a terminal: cut, control characters made visible."""
    value = cut(text if isinstance(text, str) else str(text), limit)
    if _UNSAFE.search(value) is None:
        return value
    return value.translate(_ESCAPES)


def markdown(text: object, limit: int = MAX_CHARS) -> str:
    """Trace text safe to put into Markdown (a paragraph or a table cell): renders as itself."""
    escaped = terminal(text, limit).translate(_MARKDOWN)
    return escaped if "@" not in escaped else _AT_RUN.sub(lambda run: f"`{run[0]}`", escaped)


def html(text: object, limit: int = MAX_CHARS) -> str:
    """Trace text safe to put into HTML markup or an attribute value."""
    import html as html_module

    return html_module.escape(terminal(text, limit), quote=True)


def json_document(value: Any, limit: int = MAX_CHARS) -> Any:
    """A JSON document with every string (keys too) cut and lone surrogates replaced."""
    if isinstance(value, str):
        return valid_utf8(cut(value, limit))
    if isinstance(value, dict):
        return {json_document(k, limit): json_document(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_document(v, limit) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return value


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(document: Any, limit: int = MAX_CHARS) -> str:
    """``document`` as one line of strict JSON, trace text cut, nothing a terminal acts on."""
    text = json.dumps(
        json_document(document, limit), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    # outside strings JSON is ASCII: every match is inside a string, where \uXXXX is the same
    return _UNSAFE.sub(_json_escape, text)


_OUTPUT_UNSAFE = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in sorted(_ESCAPES) if c != 0x0A) + "]"
)


def terminal_output(report: str) -> str:
    """A whole rendered report with any control character left in it made visible."""
    if _OUTPUT_UNSAFE.search(report) is None:
        return report
    return _OUTPUT_UNSAFE.sub(lambda m: _ESCAPES[ord(m.group())], report)


markdown_output = terminal_output
