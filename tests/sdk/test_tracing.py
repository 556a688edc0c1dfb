"""``current_provider()``: the provider fanscope's spans go to, which the Anthropic wrappers ask
for instead of reading fanscope's private state."""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import traced
from fanscope.sdk.tracing import capture, current_provider, use_tracer_provider


def recording() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@traced
def step() -> None:
    return None


def test_current_provider_is_where_the_next_span_goes() -> None:
    (a, into_a), (b, into_b), (c, into_c) = recording(), recording(), recording()
    with use_tracer_provider(a):
        assert current_provider() is a
        step()
        with use_tracer_provider(b):
            assert current_provider() is b
            step()
        assert current_provider() is a
    assert [len(e.get_finished_spans()) for e in (into_a, into_b)] == [1, 1]
    with capture(c):  # every span of the process, whatever the context
        seen: list[object] = []
        worker = threading.Thread(target=lambda: seen.append(current_provider()))
        worker.start()
        worker.join()
        assert seen == [c]
        step()
    assert len(into_c.get_finished_spans()) == 1
    outside = current_provider()
    assert outside is trace.get_tracer_provider()
