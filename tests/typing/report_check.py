"""Type-check-only: the report's JSON document is typed (run by ``make test`` through mypy).

Every line marked ``type: ignore[...]`` must stay an error (``warn_unused_ignores``): a key
renamed or misspelt in the analyzer, a renderer, the gates or the pytest plugin is caught
by mypy instead of failing in a user's CI.
"""

from __future__ import annotations

from typing import assert_type

from fanscope.analysis import analyze
from fanscope.analysis.schema import Fanout, Opportunity, PathSegment, ReportDoc, TraceDoc

document = analyze([]).to_dict()
assert_type(document, ReportDoc)
trace: TraceDoc = document["traces"][0]
assert_type(trace["duration"], float)
assert_type(trace["unknown_pairs"], int)
segment: PathSegment = trace["critical_path"][0]
assert_type(segment["within"], str)
fanout: Fanout = trace["fanouts"][0]
assert_type(fanout["max_concurrency"], int | None)
opportunity: Opportunity = trace["opportunities"][0]
assert_type(opportunity["run_together"][0][0]["name"], str)

trace["what_if"]  # type: ignore[typeddict-item]
segment["span"]  # type: ignore[typeddict-item]
fanout["slowest_label"]  # type: ignore[typeddict-item]
document["trace"]  # type: ignore[typeddict-item]
opportunity["keep_after"][0]["steps"]  # type: ignore[typeddict-item]
bad: TraceDoc = {"trace_id": "x"}  # type: ignore[typeddict-item]
