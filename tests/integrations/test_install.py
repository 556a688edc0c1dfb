"""What configure() installs: the Anthropic instrumentation on import, a word when unconfigured.

Each scenario is a fresh interpreter, as an application would be: imports and the global
provider are process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fanscope.testing.anthropic_server import AnthropicStandIn


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def span_names(path: Path) -> list[str]:
    return [
        span["name"]
        for line in path.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]


def test_configure_does_not_import_anthropic_and_instruments_it_when_the_app_does(
    tmp_path: Path,
) -> None:
    out = tmp_path / "t.jsonl"
    with AnthropicStandIn() as server:
        done = run(
            f"""
            import sys
            import fanscope
            fanscope.configure(trace_file={str(out)!r})
            assert "anthropic" not in sys.modules, "configure() imported anthropic"
            import anthropic
            client = anthropic.Anthropic(base_url={server.url!r}, api_key="k")
            client.messages.create(
                model="claude-haiku-5-5", max_tokens=20,
                messages=[{{"role": "user", "content": "hello"}}],
            )
            """
        )
    assert done.returncode == 0, done.stderr
    assert span_names(out) == ["chat claude-haiku-5-5"]


def test_an_app_that_imported_anthropic_first_is_instrumented_too(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    with AnthropicStandIn() as server:
        done = run(
            f"""
            import anthropic
            import fanscope
            fanscope.configure(trace_file={str(out)!r})
            client = anthropic.Anthropic(base_url={server.url!r}, api_key="k")
            client.messages.create(
                model="claude-haiku-5-5", max_tokens=20,
                messages=[{{"role": "user", "content": "hello"}}],
            )
            """
        )
    assert done.returncode == 0, done.stderr
    assert span_names(out) == ["chat claude-haiku-5-5"]


def test_instrument_anthropic_false_leaves_the_client_alone() -> None:
    done = run(
        """
        import fanscope
        fanscope.configure(trace_file=False, instrument_anthropic=False)
        from anthropic.resources.messages.messages import Messages
        assert type(Messages.__dict__["create"]).__name__ == "function", "patched anyway"
        """
    )
    assert done.returncode == 0, done.stderr


def test_spans_without_any_provider_get_one_warning_naming_configure() -> None:
    done = run(
        """
        import asyncio
        import fanscope

        @fanscope.traced
        async def step(i: int) -> int:
            return i

        @fanscope.parallel(max_concurrency=2)
        async def branch(i: int) -> int:
            return i

        async def main() -> None:
            for i in range(3):
                await step(i)
            await branch.map(range(5))

        asyncio.run(main())
        print("done")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "call fanscope.configure()" in lines[0]


def test_no_warning_once_configured(tmp_path: Path) -> None:
    done = run(
        f"""
        import asyncio
        import fanscope
        fanscope.configure(trace_file={str(tmp_path / "t.jsonl")!r})

        @fanscope.traced
        async def step() -> int:
            return 1

        asyncio.run(step())
        """
    )
    assert done.returncode == 0, done.stderr
    assert "configure()" not in done.stderr


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    done = subprocess.run(
        [sys.executable, "-m", "fanscope", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"fanscope {version('fanscope')}"
