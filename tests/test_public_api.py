"""The public surface: __all__, reprs, a light import, and the span contract page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import fanscope
from fanscope.sdk import attributes

ROOT = Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_every_name_resolves_with_the_public_module() -> None:
    assert fanscope.__all__ == sorted(fanscope.__all__)
    for name in fanscope.__all__:
        value = getattr(fanscope, name)
        if isinstance(value, type):
            assert value.__module__ == "fanscope", name


def test_unknown_names_raise_attribute_error() -> None:
    try:
        fanscope.nonexistent  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "nonexistent" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_fanscope_stays_light() -> None:
    code = (
        "import sys, fanscope\n"
        "heavy = ['anthropic', 'opentelemetry.exporter', 'opentelemetry.sdk', 'grpc',"
        " 'google.protobuf', 'fanscope.analysis', 'fanscope.sdk.fanout']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def documented_keys() -> set[str]:
    text = (ROOT / "docs" / "conventions.md").read_text()
    return set(re.findall(r"^\| `((?:fanscope|error)\.[a-z_.]+)` \|", text, re.MULTILINE))


def declared_keys() -> set[str]:
    from fanscope.integrations.anthropic import semconv

    keys = set()
    for module in (attributes, semconv):
        for name in dir(module):
            value = getattr(module, name)
            if name.isupper() and isinstance(value, str) and "." in value:
                keys.add(value)
    return keys


def test_every_declared_attribute_is_documented_and_vice_versa() -> None:
    from fanscope.integrations.anthropic import semconv

    declared = {k for k in declared_keys() if k.startswith(("fanscope.", "error."))}
    # event names are documented as headings, not table rows
    declared.discard(attributes.EVENT_RETRY)
    declared.discard(semconv.EVENT_CLIENT_RETRY)
    assert declared - documented_keys() == set()
    assert documented_keys() - declared == set()
