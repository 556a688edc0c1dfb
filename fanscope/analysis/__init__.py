"""The critical-path analyzer: read traces back and say where the time went.

    from fanscope.analysis import analyze, read_files
    report = analyze(read_files(["traces.jsonl"]).spans)
    report = analyze(exporter.get_finished_spans())   # OpenTelemetry SDK spans, as they are
    report.to_dict()          # the versioned JSON schema every report format is drawn from

The API and the schema are documented in ``docs/analysis.md``.

Nothing here is imported by ``import fanscope``.
"""

from fanscope.analysis.analyze import Report, TraceReport, analyze
from fanscope.analysis.readers import (
    ReadResult,
    from_readable_spans,
    parse_text,
    read_file,
    read_files,
)

__all__ = [
    "ReadResult",
    "Report",
    "TraceReport",
    "analyze",
    "from_readable_spans",
    "parse_text",
    "read_file",
    "read_files",
]
