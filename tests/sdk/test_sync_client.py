"""A sync agent over the real ``anthropic`` client: 429s, a shared limiter and timeouts.

The sync face of ``@parallel`` with the sync client against the stand-in on loopback, written
as such agents are (state on ``self``, items parsed from a plan): the cap holds at the server,
429s are retried after the ``retry-after`` the server sent, every GenAI span nests under its
branch, and a call that overruns its timeout is abandoned while the request is still open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anthropic
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Limiter, Retry, parallel
from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.sdk import attributes as A
from fanscope.testing import AnthropicStandIn

HANG = 60.0  # only a hang waits this long
RETRY_AFTER = 0.05


@pytest.fixture
def instrumented() -> Iterator[None]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    try:
        yield
    finally:
        instrumentor.uninstrument()


class Summarizer:
    """A sync agent: one client, notes kept on ``self``, a plan parsed into short strings."""

    limiter = Limiter(3, name="anthropic")

    def __init__(self, url: str) -> None:
        # the client's own retries off: fanscope's Retry handles the 429s
        self.client = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)
        self.notes: dict[str, str] = {}

    @parallel(limiter=limiter, retry=Retry(attempts=20, initial=0.001, max_wait=0.01))
    def summarize(self, topic: str) -> str:
        message = self.client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=[{"role": "user", "content": f"Summarize {topic}"}],
        )
        block = message.content[0]
        assert block.type == "text"
        return block.text

    def run(self, plan: str) -> dict[str, str]:
        topics = [line.strip("- ").strip() for line in plan.splitlines() if line.strip()]
        self.notes = dict(zip(topics, self.summarize.map(topics), strict=True))
        return self.notes


def test_a_sync_fan_out_over_the_real_client_keeps_its_cap_and_honours_retry_after(
    exporter: InMemorySpanExporter, instrumented: None
) -> None:
    plan = "\n".join(f"- topic{i}" for i in range(24))
    with AnthropicStandIn(
        latency=0.02, rate_limit_share=0.3, retry_after=RETRY_AFTER, seed=7
    ) as server:
        agent = Summarizer(server.url)
        try:
            notes = agent.run(plan)
        finally:
            agent.client.close()
        stats = server.stats
    assert list(notes) == [f"topic{i}" for i in range(24)]
    assert all(text.startswith(f"On Summarize {t}:") for t, text in notes.items())
    assert stats.statuses.get(429, 0) > 0, "the stand-in sent no 429: nothing was tested"
    assert stats.peak_concurrency <= 3  # the limiter's cap, seen by the server

    spans = exporter.get_finished_spans()
    branches = {s.context.span_id: s for s in spans if s.name == "summarize"}
    assert len(branches) == 24
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == stats.requests  # every attempt, the refused ones included
    assert all(c.parent is not None and c.parent.span_id in branches for c in chats)
    retries = [
        e.attributes
        for b in branches.values()
        for e in b.events
        if e.name == A.EVENT_RETRY and e.attributes is not None
    ]
    assert len(retries) == stats.statuses[429]
    for event in retries:  # each wait before a retry lasted at least what the server asked
        assert event[A.RETRY_AFTER] == pytest.approx(RETRY_AFTER)
        delay = event[A.RETRY_DELAY]
        assert isinstance(delay, float) and delay >= RETRY_AFTER
    assert all(b.attributes and b.attributes[A.BRANCH_OUTCOME] == "ok" for b in branches.values())


def test_a_lone_sync_call_past_its_timeout_is_abandoned_while_its_request_is_open(
    exporter: InMemorySpanExporter, instrumented: None
) -> None:
    answered = threading.Event()

    with AnthropicStandIn(latency=3.0) as server:  # far past the timeout, even under load
        client = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)

        @parallel(timeout=0.1)
        def ask(question: str) -> str:
            message = client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=50,
                messages=[{"role": "user", "content": question}],
            )
            answered.set()
            return str(message.id)

        try:
            with pytest.raises(TimeoutError):
                ask("What is slow?")
            # the call gave up while the request was still waiting for its answer
            assert not answered.is_set()
            assert answered.wait(HANG)  # the abandoned thread ran the call to its end
        finally:
            client.close()
    (branch,) = [s for s in exporter.get_finished_spans() if s.name == "ask"]
    assert branch.attributes is not None
    assert branch.attributes[A.BRANCH_OUTCOME] == "timeout"
    assert branch.attributes[A.ERROR_TYPE] == "TimeoutError"
