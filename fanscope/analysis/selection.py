"""Which traces of the input a report covers, and which the terminal prints.

Every run of an agent configured with a trace file appends its trace to it, so
``traces.jsonl`` grows one trace per run. Decisions (``docs/analysis.md``, "Many traces"):

- ``--last N`` analyses only the N newest traces of the input (by the start of their first
  span): every output, the gates and the per-operation figures cover those N.
- Without it, every trace is analysed, and the gates and per-operation figures cover them all;
  the terminal prints only the newest trace of each file, and one line saying how many earlier
  traces it left out and how to see them (``--all``). Markdown, JSON and HTML, made for CI
  where a file holds one run, include every trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fanscope.analysis.model import Span
from fanscope.analysis.readers import ReadResult, read_files


@dataclass
class Input:
    """Spans read from several files, with the file each trace came from."""

    result: ReadResult
    origin: dict[str, str] = field(default_factory=dict)  # trace id -> file


def read_with_origins(paths: Iterable[str | os.PathLike[str]], strict: bool = False) -> Input:
    """``read_files``, remembering each trace's file (the first file it appears in)."""
    origin: dict[str, str] = {}
    return Input(read_files(paths, strict=strict, origins=origin), origin)


def starts(spans: Iterable[Span]) -> dict[str, int]:
    """Each trace's start: its earliest span's start (ns)."""
    first: dict[str, int] = {}
    for span in spans:
        known = first.get(span.trace_id)
        if known is None or span.start < known:
            first[span.trace_id] = span.start
    return first


def newest(spans: Sequence[Span], n: int) -> list[Span]:
    """The spans of the ``n`` newest traces."""
    begun = starts(spans)
    keep = set(sorted(begun, key=lambda t: begun[t])[-n:]) if n > 0 else set()
    return [s for s in spans if s.trace_id in keep]


def newest_per_file(trace_starts: dict[str, int], origin: dict[str, str]) -> set[str]:
    """The trace id of the newest trace of each file."""
    best: dict[str, str] = {}
    for trace_id, start in trace_starts.items():
        where = origin.get(trace_id, "")
        current = best.get(where)
        if current is None or start > trace_starts[current]:
            best[where] = trace_id
    return set(best.values())
