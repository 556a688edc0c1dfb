"""The critical-path analyzer: read traces back and say where the time went.

    from fanscope.analysis import analyze, read_files
    report = analyze(read_files(["traces.jsonl"]).spans)
    report.to_dict()          # the versioned JSON schema every report format is drawn from

Nothing here is imported by ``import fanscope``.
"""

from fanscope.analysis.analyze import Report, TraceReport, analyze
from fanscope.analysis.readers import from_readable_spans, parse_text, read_file, read_files

__all__ = [
    "Report",
    "TraceReport",
    "analyze",
    "from_readable_spans",
    "parse_text",
    "read_file",
    "read_files",
]
