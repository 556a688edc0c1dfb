"""``fanscope convert --to jaeger`` marks failed spans the way Jaeger UI counts them.

Reproduction: a failed fan-out converted to Jaeger JSON carried only ``otel.status_code=ERROR``;
Jaeger UI's trace list counts a span as an error only by its ``error`` tag, so it said
"Errors 0".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fanscope.analysis.convert import to_otlp_lines
from fanscope.analysis.model import Span
from fanscope.analysis.readers import read_file
from fanscope.cli import main


def jaeger_ui_error_count(trace: dict[str, Any]) -> int:
    """Errors in a trace as Jaeger UI's search results count them.

    Jaeger UI (``getTraceSummary``) counts the spans that have a tag whose key is ``error``
    and whose value is ``true`` or the string ``"true"``; nothing else marks an error there.
    """

    def is_error_tag(tag: dict[str, Any]) -> bool:
        return tag.get("key") == "error" and tag.get("value") in (True, "true")

    return sum(1 for span in trace["spans"] if any(is_error_tag(t) for t in span["tags"]))


def failed_fanout() -> list[Span]:
    tid = "ab" * 16
    fanout = Span(tid, f"{1:016x}", None, "map fetch", 0, 10_000_000)
    fanout.attributes["fanscope.role"] = "fanout"
    fanout.status, fanout.status_message = "error", "2 of 3 branches failed"
    branches = []
    for i in range(3):
        branch = Span(tid, f"{i + 2:016x}", fanout.span_id, "fetch", 0, 9_000_000)
        branch.attributes.update({"fanscope.role": "branch", "fanscope.branch.index": i})
        branch.status = "error" if i < 2 else "ok"
        branches.append(branch)
    # a user's own attribute named "error" (a message) is kept, and still counts as failed
    branches[1].attributes["error"] = "connection reset"
    return [fanout, *branches]


def test_failed_spans_carry_the_error_tag_jaeger_ui_counts(tmp_path: Path) -> None:
    source, out = tmp_path / "run.jsonl", tmp_path / "run.jaeger.json"
    source.write_text("\n".join(to_otlp_lines(failed_fanout())) + "\n")
    assert main(["convert", str(source), "--to", "jaeger", "-o", str(out)]) == 0
    (trace,) = json.loads(out.read_text())["data"]
    assert jaeger_ui_error_count(trace) == 3

    back = {s.span_id: s for s in read_file(out).spans}
    assert [back[f"{i:016x}"].status for i in (1, 2, 3, 4)] == ["error", "error", "error", "ok"]
    assert "error" not in back[f"{1:016x}"].attributes
    assert back[f"{3:016x}"].attributes["error"] == "connection reset"
    assert back[f"{1:016x}"].status_message == "2 of 3 branches failed"
