"""Under the real ``opentelemetry-instrument`` command, next to another Anthropic instrumentation.

Auto-instrumentation loads every installed instrumentor by entry point, in an order the user
cannot choose. When the other one ends up outside ours, each call gets two spans and fanscope
warns once; the fix the warning gives must be one that works there, so this test applies it
exactly as printed and checks that each call then has one span.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fanscope.testing.anthropic_server import AnthropicStandIn

pytest.importorskip("opentelemetry.instrumentation.anthropic")

APP = textwrap.dedent(
    """
    import os, sys
    import anthropic
    import fanscope

    fanscope.configure(service_name="agent", trace_file=sys.argv[1])
    client = anthropic.Anthropic(base_url=os.environ["AGENT_BASE_URL"], api_key="k")
    for question in ["revenue?", "margin?", "risk?"]:
        client.messages.create(
            model="claude-haiku-5-5", max_tokens=20,
            messages=[{"role": "user", "content": question}],
        )
    """
)


def instrumented_run(tmp_path: Path, name: str, env: dict[str, str]) -> tuple[list[str], str]:
    command = shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable))
    assert command is not None, "opentelemetry-instrument is not installed next to python"
    app, out = tmp_path / "app.py", tmp_path / f"{name}.jsonl"
    app.write_text(APP)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env)
    done = subprocess.run(
        [command, sys.executable, str(app), str(out)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = [
        span["name"]
        for line in out.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    return names, done.stderr


def test_the_warnings_fix_gives_one_span_per_call_under_opentelemetry_instrument(
    tmp_path: Path,
) -> None:
    with AnthropicStandIn() as server:
        base = {"AGENT_BASE_URL": server.url, "OTEL_TRACES_EXPORTER": "none"}
        names, stderr = instrumented_run(tmp_path, "both", base)
        warnings = [line for line in stderr.splitlines() if "another instrumentation" in line]
        if len(names) == 3:  # the other one was loaded inside ours: silenced, nothing to fix
            assert warnings == []
            return
        assert len(names) == 6, names
        assert len(warnings) == 1, stderr
        fix = re.search(r"set (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS)=([\w,.-]+)", warnings[0])
        assert fix is not None, warnings[0]
        names, stderr = instrumented_run(tmp_path, "fixed", {**base, fix[1]: fix[2]})
    assert names == ["chat claude-haiku-5-5"] * 3
    assert "another instrumentation" not in stderr
