"""A trace file is untrusted input in every field, not only its span names.

``test_untrusted_text.py`` puts hostile span names into one trace shape. Here every field a
report prints is hostile at once, in a trace that goes through every part of the analysis
(sequential steps and their call sites, a fan-out behind a named cap with retries and a
failed branch, a hedge, model calls with models, costs and tokens, a budget that refused a
call, a limit that changed, an exporter's drop record), and the numbers are hostile too
(NaN, infinities, negative, huge, of the wrong type). Every command (``analyze`` in each
format and ``--html``, ``convert`` both ways, ``diff``) must then print the text inert or
refuse the file in one line, never raise, and keep the claims a CI gate rests on: names
change no verdict, and no metric is NaN (``NaN > limit`` is false: a gate would pass).

Reproductions: a bidi override or a C1 control (the 8-bit CSI ``\\x9b``) went raw into the
JSON report (the JSON encoder escapes only C0 controls); a NaN attribute made the HTML page's
data ``NaN``, which ``JSON.parse`` refuses, so the page drew nothing; a call site naming
``/dev/zero`` read until memory ran out, a FIFO hung the analyzer, and a NUL in the path
raised ``ValueError`` out of ``fanscope analyze``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fanscope.analysis import analyze
from fanscope.analysis.convert import to_otlp_lines
from fanscope.analysis.model import Span
from fanscope.analysis.report import untrusted
from fanscope.analysis.source import Abstain, SourceIndex
from fanscope.cli import main
from fanscope.sdk import attributes as A
from tests.analysis.builders import span

#: What no output may hold raw: C0 and C1 controls (newlines aside), bidi controls, surrogates.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

HOSTILE = [
    "\x1b]0;pwned\x07",
    "\x9b31mred",  # the 8-bit CSI: a C1 control, which the JSON encoder leaves raw
    "\u202egnp.exe",
    "a\u2028b",
    "step\r\nall gates passed\n",
    "[x](javascript:alert(1))",
    "![i](http://127.0.0.1:9/t.png)",
    "<img src=x onerror=window.__pwned=1>",
    "</script><script>window.__pwned=2</script>",
    "a | b",
    "@@",
    "$x$",
    "bad\udc80",
    "x\x00y",
    "",
]
HOSTILE_NUMBERS = [math.nan, math.inf, -math.inf, -1.0, -(2**63), 2**64, 1e308, "7", True, [1]]

#: Any text: hostile samples, or any characters (lone surrogates and controls included).
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
)
NUMBER = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
)

#: The fields of :func:`rich_trace` that hold trace text the reports print.
TEXT_SLOTS = [
    "service", "root", "step", "file", "function", "fanout", "limiter", "branch", "error",
    "error_type", "model", "unknown", "hedge_outcome", "budget", "limit", "destination", "event",
]  # fmt: skip
#: The fields that hold numbers the analysis adds, compares or divides.
NUMBER_SLOTS = ["tokens", "usd", "wait", "line", "attempt", "delay", "old", "new", "dropped"]


def rich_trace(text: dict[str, str], numbers: dict[str, Any] | None = None) -> list[Span]:
    """One trace through every part of the analysis, ``text`` and ``numbers`` in its fields."""
    n: dict[str, Any] = {"tokens": 120, "usd": 0.01, "wait": 0.005, "line": 3, "attempt": 1,
                         "delay": 0.001, "old": 2, "new": 4, "dropped": 3}  # fmt: skip
    n.update(numbers or {})
    code = {A.CODE_FILE: text["file"], A.CODE_FUNCTION: text["function"], A.CODE_LINE: n["line"]}
    root = span(text["root"], 0, 200, fanscope__role="step", **_kw(code))
    out = [root]
    for i in range(2):  # two steps one after another, no fingerprints: the witness is asked
        out.append(span(text["step"], 1 + 10 * i, 9 + 10 * i, root, fanscope__role="step",
                        **_kw({**code, A.CODE_LINE: n["line"] if i else 5})))  # fmt: skip
    fanout = span(text["fanout"], 30, 120, root, fanscope__role="fanout", fanscope__kind="map",
                  fanscope__function=text["function"], fanscope__fanout__max_concurrency=1,
                  **_kw({A.LIMITER_NAMES: [text["limiter"]], A.BUDGET_NAME: text["budget"],
                         A.BUDGET_LIMIT_USD: 0.5, A.BUDGET_SPENT_USD: n["usd"],
                         A.BUDGET_REFUSED: 1}))  # fmt: skip
    limit = {A.LIMIT_NAME: text["limit"], A.LIMIT_OLD: n["old"], A.LIMIT_NEW: n["new"],
             A.LIMIT_REASON: "grow"}  # fmt: skip
    fanout.events.append((fanout.start + 1_000_000, A.EVENT_LIMIT, limit))
    out.append(fanout)
    for i in range(3):
        start = 31 + 30 * i
        branch = span(text["branch"], start, start + 28, fanout, fanscope__role="branch",
                      fanscope__branch__index=i,
                      fanscope__branch__outcome="error" if i == 2 else "ok",
                      fanscope__branch__attempts=n["attempt"])  # fmt: skip
        queue = span(A.QUEUE_SPAN_NAME, start, start + 5, branch, fanscope__role="queue",
                     **_kw({A.QUEUE_LIMITER: text["limiter"], A.QUEUE_REASON: "cap",
                            A.QUEUE_WAIT: n["wait"]}))  # fmt: skip
        retry = {A.RETRY_ATTEMPT: n["attempt"], A.RETRY_DELAY: n["delay"], "exception.message":
                 text["error"], A.ERROR_TYPE: text["error_type"]}  # fmt: skip
        branch.events.append((branch.start + 6_000_000, A.EVENT_RETRY, retry))
        branch.events.append((branch.start + 6_000_000, text["event"], {"x": text["event"]}))
        # the call's site too: the HTML report labels a call by it (file, function, line)
        call = span(f"chat {text['model']}", start + 6, start + 26, branch,
                    **_kw({**code, "gen_ai.operation.name": "chat",
                           "gen_ai.request.model": text["model"],
                           "gen_ai.response.model": text["model"], A.COST_AMOUNT: n["usd"],
                           "gen_ai.usage.input_tokens": n["tokens"],
                           "gen_ai.usage.output_tokens": n["tokens"]}))  # fmt: skip
        if i == 1:
            call.attributes.pop(A.COST_AMOUNT)
            call.attributes[A.COST_UNKNOWN] = text["unknown"]
        if i == 2:
            branch.status, branch.status_message = "error", text["error"]
            branch.attributes[A.ERROR_TYPE] = text["error_type"]
        out += [branch, queue, call]
    outcome = {A.HEDGE_OUTCOME: text["hedge_outcome"], A.HEDGE_DELAY: n["delay"]}
    hedge = span(text["branch"], 60, 80, out[-3], fanscope__role="hedge", **_kw(outcome))
    refused = {A.BUDGET_NAME: text["budget"], A.BUDGET_UNIT: "usd", A.BUDGET_LIMIT_USD: 0.5,
               A.BUDGET_NEEDED: n["usd"]}  # fmt: skip
    hedge.events.append((hedge.start, A.EVENT_BUDGET_STOP, refused))
    dropped = {A.EXPORT_DROPPED: n["dropped"], A.EXPORT_DESTINATION: text["destination"]}
    drops = span(A.EXPORT_SPAN_NAME, 190, 190, root, fanscope__role="export", **_kw(dropped))
    out += [hedge, drops]
    for s in out:
        s.service = text["service"]
    return out


def _kw(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes for :func:`span`, which reads ``__`` in a keyword as a dot."""
    return {key.replace(".", "__"): value for key, value in attributes.items()}


PLAIN = {slot: f"{slot}-name" for slot in TEXT_SLOTS} | {"hedge_outcome": "lost"}


def strict_json(text: str) -> Any:
    """``text`` read as JSON that any parser reads: ``NaN`` and ``Infinity`` are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def run(*argv: str) -> tuple[int, str, str]:
    """``fanscope ARGV`` in this process; an unexpected error raises (``FANSCOPE_DEBUG``)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANSCOPE_DEBUG", "1")


GATES = ["--max-parallelizable", "5%", "--max-queue-wait", "5%", "--max-straggler", "1.01",
         "--max-cost", "0.001", "--max-budget-refused", "0",
         "--max-critical-path", "1ms"]  # fmt: skip


def every_output(tmp_path: Path, spans: list[Span]) -> dict[str, Any]:
    """Every command's output for ``spans``, each checked inert; the gates' exit status."""
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    found: dict[str, Any] = {}
    for fmt in ("text", "markdown", "json"):
        code, out, err = run("analyze", str(path), "--format", fmt, "--html",
                             str(tmp_path / "r.html"), *GATES)  # fmt: skip
        assert code in (0, 1), err
        assert CONTROL.search(out) is None and CONTROL.search(err) is None, (fmt, out, err)
        found[fmt], found["status"] = out, code
    found["json"] = strict_json(found["json"])
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    data = page.split('id="fanscope-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data  # nothing in the data element can close it
    found["html"] = strict_json(data)  # what the page's JSON.parse reads
    rendered = str(cmarkgfm.github_flavored_markdown_to_html(found["markdown"]))
    assert not re.search(r"<(a|img|script|style|del|math)\b", rendered), rendered
    for to in ("jaeger", "otlp"):
        code, _, err = run("convert", str(path), "--to", to, "-o", str(tmp_path / f"c.{to}"))
        assert code == 0, err
        code, out, err = run("analyze", str(tmp_path / f"c.{to}"), "--format", "json")
        assert code == 0, err
        strict_json(out)
    code, out, err = run("diff", str(path), str(path), "--format", "json", "--max-slowdown", "1%")
    assert code == 0 and CONTROL.search(out + err) is None, err
    strict_json(out)
    return found


def metrics_finite(report: dict[str, Any]) -> None:
    for trace in report["traces"]:
        for key in ("duration", "parallelizable_share", "straggler_ratio", "queue_wait_share"):
            assert math.isfinite(trace[key]), (key, trace[key])
        if trace["cost"] is not None:  # calls of 1e308 each add up to more than a float holds
            spent = trace["cost"]["usd"]  # written as "Infinity", as the JSON report writes it
            assert spent == "Infinity" or (isinstance(spent, float) and not math.isnan(spent))


def test_every_printed_field_hostile_at_once_prints_inert_everywhere(tmp_path: Path) -> None:
    text = {slot: HOSTILE[i % len(HOSTILE)] for i, slot in enumerate(TEXT_SLOTS)}
    hostile = every_output(tmp_path, rich_trace(text))
    plain = every_output(tmp_path, rich_trace(PLAIN))
    assert hostile["status"] == plain["status"] == 1  # the same gates fail, whatever the names
    assert "\\x1b]0;pwned\\x07" in hostile["text"] + hostile["markdown"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.fixed_dictionaries({slot: TEXT for slot in TEXT_SLOTS}),
    numbers=st.dictionaries(st.sampled_from(NUMBER_SLOTS), NUMBER, max_size=4),
)
@example(text=PLAIN, numbers={"usd": 1e308})  # the sum of the calls' costs overflows
def test_any_text_and_numbers_in_any_field_keep_every_output_inert_and_the_gates_sound(
    tmp_path: Path, text: dict[str, str], numbers: dict[str, Any]
) -> None:
    found = every_output(tmp_path, rich_trace(text, numbers))
    metrics_finite(found["json"])
    # names decide nothing: the same numbers under plain names fail the same gates
    path = tmp_path / "plain.jsonl"
    path.write_text("\n".join(to_otlp_lines(rich_trace(PLAIN, numbers))) + "\n")
    status, out, _ = run("analyze", str(path), "--format", "json", *GATES)
    assert found["status"] == status
    failed, plain_failed = found["json"]["gates"]["failed"], strict_json(out)["gates"]["failed"]
    assert [line.split(" (")[0] for line in failed] == [
        line.split(" (")[0] for line in plain_failed
    ]


def test_json_output_escapes_what_a_terminal_acts_on_and_reads_back_whole(
    tmp_path: Path,
) -> None:
    names = ["\x9b31mred", "\u202egnp.exe", "a\u2028b", "x\x85y", "bad\udc80"]
    spans = [span(name, i * 10, i * 10 + 5, trace=f"{i + 1:032x}") for i, name in enumerate(names)]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines(spans)) + "\n")
    code, out, _ = run("analyze", str(path), "--format", "json")
    assert code == 0
    assert CONTROL.search(out) is None and "\\u009b31mred" in out
    roots = {trace["root"] for trace in strict_json(out)["traces"]}
    assert roots == {untrusted.json_document(name) for name in names}  # the text itself


def test_a_non_finite_attribute_keeps_the_html_data_and_the_json_report_json(
    tmp_path: Path,
) -> None:
    root = span("agent", 0, 10, **{"ratio": math.nan, "big": math.inf, "small": -math.inf})
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines([root])) + "\n")
    assert run("analyze", str(path), "--html", str(tmp_path / "r.html"))[0] == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    data = strict_json(page.split('id="fanscope-data">', 1)[1].split("</script>", 1)[0])
    ((row,),) = data["rows"].values()
    assert row["attributes"] == {"ratio": "NaN", "big": "Infinity", "small": "-Infinity"}


@pytest.mark.parametrize("wait", ["abc", [1], math.nan, -5.0])
def test_a_queue_wait_of_the_wrong_type_draws_as_no_wait(tmp_path: Path, wait: Any) -> None:
    root = span("agent", 0, 10)
    queue = span(
        A.QUEUE_SPAN_NAME, 1, 2, root, fanscope__role="queue", fanscope__queue__wait_s=wait
    )
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(to_otlp_lines([root, queue])) + "\n")
    assert run("analyze", str(path), "--html", str(tmp_path / "r.html"))[0] == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    data = strict_json(page.split('id="fanscope-data">', 1)[1].split("</script>", 1)[0])
    assert [row["wait"] for row in data["rows"][root.trace_id]] == [0.0, 0.0]


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "agent.py"
    os.mkfifo(path)
    yield path


def test_a_call_site_naming_a_device_a_fifo_or_no_file_name_abstains(
    tmp_path: Path, fifo: Path
) -> None:
    index = SourceIndex(tmp_path)
    said = {}
    for path in ["/dev/zero", str(fifo), "agent.py", "a\x00b.py", "/x\x00.py", "\ud800.py"]:
        with pytest.raises(Abstain) as why:
            index.module(path)
        said[path] = str(why.value)
    assert said["/dev/zero"] == "/dev/zero is not a regular file"
    assert said["agent.py"] == "agent.py is not a regular file"
    assert said["a\x00b.py"] == "a\x00b.py is not a file name"


def test_analyze_abstains_on_call_sites_that_name_a_fifo_or_a_nul(
    tmp_path: Path, fifo: Path
) -> None:
    for file in [str(fifo), "agent\x00.py", "/dev/zero"]:
        spans = rich_trace(PLAIN | {"file": file})
        report = analyze(spans).to_dict()  # returns: neither hangs nor reads without end
        assert report["traces"][0]["spans"] == len(spans)


# -- on the wire: any value of any type in any field, ids that repeat, parents that cycle ------

KEYS = sorted(
    {v for k, v in vars(A).items() if k.isupper() and isinstance(v, str) and v.count(".") >= 1}
    | {"gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.operation.name"}
)
IDS = [f"{i:016x}" for i in range(1, 6)]


def _wire_number(value: float | int) -> Any:
    if isinstance(value, int):
        return {"intValue": str(value)}
    if math.isfinite(value):
        return {"doubleValue": value}
    return {"doubleValue": "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"}


ANY_VALUE = st.recursive(
    st.one_of(
        TEXT.map(lambda s: {"stringValue": s}),
        NUMBER.filter(lambda n: isinstance(n, int | float)).map(_wire_number),
        st.booleans().map(lambda b: {"boolValue": b}),
        st.sampled_from([{"stringValue": 5}, {"intValue": "abc"}, {}, None, {"doubleValue": "x"}]),
    ),
    lambda inner: st.lists(inner, max_size=3).map(lambda vs: {"arrayValue": {"values": vs}}),
    max_leaves=4,
)
WIRE_ATTRIBUTES = st.lists(
    st.tuples(st.one_of(st.sampled_from(KEYS), TEXT), ANY_VALUE).map(
        lambda kv: {"key": kv[0], "value": kv[1]}
    ),
    max_size=8,
)
WIRE_TIME = st.one_of(
    st.integers(10**18, 10**18 + 10**10).map(str),
    st.sampled_from(["0", "-5", "99999999999999999999999", "x", 5, None, 1.5e18]),
)
WIRE_SPAN = st.fixed_dictionaries(
    {
        "traceId": st.sampled_from(["0af7651916cd43dd8448eb211c80319c", "1" * 32]),
        "spanId": st.sampled_from(IDS),  # duplicates
        "parentSpanId": st.sampled_from([*IDS, "", "zz"]),  # cycles, self-parents, nonsense
        "name": TEXT,
        "kind": st.sampled_from([1, 3, "SPAN_KIND_CLIENT", 99, "x"]),
        "startTimeUnixNano": WIRE_TIME,
        "endTimeUnixNano": WIRE_TIME,
        "attributes": st.tuples(
            st.sampled_from(list(A.VALUES[A.ROLE])),
            st.sampled_from(["map", "vote"]),
            WIRE_ATTRIBUTES,
        ).map(
            lambda t: [
                {"key": A.ROLE, "value": {"stringValue": t[0]}},
                {"key": A.KIND, "value": {"stringValue": t[1]}},
                *t[2],
            ]
        ),
        "events": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.one_of(st.sampled_from(KEYS), TEXT),
                    "timeUnixNano": WIRE_TIME,
                    "attributes": WIRE_ATTRIBUTES,
                }
            ),
            max_size=2,
        ),
        "status": st.fixed_dictionaries(
            {"code": st.sampled_from([0, 1, 2, "STATUS_CODE_ERROR", 7]), "message": TEXT}
        ),
    }
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spans=st.lists(WIRE_SPAN, min_size=1, max_size=7), service=TEXT)
def test_any_value_of_any_type_on_the_wire_is_read_analysed_or_refused_in_one_line(
    tmp_path: Path, spans: list[dict[str, Any]], service: str
) -> None:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    document = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(document) + "\n")  # ASCII: lone surrogates as escapes
    for fmt in ("text", "markdown", "json"):
        code, out, err = run("analyze", str(path), "--format", fmt, "--html",
                             str(tmp_path / "r.html"), *GATES)  # fmt: skip
        assert code in (0, 1, 2) and CONTROL.search(out + err) is None, (out, err)
        if code == 2:  # refused: one line that says why
            assert out == "" and len(err.splitlines()) == 1, err
            return
        if fmt == "json":
            metrics_finite(strict_json(out))
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    strict_json(page.split('id="fanscope-data">', 1)[1].split("</script>", 1)[0])
    code, _, err = run("convert", str(path), "--to", "jaeger", "-o", str(tmp_path / "j.json"))
    assert code == 0, err
    code, out, err = run("analyze", str(tmp_path / "j.json"), "--format", "json")
    assert code == 0, err
    strict_json(out)
    code, out, err = run("diff", str(path), str(tmp_path / "j.json"), "--format", "json")
    assert code == 0, err
    strict_json(out)


# -- Jaeger JSON: tags of any type, references anywhere, processes that are not there --------

JAEGER_VALUE = st.one_of(
    TEXT,
    NUMBER.filter(lambda n: not isinstance(n, float) or math.isfinite(n)),
    st.booleans(),
    st.none(),
    st.sampled_from(["[[[1]]]", "[" * 5000 + "]" * 5000, '["a", {"b": 1}]']),
)
JAEGER_TAG = st.fixed_dictionaries(
    {
        "key": st.one_of(st.sampled_from([*KEYS, "error", "otel.status_code", "span.kind"]), TEXT),
        "type": st.sampled_from(["string", "int64", "float64", "bool", "binary", "x", 5]),
        "value": JAEGER_VALUE,
    }
)
JAEGER_IDS = ["1", "2", "3", "a" * 16, "zz", ""]
JAEGER_TIME = st.one_of(
    st.integers(10**15, 10**15 + 10**7), st.sampled_from([-5, 0, 10**30, "x", None, 1.5])
)
JAEGER_SPAN = st.fixed_dictionaries(
    {
        "traceID": st.sampled_from(["abc", "t1"]),
        "spanID": st.sampled_from(JAEGER_IDS),
        "operationName": TEXT,
        "references": st.lists(
            st.fixed_dictionaries(
                {
                    "refType": st.sampled_from(["CHILD_OF", "FOLLOWS_FROM", "x"]),
                    "traceID": st.sampled_from(["t1", "abc", ""]),
                    "spanID": st.sampled_from(JAEGER_IDS),
                }
            ),
            max_size=2,
        ),
        "startTime": JAEGER_TIME,
        "duration": JAEGER_TIME,
        "tags": st.lists(JAEGER_TAG, max_size=5),
        "logs": st.lists(
            st.fixed_dictionaries(
                {"timestamp": JAEGER_TIME, "fields": st.lists(JAEGER_TAG, max_size=3)}
            ),
            max_size=2,
        ),
        "processID": st.sampled_from(["p1", "p2", 5, None]),
    }
)
JAEGER_PROCESS = st.fixed_dictionaries(
    {"serviceName": TEXT, "tags": st.lists(JAEGER_TAG, max_size=2)}
)


def jaeger_outputs(tmp_path: Path, document: dict[str, Any]) -> int:
    """Every output of a Jaeger JSON file, each checked inert; the status of ``analyze``."""
    path = tmp_path / "j.json"
    path.write_text(json.dumps(document))
    status = 0
    for fmt in ("text", "markdown", "json"):
        status, out, err = run("analyze", str(path), "--format", fmt, "--html",
                               str(tmp_path / "r.html"), *GATES)  # fmt: skip
        assert status in (0, 1, 2) and CONTROL.search(out + err) is None, (out, err)
        if status == 2:  # refused: one line that says why
            assert out == "" and len(err.splitlines()) == 1, err
            return status
        if fmt == "json":
            metrics_finite(strict_json(out))
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    strict_json(page.split('id="fanscope-data">', 1)[1].split("</script>", 1)[0])
    code, _, err = run("convert", str(path), "--to", "otlp", "-o", str(tmp_path / "o.jsonl"))
    assert code == 0, err
    code, out, err = run("analyze", str(tmp_path / "o.jsonl"), "--format", "json")
    assert code == 0, err
    return status


def test_a_jaeger_process_tag_that_cannot_be_read_costs_the_tag_not_the_file(
    tmp_path: Path,
) -> None:
    span_ = {"traceID": "abc", "spanID": "1", "operationName": "agent", "references": [],
             "startTime": 10**15, "duration": 1000, "tags": [], "processID": "p1"}  # fmt: skip
    process = {"serviceName": "agent", "tags": [{"key": "pid", "type": "int64", "value": "x"}]}
    document = {"data": [{"traceID": "abc", "spans": [span_], "processes": {"p1": process}}]}
    assert jaeger_outputs(tmp_path, document) in (0, 1)
    _, out, _ = run("analyze", str(tmp_path / "j.json"), "--format", "json")
    assert strict_json(out)["traces"][0]["service"] == "agent"


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spans=st.lists(JAEGER_SPAN, min_size=1, max_size=6),
    processes=st.dictionaries(st.sampled_from(["p1", "p2"]), JAEGER_PROCESS),
)
def test_any_jaeger_document_is_read_analysed_or_refused_in_one_line(
    tmp_path: Path, spans: list[dict[str, Any]], processes: dict[str, Any]
) -> None:
    jaeger_outputs(tmp_path, {"data": [{"traceID": "abc", "spans": spans, "processes": processes}]})


@settings(max_examples=200, deadline=None)
@given(
    value=st.recursive(
        st.one_of(TEXT, NUMBER.filter(lambda n: isinstance(n, int | float)), st.none()),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_json_text_of_any_document_is_strict_json_inert_and_reads_back_what_it_holds(
    value: Any,
) -> None:
    text = untrusted.json_text(value)
    assert CONTROL.search(text) is None and "\n" not in text
    assert strict_json(text) == untrusted.json_document(value)  # nothing changed but escapes


def test_a_jaeger_string_tag_nested_too_deep_for_json_stays_a_string_and_keeps_its_span() -> None:
    from fanscope.analysis.readers import parse_text

    deep = "[" * 100_000 + "]" * 100_000
    span_ = {"traceID": "abc", "spanID": "1", "operationName": "agent", "references": [],
             "startTime": 10**15, "duration": 1000, "processID": "p1",
             "tags": [{"key": "note", "type": "string", "value": deep}]}  # fmt: skip
    document = {"data": [{"traceID": "abc", "spans": [span_], "processes": {"p1": {}}}]}
    (read,) = parse_text(json.dumps(document)).spans
    assert read.attributes["note"] == deep
