"""The report of adaptive limits: a real run of ``max_concurrency="auto"`` through the anthropic
client against the stand-in's hidden concurrency limit, read back from its spans; and the
definitions (converged, still growing, time below) on hand-built events."""

from __future__ import annotations

import json

import anthropic
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Adaptive, Limiter, parallel
from fanscope.analysis import analyze, from_readable_spans
from fanscope.analysis.model import Span
from fanscope.analysis.report import html, markdown, text
from fanscope.analysis.report import limits as words
from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.sdk import attributes as A
from fanscope.testing.anthropic_server import AnthropicStandIn
from fanscope.testing.provider import HiddenLimits
from tests.analysis.builders import MS, TRACE, span

HIDDEN = 3  # requests the provider takes at once; the fourth gets a 429
NAME = "auto <b>|*x*"  # a limiter's name is the trace's text: untrusted in every output


def test_a_real_auto_limit_is_reported_as_it_converged_against_the_hidden_limit(
    exporter: InMemorySpanExporter,
) -> None:
    limiter = Limiter(
        max_concurrency="auto",
        # latency on a loaded test machine is noise (a starved process sees answers 20 times
        # slower): only the provider's 429s should cut here
        adaptive=Adaptive(initial=1, min=1, max=12, tolerance=1000),
        follow_headers=False,
        name=NAME,
    )
    with AnthropicStandIn(latency=0.05, limits=HiddenLimits(max_concurrency=HIDDEN)) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="auto", max_retries=3)

        @parallel(limiter=limiter)
        def ask(i: int) -> str:
            m = client.messages.create(
                model="claude-haiku-5-5",
                max_tokens=5,
                messages=[{"role": "user", "content": f"q{i}"}],
            )
            return m.content[0].text  # type: ignore[union-attr]

        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument()
        try:
            with client:
                outcomes = ask.map(range(60), on_error="collect")
        finally:
            instrumentor.uninstrument()
        refused = server.stats.statuses.get(429, 0)
    assert all(o.ok for o in outcomes)
    spans = from_readable_spans(exporter.get_finished_spans())
    report = analyze(spans).to_dict()
    (trace,) = [t for t in report["traces"] if t["limits"]]
    (lim,) = trace["limits"]

    # what the controller decided, as its events say, one by one
    events = sorted((t, a) for s in spans for t, name, a in s.events if name == A.EVENT_LIMIT)
    assert events and all(a[A.LIMIT_NAME] == NAME for _, a in events)
    steps = [(a[A.LIMIT_OLD], a[A.LIMIT_NEW], a[A.LIMIT_REASON]) for _, a in events]
    assert lim["name"] == NAME
    assert (lim["start"], lim["final"]) == (1, steps[-1][1])
    assert lim["min"] == 1 and lim["max"] == max(new for _, new, _ in steps)
    cuts = [why for old, new, why in steps if new < old]
    assert lim["decreases"] == len(cuts) and lim["increases"] == len(steps) - len(cuts)
    assert lim["causes"] == {why: cuts.count(why) for why in set(cuts)}

    # against the provider's hidden limit: it went past it (the 429s the stand-in sent), was
    # cut for overload, and settled no higher than one probe above it
    assert refused >= 1 and lim["max"] > HIDDEN
    assert lim["causes"].get("overload", 0) >= 1
    assert 1 <= lim["converged"] <= HIDDEN + 1
    # it started at 1: the climb to the converged limit is time below it
    assert 0 <= lim["below_converged"] < trace["duration"]
    if lim["converged"] > 1:
        assert lim["below_converged"] > 0
    assert lim["below_share"] == lim["below_converged"] / trace["duration"]

    # the fan-out's branches waited for this limiter: no one cap is named for it (the span
    # records where it started), the limit's own line says what it did
    (wait,) = [w for w in trace["queue_waits"] if w["limiter"] == NAME]
    assert wait["max_concurrency"] is None

    sentence = words.limit(lim, lambda s: s)
    assert sentence.startswith(f"limit '{NAME}': converged to {lim['converged']} (started at 1")
    shown = text.render(report)
    assert f"converged to {lim['converged']}" in shown and "'auto <b>|*x*'" in shown
    md = markdown.render(report)
    assert "Adaptive limits:" in md and "auto <b>|*x*" not in md  # escaped for Markdown
    page = html.render(report, spans)
    assert "<b>|" not in page and "converged to" in page


def _limit_event(ms: float, old: int, new: int, reason: str, name: str = "llm") -> tuple:
    attrs = {A.LIMIT_NAME: name, A.LIMIT_OLD: old, A.LIMIT_NEW: new, A.LIMIT_REASON: reason}
    return (int(ms * MS), A.EVENT_LIMIT, attrs)


def _trace(events: list[tuple], end_ms: float = 100) -> list[Span]:
    root = span("agent", 0, end_ms, trace=TRACE)
    root.events.extend(events)
    return [root]


def test_converged_is_the_median_cap_of_the_second_half_and_time_below_counts_the_climb() -> None:
    # 2 -> 4 at 10 ms, -> 8 at 20 ms, 429 at 60 ms: 8 -> 5, 5 -> 6 at 70 ms, held to 100 ms
    events = [
        _limit_event(10, 2, 4, "grow"),
        _limit_event(20, 4, 8, "grow"),
        _limit_event(60, 8, 5, "overload"),
        _limit_event(70, 5, 6, "grow"),
    ]
    (lim,) = analyze(_trace(events)).to_dict()["traces"][0]["limits"]
    # second half (50-100 ms): 8 for 10 ms, 5 for 10 ms, 6 for 30 ms: the median is 6
    assert lim["converged"] == 6 and not lim["still_growing"]
    # below 6: 2 (0-10), 4 (10-20), 5 (60-70): 30 ms of 100
    assert abs(lim["below_converged"] - 0.030) < 1e-12 and abs(lim["below_share"] - 0.3) < 1e-9
    assert (lim["start"], lim["final"], lim["min"], lim["max"]) == (2, 6, 2, 8)
    assert (lim["increases"], lim["decreases"], lim["causes"]) == (3, 1, {"overload": 1})
    assert words.limit(lim, lambda s: s) == (
        "limit 'llm': converged to 6 (started at 2, ended at 6; 2-8); 1 decrease (1 overload), "
        "3 increases; below 6 for 30 ms (30% of the trace)"
    )


def test_a_limit_that_only_grew_in_the_second_half_is_still_growing() -> None:
    events = [_limit_event(t, n, n + 1, "grow") for n, t in enumerate(range(10, 100, 10), 1)]
    (lim,) = analyze(_trace(events)).to_dict()["traces"][0]["limits"]
    assert lim["still_growing"] and lim["final"] == 10
    assert words.limit(lim, lambda s: s).startswith(
        f"limit 'llm': still growing when the trace ended (median {lim['converged']})"
    )


def test_malformed_limit_events_are_ignored_and_limiters_are_kept_apart() -> None:
    events = [
        _limit_event(10, 4, 2, "timeout", name="a"),
        _limit_event(20, 8, 9, "grow", name="b"),
        (int(30 * MS), A.EVENT_LIMIT, {A.LIMIT_NAME: "a", A.LIMIT_OLD: "x", A.LIMIT_NEW: 3}),
        (int(40 * MS), A.EVENT_LIMIT, {A.LIMIT_OLD: 1, A.LIMIT_NEW: 3}),
    ]
    limits = analyze(_trace(events)).to_dict()["traces"][0]["limits"]
    assert [(x["name"], x["start"], x["final"], x["causes"]) for x in limits] == [
        ("a", 4, 2, {"timeout": 1}),
        ("b", 8, 9, {}),
    ]
    assert analyze(_trace([])).to_dict()["traces"][0]["limits"] == []
    json.dumps(limits)  # plain JSON


CHANGES = st.lists(
    st.tuples(
        st.integers(0, 100),  # ms
        st.integers(1, 40),
        st.integers(1, 40),
        st.sampled_from(["grow", "overload", "timeout", "latency", "??"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=100, deadline=None)
@given(CHANGES)
def test_the_limit_report_holds_its_invariants_for_any_events(
    changes: list[tuple[int, int, int, str]],
) -> None:
    events = [_limit_event(ms, old, new, why) for ms, old, new, why in changes if old != new]
    limits = analyze(_trace(events)).to_dict()["traces"][0]["limits"]
    if not events:
        assert limits == []
        return
    (lim,) = limits
    ordered = sorted((ms, old, new) for ms, old, new, _ in changes if old != new)
    assert lim["min"] <= min(lim["start"], lim["final"], lim["converged"])
    assert lim["max"] >= max(lim["start"], lim["final"], lim["converged"])
    assert lim["increases"] + lim["decreases"] == len(events)
    assert sum(lim["causes"].values()) == lim["decreases"]
    assert lim["decreases"] == sum(1 for _, old, new in ordered if new < old)
    assert 0 <= lim["below_converged"] <= 0.100 + 1e-12 and 0 <= lim["below_share"] <= 1
    assert lim["converged"] in {c for _, o, n in ordered for c in (o, n)}
    if lim["converged"] == lim["min"]:
        assert lim["below_converged"] == 0
    words.limit(lim, lambda s: s)  # every report can say it
