"""OTLP JSON on the wire: one bad value never costs its span or its batch.

Reproduction: one span with a lone surrogate (``"bad\\udc80"``, what ``os.fsdecode`` makes of
an undecodable file name) in an attribute lost the whole batch of 102 spans it was exported
with, and the warning blamed the path and the free space.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from fanscope import otlp_json
from fanscope.analysis.model import Span
from fanscope.analysis.readers import read_file
from fanscope.exporters.files import OTLPJsonFileExporter

#: Any text a program can hold, lone surrogates included (hypothesis leaves them out by default).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)


def batch_of(count: int, bad_at: int, bad: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agent", "host": bad}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("fanscope")
    with tracer.start_as_current_span("map summarize"):
        for i in range(count - 1):
            with tracer.start_as_current_span(bad if i == bad_at else "summarize") as span:
                span.set_attribute("fanscope.branch.index", i)
                if i == bad_at:
                    span.set_attribute("source.path", bad)
                    span.set_attribute("tags", [bad, "ok"])
                    span.add_event("retry", {"why": bad})
                    span.set_status(Status(StatusCode.ERROR, bad))
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_a_lone_surrogate_costs_no_span_of_its_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "traces.jsonl"
    exporter = OTLPJsonFileExporter(path)
    spans = batch_of(102, bad_at=40, bad="bad\udc80")
    with caplog.at_level(logging.WARNING, logger="fanscope"):
        result = exporter.export(spans)
    exporter.shutdown()
    assert result.name == "SUCCESS"
    assert not caplog.records
    raw = path.read_bytes()
    raw.decode("utf-8")  # strict: valid UTF-8 throughout
    read = read_file(path).spans
    assert len(read) == 102
    (bad,) = [s for s in read if s.attributes.get("source.path")]
    assert bad.name == bad.attributes["source.path"] == "bad\ufffd"
    assert bad.attributes["tags"] == ["bad\ufffd", "ok"]
    assert bad.events[0][2] == {"why": "bad\ufffd"}
    assert bad.status == "error" and bad.status_message == "bad\ufffd"
    assert bad.resource["host"] == "bad\ufffd"


def test_a_surrogate_pair_split_in_a_str_is_written_as_its_character(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    exporter = OTLPJsonFileExporter(path)
    exporter.export(batch_of(3, bad_at=0, bad="smile \ud83d\ude00"))
    exporter.shutdown()
    names = {s.name for s in read_file(path).spans}
    assert "smile \U0001f600" in names


def test_doubles_that_are_not_finite_are_written_as_the_otlp_strings_and_read_back() -> None:
    encoded = [otlp_json.any_value(v) for v in (math.nan, math.inf, -math.inf, 1.5)]
    assert [e["doubleValue"] for e in encoded] == ["NaN", "Infinity", "-Infinity", 1.5]
    line = otlp_json.dumps({"values": encoded})  # allow_nan=False: would raise on a bare NaN
    back = [otlp_json.decode_any_value(e) for e in json.loads(line)["values"]]
    assert math.isnan(back[0]) and back[1:] == [math.inf, -math.inf, 1.5]


@given(name=ANY_TEXT, values=st.lists(ANY_TEXT, max_size=3), key=ANY_TEXT)
def test_any_text_is_written_as_valid_utf8_and_read_back_replaced(
    name: str, values: list[str], key: str
) -> None:
    record = otlp_json.span_record(
        "1" * 32, "2" * 16, None, name, 1, 10, 20,
        {key: values, "one": name}, "error", name, [(15, name, {"v": name})],
    )  # fmt: skip
    line = otlp_json.dumps({"resourceSpans": [otlp_json.resource_spans({}, [("s", "", [record])])]})
    line.encode("utf-8")  # never raises
    raw = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span = otlp_json.decode_span(raw, Span, "svc", "s", {}, {})
    assert span is not None
    clean = otlp_json.valid_utf8
    assert span.name == clean(name)
    assert span.attributes[clean(key)] == [clean(v) for v in values] or key == "one"
    assert span.status_message == clean(name)
    assert span.events == [(15, clean(name), {"v": clean(name)})]
