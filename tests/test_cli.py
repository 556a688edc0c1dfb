"""The fanscope command: exit codes carry the verdict; output lines are checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fanscope.analysis.convert import to_jaeger, to_otlp_lines
from fanscope.analysis.readers import read_file
from fanscope.cli import main
from tests.analysis.test_whatif import agent_trace, call_site


@pytest.fixture
def sequential(tmp_path: Path) -> Path:
    path = tmp_path / "sequential.jsonl"
    path.write_text("\n".join(to_otlp_lines(agent_trace(sites=True))) + "\n")
    return path


@pytest.fixture
def parallel_run(tmp_path: Path) -> Path:
    spans = agent_trace()
    # the same agent with its lookups run together: each starts at 1 ms
    for s in spans[1:5]:
        s.end, s.start = s.end - s.start + 1_000_000, 1_000_000
    spans[5].start, spans[5].end = 252_000_000, 302_000_000
    spans[0].end = 307_000_000
    path = tmp_path / "parallel.jsonl"
    path.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    return path


def test_analyze_prints_the_critical_path_and_the_saving(
    sequential: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(sequential)]) == 0
    out = capsys.readouterr().out
    assert "total 760 ms" in out
    assert "behind independent calls: 453 ms could be saved (60%)" in out
    lines = [call_site(f"lookup{i}")["code.line.number"] for i in range(4)]
    first, *rest = lines
    rest_lines = ", ".join(f":{n}" for n in rest)
    together = f"run tests/analysis/sequential_agent.py:{first}, {rest_lines}"
    assert together + " together; keep :" in out  # the file is named once
    # one evidence sentence for the chain of lookups, one per input synthesize reads
    assert f":{rest[-1]}, each after the one before: independent: nothing the later" in out
    assert f"sequential_agent.py:{first} -> :" in out and ": dependent (both): `synth" in out
    assert "what-if: 307 ms instead of 760 ms (2.48x)" in out


def test_without_the_source_the_saving_is_a_candidate_unless_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nosource.jsonl"
    path.write_text("\n".join(to_otlp_lines(agent_trace())) + "\n")
    assert main(["analyze", str(path), "--fail-if", "parallelizable > 20%"]) == 0
    out = capsys.readouterr().out
    assert "behind independent calls: nothing found" in out
    assert "candidates (only one witness could look; not counted): 453 ms more" in out
    assert "run lookup0, lookup1, lookup2, lookup3 together" in out
    assert "candidate (fingerprints only); source: no call site was recorded" in out
    args = ["analyze", str(path), "--count-candidates", "--fail-if", "parallelizable > 20%"]
    assert main(args) == 1
    assert "what-if: 307 ms instead of 760 ms" in capsys.readouterr().out


def test_a_source_root_that_is_not_a_folder_is_refused_in_one_line(
    sequential: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(sequential), "--source-root", "no/such/dir"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fanscope: --source-root no/such/dir: no such directory; pass the folder "
                   "your agent's code is in"]  # fmt: skip


def test_the_source_root_is_where_the_files_are_looked_up(
    sequential: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(sequential), "--source-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "behind independent calls: nothing found" in out  # the agent is not under there
    assert "tests/analysis/sequential_agent.py is not under" in out
    # run from the wrong folder, the gate that fails from the right one passes: it says why
    wrong = ["analyze", str(sequential), "--source-root", str(tmp_path)]
    assert main([*wrong, "--fail-if", "parallelizable > 20%"]) == 0
    (warning,) = [line for line in capsys.readouterr().out.splitlines() if "source file" in line]
    assert warning.startswith("warning: 1 source file(s) the trace names are not under ")
    assert "pass --source-root" in warning
    assert main(["analyze", str(sequential)]) == 0  # from the project's root: no such warning
    assert "source file(s) the trace names" not in capsys.readouterr().out


def test_a_failed_gate_exits_1_and_names_it(
    sequential: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(sequential), "--fail-if", "parallelizable > 20%"]) == 1
    err = capsys.readouterr().err
    assert "gate failed: parallelizable > 20%" in err and "parallelizable = 60%" in err
    assert main(["analyze", str(sequential), "--max-critical-path", "1s"]) == 0
    assert main(["analyze", str(sequential), "--max-critical-path", "500ms"]) == 1


def test_gates_come_from_pyproject_too(
    sequential: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.fanscope]\nmax_parallelizable = "50%"\n')
    assert main(["analyze", str(sequential), "--config", str(config)]) == 1
    config.write_text('[tool.fanscope]\nfail_if = ["straggler > 3"]\n')
    assert main(["analyze", str(sequential), "--config", str(config)]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "missing.jsonl"], "missing.jsonl: no such file; fanscope.configure() writes"),
        (["analyze", "{file}", "--fail-if", "speed > 3"], "unknown gate metric 'speed'"),
        (["analyze", "{file}", "--fail-if", "parallelizable >> 3"], "cannot read the gate"),
        (["analyze", "{file}", "--trace-id", "ffff"], "no trace with id ffff"),
        (["analyze", "{file}", "--fail-if", "parallelizable > 200%"], "at most 100%"),
        (["analyze", "{file}", "--max-queue-wait", "150%"], "queue_wait is a share, at most 100%"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    sequential: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main([a.replace("{file}", str(sequential)) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (["analyse", "{file}"], "did you mean 'analyze'?"),
        (["analyze", "{file}", "--fail_if", "parallelizable > 20%"], "did you mean '--fail-if'?"),
        (["analyze", "{file}", "--markdown"], "did you mean '--format markdown'?"),
        (["analyze", "{file}", "--format", "markdwon"], "did you mean 'markdown'?"),
        (["convert", "{file}", "--to", "jager"], "did you mean 'jaeger'?"),
        (["analyze", "{file}", "--format", "html"], "did you mean '--html OUT'?"),
        # `--fail-if parallelizable > 20%` unquoted: the shell made "> 20%" a redirection
        (["analyze", "{file}", "--fail-if", "parallelizable"], "--fail-if 'parallelizable > 20%'"),
        (["analyze", "{file}", "--fail-if", "critical-path"], "--fail-if 'critical_path > 5s'"),
    ],
)
def test_a_misspelt_command_option_or_value_is_answered_with_the_one_meant(
    sequential: Path, capsys: pytest.CaptureFixture[str], args: list[str], meant: str
) -> None:
    assert main([a.replace("{file}", str(sequential)) for a in args]) == 2
    err = capsys.readouterr().err
    assert meant in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["analyze", "convert"])
def test_an_output_in_a_missing_folder_names_the_file_asked_for_not_a_temporary_one(
    sequential: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    out = tmp_path / "no" / "report.html"
    flags = ["--html", str(out)] if command == "analyze" else ["--to", "jaeger", "-o", str(out)]
    assert main([command, str(sequential), *flags]) == 2
    err = capsys.readouterr().err
    assert err == f"fanscope: {out}: cannot be written: no folder {out.parent}; create it first\n"


def test_markdown_and_json_formats(sequential: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(sequential), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("## fanscope: where the time went")
    assert "| critical path | own time | share |" in md
    assert main(["analyze", str(sequential), "--format", "json", "--fail-if", "straggler > 9"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "fanscope.report/v1"
    (trace,) = doc["traces"]
    assert trace["whatif"] == pytest.approx(0.307)
    assert doc["gates"] == {"checked": ["straggler > 9"], "failed": []}


def test_convert_to_jaeger_and_back_keeps_every_span_parent_attribute_and_event(
    tmp_path: Path,
) -> None:
    spans = agent_trace()
    spans[1].events.append((spans[1].start + 5, "fanscope.retry", {"fanscope.retry.attempt": 1}))
    spans[2].status, spans[2].status_message = "error", "boom"
    spans[3].kind, spans[3].scope = 3, "fanscope.anthropic"
    for s in spans:
        s.service, s.resource = "agent", {"service.name": "agent", "host.name": "ci-7"}
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    jaeger, back = tmp_path / "out.json", tmp_path / "back.jsonl"
    assert main(["convert", str(source), "--to", "jaeger", "-o", str(jaeger)]) == 0
    assert "data" in json.loads(jaeger.read_text())
    assert main(["convert", str(jaeger), "--to", "otlp", "-o", str(back)]) == 0

    def key(path: Path) -> list[tuple[object, ...]]:
        return sorted(
            (s.span_id, s.parent_id, s.name, s.start // 1000, s.end // 1000, s.status,
             s.status_message, s.kind, s.service, s.scope, json.dumps(s.resource, sort_keys=True),
             json.dumps(s.attributes, sort_keys=True),
             [(t // 1000, n, json.dumps(a, sort_keys=True)) for t, n, a in s.events])
            for s in read_file(path).spans
        )  # fmt: skip

    assert key(source) == key(jaeger) == key(back)


def test_diff_names_what_got_slower_and_fails_past_the_threshold(
    sequential: Path, parallel_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(sequential), str(parallel_run), "--max-slowdown", "10%"]) == 0
    out = capsys.readouterr().out
    assert "(total)" in out and "760 ms" in out and "307 ms" in out
    assert main(["diff", str(parallel_run), str(sequential), "--max-slowdown", "10%"]) == 1
    assert "slower: (total) 307 ms -> 760 ms" in capsys.readouterr().err


def test_python_dash_m_fanscope_runs_the_same_command(sequential: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fanscope",
            "analyze",
            str(sequential),
            "--fail-if",
            "queue_wait > 1%",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "what-if: 307 ms" in done.stdout


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[tool.fanscope]\nfail_if = 3\n", "fail_if must be a list of gates"),
        ("[tool.fanscope]\nmax_straggler = [3]\n", "max_straggler must be a number or a string"),
        ("[tool.fanscope\n", "fix the TOML syntax"),
        ("tool = 1\n[tool.fanscope]\n", "fix the TOML syntax"),
        ('[tool]\nfanscope = "strict"\n', "[tool.fanscope] is not a table"),
    ],
)
def test_a_bad_tool_fanscope_table_exits_2_with_one_line(
    sequential: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: str,
    message: str,
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(config)
    assert main(["analyze", str(sequential), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_misspelt_gate_in_pyproject_is_warned_about_not_silently_ignored(
    sequential: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.fanscope]\nmax_paralelizable = "20%"\n')
    assert main(["analyze", str(sequential), "--config", str(path)]) == 0
    assert "[tool.fanscope] max_paralelizable sets no gate" in capsys.readouterr().err


@pytest.mark.parametrize("gate", ["parallelizable > 1.2.3", "critical_path > 5 parsecs"])
def test_a_malformed_number_in_a_gate_exits_2(
    sequential: Path, capsys: pytest.CaptureFixture[str], gate: str
) -> None:
    assert main(["analyze", str(sequential), "--fail-if", gate]) == 2
    assert "cannot read the gate" in capsys.readouterr().err


def test_diff_takes_its_threshold_as_a_share(
    sequential: Path, parallel_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(parallel_run), str(sequential), "--max-slowdown", "5s"]) == 2
    assert "--max-slowdown is a share (got '5s')" in capsys.readouterr().err
    assert main(["diff", str(parallel_run), str(sequential), "--max-slowdown", "0.1"]) == 1


def test_diff_lists_the_largest_changes_first_and_as_json(
    sequential: Path, parallel_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(sequential), str(parallel_run), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "fanscope.diff/v1" and doc["slower"] == []
    rows = doc["changes"]
    assert rows[0]["operation"] == "(total)"
    assert rows[0]["delta"] == pytest.approx(0.307 - 0.760)
    deltas = [abs(r["delta"]) for r in rows[1:]]
    assert deltas == sorted(deltas, reverse=True)


def test_convert_to_jaeger_keeps_times_that_are_not_whole_microseconds(tmp_path: Path) -> None:
    spans = agent_trace()
    spans[1].start += 1_999  # just under 2 us later
    spans[1].end += 2_001  # just over 2 us later
    source, jaeger = tmp_path / "in.jsonl", tmp_path / "out.json"
    source.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    assert main(["convert", str(source), "--to", "jaeger", "-o", str(jaeger)]) == 0
    back = {s.span_id: s for s in read_file(jaeger).spans}[spans[1].span_id]
    assert (back.start, back.end) == (spans[1].start // 1000 * 1000, spans[1].end // 1000 * 1000)


def test_help_exits_0_and_names_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-h"]) == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("analyze", "diff", "convert"))


def test_convert_to_otlp_keeps_links_which_jaeger_json_cannot_hold(tmp_path: Path) -> None:
    spans = agent_trace()
    spans[5].links.append((spans[0].trace_id, spans[1].span_id))
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    assert main(["convert", str(source), "--to", "otlp", "-o", str(out)]) == 0
    linked = [s.links for s in read_file(out).spans if s.links]
    assert linked == [[(spans[0].trace_id, spans[1].span_id)]]


def test_a_file_with_no_spans_exits_2_saying_how_to_record_some(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text('{"resourceSpans": []}\n')
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"fanscope: {path}: no spans to analyse; record some with " + (
        "fanscope.configure(trace_file=...)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-if", "parallelizable > 20"], "parallelizable is a share, at most 1 (got"),
        (["--max-queue-wait", "10"], "write 10% or 0.1"),
    ],
)
def test_a_share_written_without_its_percent_sign_is_refused_with_the_fix(
    sequential: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["analyze", str(sequential), *args]) == 2
    assert message in capsys.readouterr().err
    assert main(["analyze", str(sequential), "--fail-if", "parallelizable > 0.2"]) == 1


def test_a_dash_reads_the_traces_from_standard_input(sequential: Path, tmp_path: Path) -> None:
    jaeger = json.dumps(to_jaeger(read_file(sequential).spans))
    page = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "fanscope", "analyze", "-", "--html", str(page)],
        input=jaeger,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "from -" in done.stdout and "what-if: 307 ms instead of 760 ms" in done.stdout
    assert "synthesize" in page.read_text()  # the spans were read once, for both reports
    done = subprocess.run(
        [sys.executable, "-m", "fanscope", "analyze", "-"],
        input="",
        capture_output=True,
        text=True,
        check=False,
    )
    empty = "fanscope: <stdin>: the file is empty; write traces with fanscope.configure()\n"
    assert (done.returncode, done.stderr) == (2, empty)


def test_a_gate_that_holds_is_named_with_the_value_it_held_against(
    sequential: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a CI log showed nothing when a gate held: no sign that it had run at all
    gates = ["--fail-if", "parallelizable > 70%", "--max-critical-path", "1s"]
    assert main(["analyze", str(sequential), *gates, "--fail-if", "cost > $5"]) == 0
    err = capsys.readouterr().err.splitlines()
    trace = next(line for line in err if "parallelizable" in line).split("(trace ")[1][:16]
    assert err == [
        f"gate held: parallelizable > 70% (trace {trace} research: parallelizable = 60%)",
        "gate held: cost > $5",
        f"gate held: critical_path > 1s (trace {trace} research: critical_path = 760 ms)",
    ]
    assert main(["analyze", str(sequential), "--fail-if", "parallelizable > 20%", *gates]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in err] == [
        "gate failed: parallelizable > 20%",
        "gate held: parallelizable > 70%",
        "gate held: critical_path > 1s",
    ]
    for fmt in ("json", "markdown"):  # their output carries the gates; stderr stays quiet
        assert main(["analyze", str(sequential), "--format", fmt, *gates]) == 0
        assert capsys.readouterr().err == ""


def test_html_and_convert_say_what_they_wrote(
    sequential: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # both were silent on success: a newcomer could not tell whether anything was written
    page, jaeger = tmp_path / "report.html", tmp_path / "trace.json"
    assert main(["analyze", str(sequential), "--html", str(page)]) == 0
    assert capsys.readouterr().err == f"fanscope: wrote {page} (1 trace; open it in a browser)\n"
    assert page.read_text().startswith("<!doctype html>")
    assert main(["convert", str(sequential), "--to", "jaeger", "-o", str(jaeger)]) == 0
    spans = len(read_file(sequential).spans)
    assert capsys.readouterr().err == (
        f"fanscope: wrote {jaeger}: 1 trace(s), {spans} spans as Jaeger JSON; Jaeger UI opens it "
        "without a server (Search, Upload JSON)\n"
    )
    assert len(json.loads(jaeger.read_text())["data"][0]["spans"]) == spans
    assert main(["convert", str(sequential), "--to", "jaeger"]) == 0  # to stdout: no line
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def one_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines(agent_trace())) + "\n")
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(word=st.text(min_size=1, max_size=24))
def test_any_word_at_all_after_analyze_is_a_result_or_one_line(one_trace: Path, word: str) -> None:
    # a typo, a stray shell word, a control character: an exit status and at most one line
    # on stderr, never a traceback
    import contextlib
    import io

    assume(word.strip() != "-")  # standard input: a trace read from the terminal
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["analyze", str(one_trace), word])
        except SystemExit as exit_:  # -h / --version print and exit 0
            code = int(exit_.code or 0)
    assert code in (0, 1, 2)
    lines = [line for line in err.getvalue().splitlines() if line]
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("fanscope: "), lines
    assert not any("Traceback" in line for line in lines)
