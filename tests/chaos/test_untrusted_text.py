"""Text from a trace is untrusted in every output: terminal, Markdown, JSON, HTML.

Reproductions: span names that set the terminal's title, cleared the screen or printed a fake
"all gates passed" line; Markdown that turned ``[x](javascript:...)`` into a link; a 10 MB span
name that made a 52 MB Markdown file and a 146 MB HTML page. The Markdown is rendered with
cmark-gfm, the renderer GitHub uses for step summaries.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import cmarkgfm
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fanscope.analysis.convert import to_otlp_lines
from fanscope.analysis.model import Span
from fanscope.analysis.report import untrusted
from fanscope.cli import main
from fanscope.sdk import attributes as A
from tests.analysis.builders import span

HOSTILE = [
    "\x1b]0;pwned\x07",  # OSC: set the window title
    "\x1b[2J\x1b[H",  # clear the screen
    "step\r\nall gates passed\n",  # a fake line
    "\u202egnp.exe",  # right-to-left override
    "[x](javascript:alert(1))",
    "![img](http://127.0.0.1:9/track.png)",
    "<img src=x onerror=alert(1)>",
    "<javascript:alert(1)>",
    "mail me at evil@example.com",
    "a | b | c",
    "`code` **bold** _it_ ~~gone~~ # title",
    "bad\udc80",
]

#: Any text a program can hold, lone surrogates and control characters included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
#: Any text, with the characters that start Markdown and HTML constructs drawn often
#: (random Unicode alone almost never holds a ``|`` or a ``[x](y)``).
MARKUP_TEXT = st.lists(
    st.one_of(
        st.sampled_from(list("\\`*_{}[]()<>#+-.!|~:&@ \n\tx")),
        st.sampled_from(["[x](y)", "![i](y)", "<b>", "**", "~~", "http://x.io", "a@b.io"]),
        st.characters(codec=None, exclude_categories=()),
    ),
    max_size=20,
).map("".join)
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def trace_named(names: list[str], note: str | None = None) -> list[Span]:
    """A step whose children, run one after another, carry ``names``; a fan-out of them too.

    Every span also carries ``note`` as an attribute (``names[0]`` unless given).
    """
    root = span(names[0], 0, 10 * len(names) + 10, fanscope__role="step")
    out = [root]
    for i, name in enumerate(names):
        prints = {"fanscope__dataflow__inputs": [f"q{i}"], "fanscope__dataflow__outputs": [f"a{i}"]}
        out.append(span(name, 10 * i + 1, 10 * i + 9, root, fanscope__role="step", **prints))
    fanout = span(names[-1], 10 * len(names), 10 * len(names) + 9, root, fanscope__role="fanout",
                  fanscope__kind="map")  # fmt: skip
    out.append(fanout)
    for i, name in enumerate(names[:3]):
        out.append(span(name, fanout.start / 1e6, fanout.start / 1e6 + i + 1, fanout,
                        fanscope__role="branch", fanscope__branch__index=i))  # fmt: skip
    # a budget named by the trace on the fan-out, and a call refused by one named by another
    fanout.attributes.update({A.BUDGET_NAME: names[-1], A.BUDGET_LIMIT_USD: 0.5,
                              A.BUDGET_SPENT_USD: 0.48, A.BUDGET_REFUSED: 1})  # fmt: skip
    refused = {A.BUDGET_NAME: names[0], A.BUDGET_UNIT: "usd", A.BUDGET_LIMIT_USD: 0.5}
    out[-1].events.append((fanout.start, A.EVENT_BUDGET_STOP, refused))
    for s in out:
        s.attributes["note"] = names[0] if note is None else note
    return out


def report(tmp_path: Path, spans: list[Span], fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    assert main(["analyze", str(path), "--format", fmt]) == 0
    out = capsys.readouterr().out
    out.encode("utf-8")  # strict: every character can be written
    return out


def test_terminal_report_prints_hostile_names_as_visible_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = report(tmp_path, trace_named(HOSTILE), "text", capsys)
    assert CONTROL.search(out) is None
    assert not any(line.startswith("all gates passed") for line in out.splitlines())
    assert "\\x1b]0;pwned\\x07" in out and "\\r\\nall gates passed\\n" in out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(ANY_TEXT, min_size=1, max_size=4))
def test_any_names_leave_the_terminal_report_with_its_own_lines_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: list[str]
) -> None:
    out = report(tmp_path, trace_named(names), "text", capsys)
    # the same trace with plain names (equal where the names were equal)
    plain_names = [f"n{names.index(name)}" for name in names]
    plain = report(tmp_path, trace_named(plain_names), "text", capsys)
    assert CONTROL.search(out) is None
    assert len(out.splitlines()) == len(plain.splitlines())  # no name adds or breaks a line


def rendered(markdown_text: str) -> str:
    return str(cmarkgfm.github_flavored_markdown_to_html(markdown_text))


def test_markdown_report_shows_hostile_names_as_text_not_links_or_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = report(tmp_path, trace_named(HOSTILE), "markdown", capsys)
    assert CONTROL.search(out) is None
    page = rendered(out)
    assert "<a " not in page and "<img" not in page and "<del>" not in page
    assert "javascript:" in page  # shown, as text
    assert "[x](javascript:alert(1))" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@settings(max_examples=80, deadline=None)
@given(name=MARKUP_TEXT)
@example(name="@@")  # two code spans side by side would read as one holding "@``@"
@example(name="x@@@y@")
def test_any_name_renders_as_one_table_cell_of_plain_text(name: str) -> None:
    cell = untrusted.markdown(name)
    page = rendered(f"| a | b |\n|---|---|\n| {cell} | x |\n")
    assert page.count("<td>") == 2  # the name stayed in its cell
    body = page.split("<tbody>")[1]
    # nothing but text (and the code span that keeps an @ from becoming a mail link)
    assert set(re.findall(r"</?([a-z]+)", body)) <= {"tbody", "tr", "td", "code", "table"}
    # and all of it: a table cuts a cell at an unescaped | without a word
    first = body.split("<td>")[1].split("</td>")[0]
    assert html.unescape(re.sub("</?code>", "", first)) == untrusted.terminal(name).strip(" ")


def test_json_report_is_valid_utf8_with_names_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_name = "x" * 10_000_000
    # the report shows no attribute: a note of 10 MB on each of the 18 spans made the file
    # 220 MB to read for nothing (the HTML page, which shows them, keeps that test below)
    out = report(tmp_path, trace_named([long_name, *HOSTILE], note="n"), "json", capsys)
    assert len(out) < 200_000
    doc = json.loads(out)
    (trace,) = doc["traces"]
    assert trace["root"] == "x" * (untrusted.MAX_CHARS - 1) + "\u2026"
    assert "bad\ufffd" in out


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_ten_megabyte_name_costs_a_line_not_megabytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    out = report(tmp_path, trace_named(["x" * 10_000_000, "y"], note="n"), fmt, capsys)
    assert len(out) < 50_000


def test_a_ten_megabyte_name_makes_a_small_html_page(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines(trace_named(["x" * 10_000_000, "y"]))) + "\n")
    page = tmp_path / "report.html"
    assert main(["analyze", str(path), "--html", str(page), "--format", "json"]) == 0
    assert page.stat().st_size < 200_000


def test_diff_prints_hostile_operation_names_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = tmp_path / "base.jsonl", tmp_path / "head.jsonl"
    base.write_text("\n".join(to_otlp_lines(trace_named(HOSTILE))) + "\n")
    slower = trace_named(HOSTILE)
    for s in slower:
        s.end += 5_000_000
    head.write_text("\n".join(to_otlp_lines(slower)) + "\n")
    for fmt in ("text", "markdown"):
        main(["diff", str(base), str(head), "--format", fmt, "--max-slowdown", "1%"])
        out, err = capsys.readouterr()
        assert CONTROL.search(out + err) is None
        assert "<a " not in rendered(out) if fmt == "markdown" else True
