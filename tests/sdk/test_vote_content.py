"""What a vote writes about its answers: with content capture off (the default), keyed hashes
of the answers' keys, never their text; with it on, their text cut short."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import NoConsensus, vote
from fanscope.sdk import attributes as A
from fanscope.sdk import content
from fanscope.sdk.content import CAPTURE_ENV

SECRET = "the launch date is the fourteenth of March, keep it quiet until the board meets"
OTHER = "no launch this year, the budget was cut by a third"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    content.set_capture(None)
    yield
    content.set_capture(None)


def panel(*answers: str) -> Any:
    queue = list(answers)

    async def judge(question: str) -> str:
        await asyncio.sleep(0.001 * len(queue))
        return queue.pop(0)

    return judge


def fanin(exporter: InMemorySpanExporter) -> dict[str, Any]:
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("fan-in ")]
    return dict(span.attributes or {})


def everything(spans: tuple[ReadableSpan, ...]) -> str:
    """Every attribute, event and status message of ``spans`` as one text."""
    parts = []
    for span in spans:
        parts.append(json.dumps(dict(span.attributes or {}), default=str))
        parts.append(span.status.description or "")
        for event in span.events:
            parts.append(json.dumps(dict(event.attributes or {}), default=str))
    return "\n".join(parts)


async def test_by_default_the_count_names_answers_by_keyed_hash_only(
    exporter: InMemorySpanExporter,
) -> None:
    await vote(n=3)(panel(SECRET, SECRET, OTHER))("when?")
    attrs = fanin(exporter)
    winner, counts = attrs[A.VOTE_WINNER], list(attrs[A.VOTE_COUNTS])
    assert len(winner) == 16 and int(winner, 16) >= 0
    assert counts[0] == f"{winner}=2"  # the winner's hash is its row in the counts
    (other,) = [c for c in counts[1:]]
    assert other.endswith("=1") and other[:16] != winner
    text = everything(exporter.get_finished_spans())
    for answer in (SECRET, OTHER):
        assert answer[:12] not in text and repr(answer)[:12] not in text


async def test_the_same_answer_gets_the_same_name_in_every_vote_of_the_process(
    exporter: InMemorySpanExporter,
) -> None:
    await vote(n=1)(panel(SECRET))("when?")
    first = fanin(exporter)[A.VOTE_WINNER]
    exporter.clear()
    await vote(n=1)(panel(SECRET))("when again?")
    assert fanin(exporter)[A.VOTE_WINNER] == first
    exporter.clear()
    await vote(n=1)(panel(OTHER))("when?")
    assert fanin(exporter)[A.VOTE_WINNER] != first


async def test_a_vote_without_winner_says_no_answer_on_its_spans(
    exporter: InMemorySpanExporter,
) -> None:
    with pytest.raises(NoConsensus, match=r"among 2 answers \(votes 1, 1\)") as info:
        await vote(n=2)(panel(SECRET, OTHER))("when?")
    assert info.value.ballot.answers == [SECRET, OTHER]  # the program still has them
    text = everything(exporter.get_finished_spans())
    assert "NoConsensus" in text and SECRET[:12] not in text and OTHER[:12] not in text


@pytest.mark.parametrize("setting", ["true", "span_only"])
async def test_with_capture_on_the_answers_are_shown_cut_short(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(CAPTURE_ENV, setting)
    await vote(n=3)(panel(SECRET, SECRET, OTHER))("when?")
    attrs = fanin(exporter)
    assert attrs[A.VOTE_WINNER] == repr(SECRET)[:63] + "…"
    assert list(attrs[A.VOTE_COUNTS]) == [f"{repr(SECRET)[:39]}…=2", f"{repr(OTHER)[:39]}…=1"]
    with pytest.raises(NoConsensus, match="the launch date"):
        await vote(n=2)(panel(SECRET, OTHER))("when?")


async def test_an_explicit_choice_wins_over_the_variable(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_ENV, "true")
    content.set_capture(False)
    await vote(n=1)(panel(SECRET))("when?")
    assert SECRET[:12] not in fanin(exporter)[A.VOTE_WINNER]


def test_configure_capture_content_turns_it_on_for_votes(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys, fanscope\n"
        "fanscope.configure(trace_file=sys.argv[1], capture_content=sys.argv[2] == 'on')\n"
        "@fanscope.vote(n=1)\n"
        "async def judge(q: str) -> str:\n"
        f"    return {SECRET!r}\n"
        "asyncio.run(judge('when?'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    for setting in ("on", "off"):
        out = tmp_path / f"{setting}.jsonl"
        subprocess.run(
            [sys.executable, "-c", code, str(out), setting], env=env, check=True, timeout=120
        )
        assert (SECRET[:12] in out.read_text()) == (setting == "on")
