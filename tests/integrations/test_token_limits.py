"""Limits that count tokens, through the real anthropic client against the stand-in's hidden
limits (its own 429s are the ground truth): a fan-out over long inputs paced by tokens gets no
429, where a cap on requests alone lets the provider refuse the tail; the provider's headers
pace a limiter that was given no number at all; a 429's retry-after pauses every call."""

from __future__ import annotations

import anthropic
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import Limiter, parallel
from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.sdk import attributes as A
from fanscope.testing.anthropic_server import AnthropicStandIn
from fanscope.testing.provider import HiddenLimits

MODEL = "claude-haiku-5-5"
ITPM = 12_000  # 200 input tokens a second
# 300 one-letter words: 400 input tokens as the stand-in counts them; a third of the bucket
# refills in the time the last items wait, so a run takes seconds, not a minute
DOCS = [f"Doc {i}: " + " ".join("abcdefghij"[(i + k) % 10] for k in range(300)) for i in range(33)]


def fan_out(server: AnthropicStandIn, key: str, limiter: Limiter) -> list[bool]:
    client = anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0)

    @parallel(limiter=limiter)
    def summarize(doc: str) -> str:
        m = client.messages.create(
            model=MODEL, max_tokens=30, messages=[{"role": "user", "content": doc}]
        )
        return m.content[0].text  # type: ignore[union-attr]

    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    try:
        with client:
            return [o.ok for o in summarize.map(DOCS, on_error="collect")]
    finally:
        instrumentor.uninstrument()


def test_a_token_limit_paces_a_fan_out_the_provider_would_refuse_in_part(
    exporter: InMemorySpanExporter,
) -> None:
    hidden = HiddenLimits(input_tokens_per_minute=ITPM)
    with AnthropicStandIn(limits=hidden) as server:
        # a cap of requests alone (the headers ignored)
        plain = fan_out(server, "plain", Limiter(8, follow_headers=False))
        assert not all(plain) and server.stats.statuses.get(429, 0) == plain.count(False)
        server.stats.statuses.clear()
        tokens = Limiter(8, input_tokens_per_minute=ITPM, follow_headers=False, name="itpm")
        paced = fan_out(server, "paced", tokens)
        assert all(paced)
        assert server.stats.statuses == {200: len(DOCS)}
    chats = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    paced_chats = [  # (a call of an earlier test may end late: only this limiter's calls)
        s
        for s in chats
        for e in s.events
        if e.name == A.EVENT_PERMIT_RESERVED and "itpm" in (e.attributes or {})[A.PERMIT_HOLDERS]
    ]
    assert len(paced_chats) == len(DOCS)
    for span in paced_chats:
        reserved, settled = (
            next(e for e in span.events if e.name == name).attributes or {}
            for name in (A.EVENT_PERMIT_RESERVED, A.EVENT_PERMIT_SETTLED)
        )
        # reserved: an upper bound of the input and max_tokens; settled: what was used
        assert reserved[A.PERMIT_INPUT_TOKENS] >= settled[A.PERMIT_INPUT_TOKENS] >= 400
        assert reserved[A.PERMIT_OUTPUT_TOKENS] == 30 >= settled[A.PERMIT_OUTPUT_TOKENS]
        assert A.PERMIT_WORST_CASE_KEPT not in settled
    waits = [
        s
        for s in exporter.get_finished_spans()
        if s.name == A.QUEUE_SPAN_NAME and s.attributes.get(A.QUEUE_LIMITER) == "itpm"
    ]
    assert waits and {s.attributes[A.QUEUE_REASON] for s in waits} == {A.QUEUE_REASON_RATE}


def test_the_providers_headers_pace_a_limiter_given_no_number() -> None:
    hidden = HiddenLimits(input_tokens_per_minute=ITPM)
    with AnthropicStandIn(limits=hidden) as server:
        # the first answers announce the bucket; the calls after them wait for what remains
        outcomes = fan_out(server, "heard", Limiter(8, name="provider"))
        assert all(outcomes)
        assert server.stats.statuses == {200: len(DOCS)}


def test_a_429s_retry_after_pauses_every_call_under_the_limiter() -> None:
    with AnthropicStandIn(limits=HiddenLimits(requests_per_minute=6)) as server:
        limiter = Limiter(1, name="provider", follow_headers=False)
        outcomes = fan_out_small(server, limiter, 9)
        # six fit the bucket; the 429 that follows (retry-after: about ten seconds) pauses
        # the limiter: no call is sent while the pause lasts (the fan-out's deadline ends the
        # rest), so the provider sees one refused call, not one per remaining item
        assert outcomes.count(True) == 6
        assert server.stats.statuses == {200: 6, 429: 1}
        assert limiter.paused_for() > 0


def fan_out_small(server: AnthropicStandIn, limiter: Limiter, n: int) -> list[bool]:
    client = anthropic.Anthropic(base_url=server.url, api_key="small", max_retries=0)

    @parallel(limiter=limiter)
    def ask(i: int) -> str:
        m = client.messages.create(
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": f"q{i}"}]
        )
        return m.content[0].text  # type: ignore[union-attr]

    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()
    try:
        with client:
            return [o.ok for o in ask.map(range(n), on_error="collect", deadline=5)]
    finally:
        instrumentor.uninstrument()
