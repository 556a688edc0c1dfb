"""The public surface: __all__, reprs and a light import (the span contract: see
test_conventions.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fanscope

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
        " 'google.protobuf', 'fanscope.analysis', 'fanscope.sdk.fanout', 'genai_prices',"
        " 'pydantic']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_limiters_with_or_without_a_redis_backend_do_not_import_redis_until_one_is_made() -> None:
    code = (
        "import sys, fanscope\n"
        "fanscope.Limiter(4); fanscope.RedisBackend; fanscope.parallel\n"
        "print('redis' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
