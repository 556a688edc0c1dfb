"""What the ``fanscope_trace`` fixture gives a test: its spans, and assertions on them.

:class:`Capture` holds the spans one test made (an in-memory exporter of the test's own) and
reads them back through the analyzer: the report of each trace, the critical path, the
fan-outs, the opportunities, and the assertions a test makes on them
(:meth:`~Capture.assert_concurrent`, :meth:`~Capture.assert_nothing_parallelizable`). It is
apart from :mod:`fanscope.integrations.pytest_plugin`, which holds pytest's hooks (options,
marker, fixtures, per-test files and the run's summary), because it is the plugin's user-facing
API, used by the test's own code; the analyzer is imported only when a test asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fanscope.analysis import Report, TraceReport
    from fanscope.analysis.dependencies import Witnesses
    from fanscope.analysis.schema import Fanout, Opportunity, ReportDoc


@dataclass
class Capture:
    """The spans of one test and what the analyzer makes of them."""

    nodeid: str
    exporter: Any = None
    provider: Any = None
    witnesses: Witnesses | None = None  # who decides what depends on what (the options)
    _cache: tuple[int, Report] | None = field(default=None, repr=False)

    def finished_spans(self) -> list[Any]:
        """The OpenTelemetry ``ReadableSpan`` objects captured so far."""
        return list(self.exporter.get_finished_spans())

    @property
    def spans(self) -> list[Any]:
        """The captured spans as the analyzer reads them (:class:`fanscope.analysis.model.Span`)."""
        from fanscope.analysis import from_readable_spans

        return from_readable_spans(self.finished_spans())

    def analysis(self) -> Report:
        """The analyzer's :class:`~fanscope.analysis.Report` of every span captured so far."""
        finished = self.finished_spans()
        if self._cache is None or self._cache[0] != len(finished):
            from fanscope.analysis import analyze, from_readable_spans

            spans = from_readable_spans(finished)
            report = analyze(spans, sources=[self.nodeid], witnesses=self.witnesses)
            self._cache = (len(finished), report)
        return self._cache[1]

    def report_dict(self) -> ReportDoc:
        """``analysis().to_dict()``: the JSON schema ``fanscope.report/v1``."""
        return self.analysis().to_dict()

    def traces(self) -> list[TraceReport]:
        """One :class:`~fanscope.analysis.TraceReport` per trace the test made, oldest first."""
        return sorted(self.analysis().traces, key=lambda t: t.start)

    def report(self) -> TraceReport:
        """The analysis of the test's last trace (:class:`~fanscope.analysis.TraceReport`)."""
        traces = self.traces()
        if not traces:
            raise AssertionError(
                "fanscope captured no spans in this test: call code decorated with "
                "@parallel, @vote or @traced inside it"
            )
        return traces[-1]

    def critical_path(self) -> list[str]:
        """Names of the spans on the critical path, in time order, repeats merged."""
        names: list[str] = []
        for segment in self.report().critical_path:
            if segment["duration"] > 0 and (not names or names[-1] != segment["name"]):
                names.append(segment["name"])
        return names

    def fanouts(self) -> list[Fanout]:
        """Each fan-out's statistics, with its slowest branch (``slowest_name``, ``slowest``)."""
        return list(self.report().fanouts)

    def opportunities(self) -> list[Opportunity]:
        """Sequential calls that could have run together (empty when none)."""
        return list(self.report().opportunities)

    def assert_concurrent(self, *names: str) -> None:
        """Assert that every span with one of these names ran at one same moment.

        A name matches a span's name or a ``gather`` branch's keyword name. Every matching
        span counts (``assert_concurrent("summarize")`` checks all the branches of a map were
        in flight together), and at least two spans must match.
        """
        found: list[tuple[str, Any]] = []
        for span in self.spans:
            label = span.attributes.get("fanscope.branch.name") or span.name
            if label in names or span.name in names:
                found.append((label, span))
        missing = [n for n in names if not any(n in (label, s.name) for label, s in found)]
        if missing:
            seen = sorted({s.name for s in self.spans})
            raise AssertionError(
                f"no span named {', '.join(missing)} was captured (spans: {', '.join(seen)})"
            )
        if len(found) < 2:
            raise AssertionError(f"only one span is named {names[0]}: nothing to run alongside")
        latest_start = max(s.start for _, s in found)
        earliest_end = min(s.end for _, s in found)
        if latest_start >= earliest_end:
            origin = min(s.start for _, s in found)
            timeline = ", ".join(
                f"{label} {(s.start - origin) / 1e6:.1f}-{(s.end - origin) / 1e6:.1f} ms"
                for label, s in sorted(found, key=lambda f: f[1].start)
            )
            raise AssertionError(f"{', '.join(names)} did not all run at the same time: {timeline}")

    def assert_nothing_parallelizable(self) -> None:
        """Assert the analyzer found no sequential calls that could have run together."""
        lines = [
            f"{_opportunity(o)} (saves {o['saving'] * 1000:.1f} ms)"
            for t in self.traces()
            for o in t.opportunities
        ]
        if lines:
            raise AssertionError(f"these calls could have run in parallel: {'; '.join(lines)}")


def _opportunity(o: Opportunity) -> str:
    from fanscope.analysis.report.text import opportunity_sentence

    return opportunity_sentence(o)
