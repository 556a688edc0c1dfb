"""The command line under hostile and unusual input: exit 0, 1 or 2, one line, never a traceback.

Reproductions: exit status 1 (meant for "a gate failed") with a MemoryError or a
UnicodeEncodeError traceback; a FIFO with no writer, or a folder holding one, that hung;
a folder failed whole for one empty file; ``| head`` printing "Broken pipe" and exiting 2; the
trace id the reports print refused by ``--trace-id``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fanscope.analysis.convert import to_otlp_lines
from fanscope.cli import main
from tests.analysis.builders import span

#: A guard against a hang, never a measure of speed: far above any normal run.
HANG = 300


def fanscope(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, as a shell would run it."""
    return subprocess.run(
        [sys.executable, "-m", "fanscope", *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("fanscope: ") and "Traceback" not in stderr
    return lines[0]


def traces_file(path: Path, count: int = 1, name: str = "agent") -> Path:
    spans = []
    for i in range(count):
        root = span(name, 0, 100, trace=f"{i + 1:032x}", fanscope__role="step")
        spans += [root, span("call", 1, 99, root, trace=root.trace_id)]
    path.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    return path


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300), fmt=st.sampled_from(["text", "markdown", "json"]))
def test_any_bytes_exit_0_or_2_with_one_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, fmt: str
) -> None:
    path = tmp_path / "input.jsonl"
    path.write_bytes(data)
    code = main(["analyze", str(path), "--format", fmt])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        assert one_line_error(err)
    out.encode("utf-8")  # printable whatever the input held


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(min_size=1, max_size=200))
def test_junk_after_good_lines_keeps_the_good_spans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], junk: bytes
) -> None:
    good = traces_file(tmp_path / "good.jsonl", count=2).read_bytes()
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(good + junk + b"\n" + good)
    assert main(["analyze", str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(t["spans"] for t in report["traces"]) >= 4


def test_dev_zero_is_refused_at_its_first_byte() -> None:
    done = fanscope("analyze", "/dev/zero")
    assert done.returncode == 2
    assert "not JSON" in one_line_error(done.stderr)


class Junk(threading.Thread):
    """Writes junk into a pipe until the reader closes it, counting the bytes it got in."""

    def __init__(self, pipe: object, first: bytes, filler: bytes) -> None:
        super().__init__(daemon=True)
        self.pipe, self.first, self.filler, self.written = pipe, first, filler, 0

    def run(self) -> None:
        block = self.filler * (1 << 20 // len(self.filler))
        try:
            self.pipe.write(self.first)  # type: ignore[attr-defined]
            while self.written < 2 << 30:
                self.pipe.write(block)  # type: ignore[attr-defined]
                self.written += len(block)
        except (BrokenPipeError, OSError, ValueError):
            pass


@pytest.mark.parametrize(
    ("first", "filler"),
    [
        (b"", bytes(range(256))),  # binary
        (b"{", b"abcdefgh"),  # a brace, then text that is no member name
        (b'{"something": "else"}\n', b"\x00\xff junk "),  # other JSON, then junk
        (b'{"', b"resourceSpans" * 8),  # a member name without end
        (b"[" * 50, b"[[[[["),  # nesting without end
    ],
    ids=["binary", "brace-then-text", "other-json-then-junk", "endless-name", "endless-nesting"],
)
def test_endless_junk_on_standard_input_is_refused_after_its_first_bytes(
    first: bytes, filler: bytes
) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "fanscope", "analyze", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        writer = Junk(process.stdin, first, filler)
        writer.start()
        code = process.wait(timeout=HANG)
        writer.join(timeout=HANG)
        assert process.stdin is not None and process.stderr is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        err = process.stderr.read()
    assert code == 2, err
    one_line_error(err.decode())
    # refused long before the end: the reader stopped after a few of its first bytes
    assert writer.written < 256 << 20


def test_a_lone_surrogate_in_a_span_name_prints_in_every_format(tmp_path: Path) -> None:
    path = traces_file(tmp_path / "t.jsonl", name="agent")
    path.write_text(path.read_text().replace('"agent"', '"bad\\udc80 agent"'))
    for fmt in ("text", "markdown", "json"):
        done = fanscope("analyze", str(path), "--format", fmt)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert "bad" in done.stdout


def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path: Path) -> None:
    path = traces_file(tmp_path / "many.jsonl", count=300)
    for gate, expected in (([], 0), (["--fail-if", "critical_path > 1ms"], 1)):
        with subprocess.Popen(
            [sys.executable, "-m", "fanscope", "analyze", str(path), "--format", "json", *gate],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            process.stdout.read(10)  # `| head -c 10`
            process.stdout.close()
            code = process.wait(timeout=HANG)
            err = process.stderr.read()
        assert "Broken pipe" not in err and "Traceback" not in err
        assert code == expected, err  # the gates still decide


def test_a_reader_gone_before_the_first_byte_ends_the_output_quietly(tmp_path: Path) -> None:
    path = traces_file(tmp_path / "many.jsonl", count=300)
    for fmt, gate, expected in (
        ("text", [], 0),
        ("json", [], 0),
        ("json", ["--fail-if", "critical_path > 1ms"], 1),
    ):
        with subprocess.Popen(
            [sys.executable, "-m", "fanscope", "analyze", str(path), "--format", fmt, *gate],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            process.stdout.close()  # `| true`: the reader is gone before fanscope writes
            code = process.wait(timeout=HANG)
            err = process.stderr.read()
        assert "Broken pipe" not in err and "Traceback" not in err, err
        assert code == expected, err


def test_a_fifo_with_no_writer_is_refused_not_waited_for(tmp_path: Path) -> None:
    fifo = tmp_path / "traces.jsonl"
    os.mkfifo(fifo)
    done = fanscope("analyze", str(fifo))
    assert done.returncode == 2
    assert "named pipe with nothing writing to it" in one_line_error(done.stderr)


def test_a_fifo_with_a_writer_is_read(tmp_path: Path) -> None:
    source = traces_file(tmp_path / "source.jsonl").read_bytes()
    fifo = tmp_path / "traces.jsonl"
    os.mkfifo(fifo)

    def write() -> None:  # as bash's <(command): a writer waiting for its reader
        with open(fifo, "wb") as pipe:
            pipe.write(source)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    done = fanscope("analyze", str(fifo), "--format", "json")
    writer.join(timeout=HANG)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["traces"][0]["spans"] == 2


def test_a_folder_skips_what_it_cannot_read_and_strict_refuses(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    traces_file(folder / "a.jsonl")
    (folder / "empty.jsonl").write_text("")
    (folder / "package.json").write_text('{"name": "left-pad"}')
    os.mkfifo(folder / "pipe.jsonl")  # never opened: it would wait for a writer
    done = fanscope("analyze", str(folder), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["traces"][0]["spans"] == 2
    warnings = done.stderr + done.stdout
    for name in ("empty.jsonl", "package.json", "pipe.jsonl"):
        assert name in warnings
    strict = fanscope("analyze", str(folder), "--strict")
    assert strict.returncode == 2
    assert "empty.jsonl" in one_line_error(strict.stderr)


def test_a_folder_with_nothing_readable_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    done = fanscope("analyze", str(tmp_path))
    assert done.returncode == 2
    assert "no readable trace file" in one_line_error(done.stderr)


def test_the_trace_id_a_report_prints_is_accepted_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["5b8efff798038103d269b633813fc60c", "5b8efff798038103aaaaaaaaaaaaaaaa",
           "0123456789abcdef0123456789abcdef"]  # fmt: skip
    spans = []
    for tid in ids:
        root = span("agent", 0, 100, trace=tid, fanscope__role="step")
        spans += [root, span("call", 1, 99, root, trace=tid)]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines(spans)) + "\n")

    def analysed(trace_id: str) -> tuple[int, str]:
        code = main(["analyze", str(path), "--trace-id", trace_id, "--format", "json"])
        out, err = capsys.readouterr()
        return code, out if code == 0 else err

    code, out = analysed("0123456789abcdef")  # the first 16 digits, as the reports print
    assert code == 0 and [t["trace_id"] for t in json.loads(out)["traces"]] == [ids[2]]
    code, out = analysed("D269B633813FC60C")  # the end, in capitals
    assert code == 0 and [t["trace_id"] for t in json.loads(out)["traces"]] == [ids[0]]
    code, err = analysed("5b8efff798038103")  # the start of two
    assert code == 2 and "matches 2 traces" in one_line_error(err)
    code, err = analysed("ffff0000")
    assert code == 2 and "no trace with id ffff0000" in one_line_error(err)
    code, err = analysed("not-hex")
    assert code == 2 and "hex digits" in one_line_error(err)


def test_many_tiny_traces_make_a_bounded_html_report(tmp_path: Path) -> None:
    path = traces_file(tmp_path / "many.jsonl", count=3000)
    page = tmp_path / "report.html"
    done = fanscope("analyze", str(path), "--html", str(page))
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert text.count('"trace_id"') <= 3 * 50  # traces drawn: 50 (ids appear in a few places)
    assert "draws the first 50 of 3,000 traces" in text


def test_running_out_of_memory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = traces_file(tmp_path / "many.jsonl", count=20_000)  # 40,000 spans: ~60 MB read
    code = (
        "import os, resource, sys\n"
        "from fanscope.cli import run\n"
        "import fanscope.analysis, fanscope.analysis.report.text\n"
        "size = int(open('/proc/self/statm').read().split()[0]) * os.sysconf('SC_PAGE_SIZE')\n"
        "limit = size + (20 << 20)  # 20 MB more than the interpreter and fanscope take\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "sys.argv = ['fanscope', 'analyze', sys.argv[1], '--format', 'json']\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "not enough memory" in one_line_error(done.stderr)
