"""The installed ``anthropic`` has every hook the instrumentation patches, and one that lacks some
says so: once, naming each missing hook and what is lost, while its calls go on working.

``make test`` runs this against the newest ``anthropic`` the extras allow; ``make test-oldest``
(run by CI) runs it, with the other integration tests, against the oldest (``anthropic==1.14.0``).
A newer release that renames a private hook is reproduced with a copy of the installed package
in which that hook is renamed, as a refactor in the SDK would rename it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import anthropic

from fanscope.integrations.anthropic.instrumentor import FALLBACKS, PATCHES, _owner, _patches


def installed() -> tuple[int, ...]:
    return tuple(int(part) for part in version("anthropic").split(".")[:2])


def test_every_hook_resolves_in_the_installed_anthropic() -> None:
    missing = []
    for module, path, _ in _patches():
        try:
            _owner(module, path)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{path}")
    assert missing == [], f"anthropic {version('anthropic')} lacks {missing}"


def test_the_answer_hook_is_record_response_from_2_6_and_the_call_end_before() -> None:
    chosen = {(module, path) for module, path, _ in _patches()}
    (primary, fallback), *_ = FALLBACKS.items()
    if installed() >= (2, 6):
        assert primary in chosen and fallback[:2] not in chosen
    else:
        assert primary not in chosen and fallback[:2] in chosen
    assert len(chosen) == len(PATCHES)


SCRIPT = """
import json, anthropic
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

from fanscope.integrations.anthropic import AnthropicInstrumentor
from fanscope.testing import AnthropicStandIn

instrumentor = AnthropicInstrumentor()
instrumentor.instrument()
instrumentor.uninstrument()
instrumentor.instrument()  # a second instrument() names nothing again
answers = []
with AnthropicStandIn(rate_limit_share=0.5, retry_after=0.001, seed=7) as server:
    with anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=8) as client:
        for _ in range(4):
            message = client.messages.create(
                model="claude-haiku-5-5", max_tokens=20,
                messages=[{"role": "user", "content": "Summarize the quarter in two lines"}],
            )
            answers.append(message.content[0].text)
    statuses = dict(server.stats.statuses)
spans = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
print(json.dumps({
    "answers": len(answers),
    "statuses": statuses,
    "spans": [{"events": [e.name for e in s.events], "attributes": sorted(s.attributes)}
              for s in spans],
}))
"""


def renamed_copy(where: Path) -> Path:
    """A copy of the installed anthropic whose private hooks have other names."""
    source = Path(anthropic.__file__).parent
    target = where / "anthropic"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, old, new in (
        ("_base_client.py", "_sleep_for_retry", "_pause_before_retry"),
        ("_base_client.py", "finish_api_call_span", "close_api_call_span"),
        (
            "_base_client.py",
            "import OpenTelemetryConfig, close_",
            "import OpenTelemetryConfig, finish_",
        ),
        (
            "_base_client.py",
            "finish_api_call_span\n",
            "finish_api_call_span as close_api_call_span\n",
        ),
        ("_tracing.py", "record_response", "record_call_response"),  # 2.6 and later
    ):
        path = target / name
        text = path.read_text()
        assert old in text or old == "record_response", (name, old)
        path.write_text(text.replace(old, new))
    dist = next(source.parent.glob(f"anthropic-{version('anthropic')}.dist-info"))
    shutil.copytree(dist, where / dist.name)
    return where


def test_hooks_renamed_in_a_newer_anthropic_are_named_once_and_calls_still_work(
    tmp_path: Path,
) -> None:
    # the SDK's own telemetry on (its default): the hooks into its span matter
    env = dict(os.environ, PYTHONPATH=str(renamed_copy(tmp_path)))
    env.pop("ANTHROPIC_OPEN_TELEMETRY", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    warnings = [line for line in done.stderr.splitlines() if "lacks hooks" in line]

    (warning,) = warnings  # once, for every missing hook, though instrument() ran twice
    assert f"anthropic {version('anthropic')} lacks hooks" in warning
    assert (
        "anthropic._base_client.SyncAPIClient._sleep_for_retry, "
        "anthropic._base_client.AsyncAPIClient._sleep_for_retry not found: retries the client "
        "makes inside a call are not recorded" in warning
    )
    # neither the answer hook nor its fallback (the call's end): the primary is named
    assert "anthropic._tracing.record_response not found: while the SDK's own telemetry" in warning
    assert "no finish reasons, GenAI token usage or output fingerprints" in warning
    assert "Traceback" not in done.stderr

    # the calls worked, the client retried, and what the warning said is what happened
    assert result["answers"] == 4 and result["statuses"].get("429", 0) > 0
    assert len(result["spans"]) == 4  # still one GenAI span per call
    for span in result["spans"]:
        assert "fanscope.genai.retry" not in span["events"]
        assert "fanscope.dataflow.inputs" in span["attributes"]  # the request side still works
        assert "fanscope.dataflow.outputs" not in span["attributes"]
        assert "gen_ai.response.finish_reasons" not in span["attributes"]


def test_with_every_hook_in_place_nothing_is_said(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lacks hooks" not in done.stderr
    result = json.loads(done.stdout)
    spans = result["spans"]
    assert len(spans) == 4 and any("fanscope.genai.retry" in s["events"] for s in spans)
    for span in spans:
        assert {"fanscope.dataflow.outputs", "gen_ai.response.finish_reasons"} <= set(
            span["attributes"]
        )
