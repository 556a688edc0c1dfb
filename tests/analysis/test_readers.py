"""Readers: formats detected from content, damage skipped with warnings, one-line errors."""

from __future__ import annotations

import contextlib
import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fanscope.analysis.readers import ReadResult, parse_text, read_file
from fanscope.errors import TraceReadError

OTLP_SPAN = {
    "traceId": "5b8efff798038103d269b633813fc60c",
    "spanId": "eee19b7ec3c1b174",
    "parentSpanId": "eee19b7ec3c1b173",
    "name": "lookup",
    "kind": 3,
    "startTimeUnixNano": "1544712660000000000",
    "endTimeUnixNano": "1544712661000000000",
    "attributes": [
        {"key": "fanscope.role", "value": {"stringValue": "branch"}},
        {"key": "fanscope.branch.index", "value": {"intValue": "3"}},
        {"key": "fanscope.queue.wait_s", "value": {"doubleValue": 0.25}},
        {"key": "ok", "value": {"boolValue": True}},
        {"key": "prints", "value": {"arrayValue": {"values": [{"stringValue": "ab"}]}}},
    ],
    "events": [{"timeUnixNano": "1544712660500000000", "name": "fanscope.retry"}],
    "status": {"code": 2, "message": "boom"},
}
REQUEST = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [{"scope": {"name": "fanscope"}, "spans": [OTLP_SPAN]}],
        }
    ]
}
JAEGER = {
    "data": [
        {
            "traceID": "5b8efff798038103d269b633813fc60c",
            "spans": [
                {
                    "traceID": "5b8efff798038103d269b633813fc60c",
                    "spanID": "eee19b7ec3c1b174",
                    "operationName": "lookup",
                    # a FOLLOWS_FROM listed before the parent must not become the parent
                    "references": [
                        {"refType": "FOLLOWS_FROM", "spanID": "0000000000000001"},
                        {"refType": "CHILD_OF", "spanID": "eee19b7ec3c1b173"},
                    ],
                    "startTime": 1544712660000000,
                    "duration": 1000000,
                    "tags": [
                        {"key": "fanscope.branch.index", "type": "int64", "value": 3},
                        {"key": "otel.status_code", "type": "string", "value": "ERROR"},
                    ],
                    "logs": [
                        {
                            "timestamp": 1544712660500000,
                            "fields": [{"key": "event", "type": "string", "value": "x"}],
                        }
                    ],
                    "processID": "p1",
                }
            ],
            "processes": {"p1": {"serviceName": "svc", "tags": []}},
        }
    ]
}


def test_otlp_json_lines_are_read_with_typed_attributes_and_hex_ids() -> None:
    result = parse_text(json.dumps(REQUEST) + "\n" + json.dumps(REQUEST))
    assert result.formats == ["otlp"]
    span = result.spans[0]
    assert (span.trace_id, span.span_id, span.parent_id) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        "eee19b7ec3c1b173",
    )
    assert span.attributes["fanscope.branch.index"] == 3
    assert span.attributes["fanscope.queue.wait_s"] == 0.25
    assert span.attributes["ok"] is True
    assert span.attributes["prints"] == ["ab"]
    assert span.duration == 1_000_000_000
    assert span.status == "error" and span.status_message == "boom"
    assert span.service == "svc" and span.events[0][1] == "fanscope.retry"


def test_a_pretty_printed_otlp_http_body_is_one_document() -> None:
    result = parse_text(json.dumps(REQUEST, indent=2))
    assert len(result.spans) == 1 and result.warnings == []


def test_base64_ids_from_protobuf_json_are_converted_not_misread() -> None:
    import base64

    body = json.loads(json.dumps(REQUEST))
    raw = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    raw["traceId"] = base64.b64encode(bytes.fromhex(raw["traceId"])).decode()
    raw["spanId"] = base64.b64encode(bytes.fromhex(raw["spanId"])).decode()
    span = parse_text(json.dumps(body)).spans[0]
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.span_id == "eee19b7ec3c1b174"


def test_jaeger_json_prefers_child_of_and_reads_status_and_logs() -> None:
    result = parse_text(json.dumps(JAEGER))
    assert result.formats == ["jaeger"]
    span = result.spans[0]
    assert span.parent_id == "eee19b7ec3c1b173"
    assert span.status == "error"
    assert span.start == 1544712660000000000 and span.duration == 1_000_000_000
    assert span.events == [(1544712660500000000, "x", {})]
    assert span.service == "svc"


def test_a_truncated_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    line = json.dumps(REQUEST)
    path = tmp_path / "t.jsonl"
    path.write_text(line + "\n" + line[: len(line) // 2])
    result = read_file(path)
    assert len(result.spans) == 1
    assert any("truncated" in w and "1 damaged line(s)" in w for w in result.warnings)


def test_malformed_spans_are_skipped_and_counted() -> None:
    body = json.loads(json.dumps(REQUEST))
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({"name": "no ids"})
    spans.append({**OTLP_SPAN, "spanId": "zz", "name": "bad id"})
    spans.append({**OTLP_SPAN, "startTimeUnixNano": "soon"})
    result = parse_text(json.dumps(body))
    assert [s.name for s in result.spans] == ["lookup"]
    assert any("3 malformed span record(s)" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b"hello world", "not JSON"),
        (b'{"something": "else"}', "JSON of an unknown shape"),
        (b'{"resourceSpans": [\n{"broken', "no readable trace data"),
    ],
)
def test_unreadable_files_get_one_line_naming_the_file_and_problem(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(TraceReadError) as info:
        read_file(path)
    message = str(info.value)
    assert message.startswith(str(path)) and problem in message and "\n" not in message


def test_missing_files_and_directories_are_named(tmp_path: Path) -> None:
    with pytest.raises(TraceReadError, match="no such file"):
        read_file(tmp_path / "nope.jsonl")
    with pytest.raises(TraceReadError, match="is a directory"):
        read_file(tmp_path)


def test_folders_expand_to_the_trace_files_in_them(tmp_path: Path) -> None:
    from fanscope.analysis.readers import read_files

    (tmp_path / "a.jsonl").write_text(json.dumps(REQUEST) + "\n")
    (tmp_path / "b.json").write_text(json.dumps(JAEGER))
    (tmp_path / "notes.txt").write_text("not a trace")
    assert len(read_files([tmp_path]).spans) == 2
    with pytest.raises(TraceReadError, match=r"no \.jsonl or \.json trace files"):
        read_files([_empty(tmp_path)])


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def _read_bytes(data: bytes) -> ReadResult | None:
    """``read_file`` on a file holding ``data``; ``None`` when it raised TraceReadError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.jsonl"
        path.write_bytes(data)
        try:
            return read_file(path)
        except TraceReadError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(path))
            return None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_nothing_but_trace_read_error(data: bytes) -> None:
    _read_bytes(data)
    with contextlib.suppress(TraceReadError, UnicodeDecodeError):
        parse_text(data.decode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=6))
def test_arbitrary_bytes_between_good_lines_raise_nothing(chunks: list[bytes]) -> None:
    good = json.dumps(REQUEST).encode()
    result = _read_bytes(b"\n".join([good, *chunks, good]))
    assert result is not None and len(result.spans) >= 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId",
             "startTimeUnixNano", "endTimeUnixNano", "attributes", "key", "value", "data",
             "traceID", "spanID", "references", "tags", "startTime", "duration", "status",
             "code", "events", "intValue", "arrayValue", "values", "processes", "logs"]
        ),
        inner,
        max_size=6,
    ),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_raises_nothing_but_trace_read_error(doc: object) -> None:
    from fanscope.analysis import analyze

    try:
        result = parse_text(json.dumps(doc))
    except TraceReadError:
        return
    analyze(result.spans)  # whatever was read can be analysed without an exception


def _paths(doc: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += _paths(value, (*prefix, index))
    return out


def _mutated(template: dict[str, object], data: st.DataObject) -> object:
    doc: object = copy.deepcopy(template)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)))
        value = data.draw(json_values)
        if not path:
            doc = value
            continue
        holder: Any = doc
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = value
    return doc


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([REQUEST, JAEGER]), st.data())
def test_valid_documents_with_any_value_replaced_raise_nothing_but_trace_read_error(
    template: dict[str, object], data: st.DataObject
) -> None:
    from fanscope.analysis import analyze

    text = json.dumps(_mutated(template, data))
    result = _read_bytes(text.encode())
    if result is not None:
        analyze(result.spans)
    with contextlib.suppress(TraceReadError):
        analyze(parse_text(text).spans)


def _request_with(span: dict[str, object]) -> str:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.parametrize(
    "text",
    [
        _request_with({**OTLP_SPAN, "startTimeUnixNano": 1e400}),  # a float too big for an int
        _request_with({**OTLP_SPAN, "events": [{"timeUnixNano": 1e400}]}),
        '{"data": [{"spans": [{"traceID": "1", "spanID": "2", "startTime": 1e400}]}]}',
        _request_with({**OTLP_SPAN, "attributes": [{"key": "k", "value": {"intValue": "x"}}]}),
        # times past 64 bits: their differences are no float, and analysing them raised
        _request_with({**OTLP_SPAN, "endTimeUnixNano": "1" + "0" * 400}),
        _request_with({**OTLP_SPAN, "events": [{"timeUnixNano": str(2**64)}]}),
        '{"data": [{"spans": [{"traceID": "1", "spanID": "2", "duration": 1e308}]}]}',
        '{"data": [{"spans": [{"traceID": "1", "spanID": "2", "startTime": -1e300}]}]}',
    ],
)
def test_a_span_with_an_unreadable_number_is_skipped_and_counted(text: str) -> None:
    result = parse_text(text)
    assert result.spans == []
    assert any("1 malformed span record(s)" in w for w in result.warnings)


SPAN = OTLP_SPAN


@pytest.mark.parametrize(
    "doc",
    [
        {"resourceSpans": [{"resource": [1], "scopeSpans": [{"scope": "x", "spans": [SPAN]}]}]},
        {"resourceSpans": [{"resource": {"attributes": 1}, "scopeSpans": [{"spans": [SPAN]}]}]},
        {"data": [{**JAEGER["data"][0], "processes": [1]}]},  # type: ignore[index]
    ],
)
def test_containers_of_the_wrong_type_around_a_good_span_keep_the_span(doc: object) -> None:
    (span,) = parse_text(json.dumps(doc)).spans
    assert span.span_id == "eee19b7ec3c1b174"


def test_json_nested_too_deeply_is_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TraceReadError, match="nested too deeply"):
        read_file(path)


def test_uppercase_hex_ids_are_read_as_lowercase_and_one_trace_id_is_shared() -> None:
    upper = {
        **OTLP_SPAN,
        "traceId": OTLP_SPAN["traceId"].upper(),  # type: ignore[attr-defined]
        "spanId": "EEE19B7EC3C1B175",
        "parentSpanId": "EEE19B7EC3C1B174",
    }
    body = json.loads(json.dumps(REQUEST))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"].append(upper)
    first, second = parse_text(json.dumps(body)).spans
    assert (second.trace_id, second.span_id, second.parent_id) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b175",
        "eee19b7ec3c1b174",
    )
    assert first.trace_id == second.trace_id


def _streamed(text: str, chunk: int) -> tuple[list[Any], list[str], int]:
    """Spans read from ``text`` a ``chunk`` characters at a time, the warnings, and the
    largest the stream's buffer grew."""
    import io

    from fanscope.analysis.documents import read_stream
    from fanscope.analysis.jsonstream import JsonStream

    stream = JsonStream(io.StringIO(text).read, chunk=chunk)
    largest = 0
    fill = stream._fill

    def watched(at_least: int = 0) -> bool:
        nonlocal largest
        done = fill(at_least)
        largest = max(largest, len(stream.buf))
        return done

    stream._fill = watched  # type: ignore[method-assign]
    spans: list[Any] = []
    _, warnings = read_stream(stream, "t", spans.extend)
    return spans, warnings, largest


def _jaeger_processes_last() -> dict[str, Any]:
    doc = copy.deepcopy(JAEGER)
    trace = doc["data"][0]  # type: ignore[index]
    trace["processes"] = trace.pop("processes")  # after "spans", as Jaeger writes it
    return doc


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["lines", "pretty", "jaeger", "jaeger-lines", "array"]),
    st.integers(min_value=1, max_value=80),
)
def test_any_chunk_size_reads_the_same_spans(shape: str, chunk: int) -> None:
    text = {
        "lines": json.dumps(REQUEST) + "\n" + json.dumps(REQUEST) + "\n",
        "pretty": json.dumps(REQUEST, indent=3),
        "jaeger": json.dumps(_jaeger_processes_last(), indent=1),
        "jaeger-lines": json.dumps(JAEGER) + "\n" + json.dumps(_jaeger_processes_last()),
        "array": json.dumps([REQUEST, JAEGER]),
    }[shape]
    whole = parse_text(text)
    spans, warnings, _ = _streamed(text, chunk)
    assert spans == whole.spans and warnings == whole.warnings == []
    assert spans and all(s.service == "svc" for s in spans)


def test_members_in_any_order_complete_the_spans_before_them() -> None:
    # resource after its scopeSpans, scope after its spans, processes after the spans
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [{"spans": [OTLP_SPAN], "scope": {"name": "late-scope"}}],
                "resource": REQUEST["resourceSpans"][0]["resource"],  # type: ignore[index]
            }
        ]
    }
    (otlp,) = parse_text(json.dumps(body)).spans
    assert (otlp.service, otlp.scope) == ("svc", "late-scope")
    (jaeger,) = parse_text(json.dumps(_jaeger_processes_last())).spans
    assert jaeger.service == "svc" and jaeger.resource == {"service.name": "svc"}


def test_a_large_document_is_read_in_a_bounded_buffer() -> None:
    doc = copy.deepcopy(JAEGER)
    span_doc = doc["data"][0]["spans"][0]  # type: ignore[index]
    doc["data"][0]["spans"] = [  # type: ignore[index]
        {**span_doc, "spanID": f"{i + 1:016x}"} for i in range(20_000)
    ]
    text = json.dumps(doc, indent=2)
    spans, _, largest = _streamed(text, chunk=4096)
    assert len(spans) == 20_000
    assert len(text) > 10_000_000 and largest < 20_000  # a few chunks, never the document


def test_spans_of_one_process_share_one_resource() -> None:
    doc = copy.deepcopy(JAEGER)
    trace = doc["data"][0]  # type: ignore[index]
    trace["spans"] = [{**trace["spans"][0], "spanID": f"{i + 1:016x}"} for i in range(3)]
    doc["data"].append(copy.deepcopy(trace))  # type: ignore[attr-defined]
    spans = parse_text(json.dumps(doc)).spans
    assert len(spans) == 6 and len({id(s.resource) for s in spans}) == 1
