"""``docs/conventions.md`` is the contract between the SDK and the analyzer: every key and every
value of a key with a fixed set of values is a constant in ``fanscope/sdk/attributes.py`` and
on that page, both ways, and a real run of the SDK through every path emits nothing else."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest

from fanscope import errors
from fanscope.analysis.model import Span
from fanscope.analysis.readers import read_file
from fanscope.integrations.anthropic import semconv
from fanscope.sdk import attributes as A
from fanscope.sdk.ballot import AGGREGATIONS, Aggregation, DecidedBy
from fanscope.sdk.limits import WaitReason
from fanscope.sdk.outcomes import Status
from fanscope.sdk.policy import OnError
from fanscope.sdk.tracing import error_type

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "conventions.md").read_text()
KEY = re.compile(r"(?:fanscope|error|code|gen_ai\.usage\.cost)\.[a-z_.]+")


def constants(module: object) -> dict[str, str]:
    return {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str)
    }


def documented_keys() -> set[str]:
    """Keys in the first column of the attribute tables (not the values table)."""
    before_values = PAGE.split("\n## Values\n")[0] + PAGE.split("\n## GenAI spans\n")[1]
    key = r"^\| `((?:fanscope|error|code|gen_ai\.usage\.cost)\.[a-z_.]+)` \|"
    return set(re.findall(key, before_values, re.M))


def documented_values() -> dict[str, set[str]]:
    """The "Values" table: key -> the values listed for it."""
    section = PAGE.split("\n## Values\n", 1)[1].split("\n## ", 1)[0]
    table = section.split("| key | values |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    values = {}
    for row in table.splitlines():
        key, listed = re.fullmatch(r"\| `([^`]+)` \| (.*) \|", row).groups()  # type: ignore[union-attr]
        values[key] = set(re.findall(r"`([^`]+)`", listed))
    return values


def declared_keys() -> set[str]:
    keys = set()
    for module in (A, semconv):
        keys |= {v for v in constants(module).values() if KEY.fullmatch(v)}
    # event names are documented as headings and in text, not as table rows
    events = {v for n, v in constants(A).items() if n.startswith("EVENT_")}
    return keys - events - {semconv.EVENT_CLIENT_RETRY}


def test_every_declared_key_is_documented_and_vice_versa() -> None:
    assert declared_keys() - documented_keys() == set()
    assert documented_keys() - declared_keys() == set()


def test_the_values_table_lists_exactly_the_values_of_each_key() -> None:
    assert documented_values() == {key: set(values) for key, values in A.VALUES.items()}
    for key, values in A.VALUES.items():
        assert len(set(values)) == len(values), key
        assert key in constants(A).values()


def test_every_value_is_a_constant_and_every_constant_is_documented() -> None:
    declared = constants(A)
    keys = {v for v in declared.values() if KEY.fullmatch(v)}
    names = {v for n, v in declared.items() if n.endswith("_SPAN_NAME") or n.startswith("EVENT_")}
    values = set(declared.values()) - keys - names - {A.DATAFLOW_PARTIAL}
    listed = {v for vs in A.VALUES.values() for v in vs}
    assert values == listed  # no value constant outside VALUES, no value in it that is not one
    for name, value in declared.items():
        assert f"`{value}`" in PAGE, f"{name} = {value!r} is not in docs/conventions.md"


def test_the_sdks_literal_types_are_the_documented_values() -> None:
    assert set(get_args(Status)) == set(A.VALUES[A.BRANCH_OUTCOME])
    assert set(get_args(OnError)) == set(A.VALUES[A.FANOUT_ON_ERROR])
    # pool: a thread pool's wait; budget: a model call's wait for settlements (permits.py)
    others = {A.QUEUE_REASON_POOL, A.QUEUE_REASON_BUDGET}
    assert set(get_args(WaitReason)) | others == set(A.VALUES[A.QUEUE_REASON])
    assert set(get_args(Aggregation)) == set(AGGREGATIONS) == set(A.VALUES[A.VOTE_AGGREGATION])
    assert set(get_args(DecidedBy)) == set(A.VALUES[A.VOTE_DECIDED_BY])


def test_fanscopes_own_error_types_are_the_documented_ones() -> None:
    assert error_type(TimeoutError()) == A.ERROR_TYPE_TIMEOUT
    assert error_type(errors.DeadlineExceeded("f[0]")) == A.ERROR_TYPE_DEADLINE
    group = [ValueError("bad")]
    assert error_type(errors.FanoutError("x", group)) == A.ERROR_TYPE_FANOUT
    assert error_type(errors.NotEnoughSuccesses("x", group)) == A.ERROR_TYPE_NOT_ENOUGH_SUCCESSES
    assert error_type(errors.NoConsensus("x", None)) == A.ERROR_TYPE_NO_CONSENSUS


# -- a real run -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Span], dict[str, Any]]:
    """``tests/contract_run.py`` under ``configure()``, its spans read back from the file."""
    out = tmp_path_factory.mktemp("contract") / "run.jsonl"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "contract_run.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return read_file(out).spans, json.loads(done.stdout.splitlines()[-1])


def emitted(spans: list[Span]) -> list[tuple[str, str, object]]:
    """``(where, key, value)`` for every fanscope attribute of every span and event."""
    seen = []
    for span in spans:
        ours = A.ROLE in span.attributes
        for key, value in span.attributes.items():
            if ours or key.startswith(("fanscope.", "gen_ai.usage.cost.")):
                seen.append((f"span {span.name!r}", key, value))
        for _, name, attributes in span.events:
            if name.startswith("fanscope."):
                seen.extend((f"event {name!r}", k, v) for k, v in attributes.items())
    return seen


def test_a_run_through_every_path_emits_only_documented_keys(
    run: tuple[list[Span], dict[str, Any]],
) -> None:
    spans, _ = run
    documented = documented_keys()
    undocumented = {(where, key) for where, key, _ in emitted(spans) if key not in documented}
    assert undocumented == set()
    events = {name for span in spans for _, name, _ in span.events}
    assert events <= {A.EVENT_RETRY, "exception"}


def test_a_run_through_every_path_emits_only_documented_values_and_every_one_of_them(
    run: tuple[list[Span], dict[str, Any]],
) -> None:
    spans, used = run
    documented = documented_values()
    extra = {A.ERROR_TYPE: set(used["exceptions"]), A.VOTE_AGGREGATION: set(used["aggregations"])}
    seen: dict[str, set[object]] = {key: set() for key in documented}
    for where, key, value in emitted(spans):
        if key in documented:
            seen[key].add(value)
            allowed = documented[key] | extra.get(key, set())
            assert value in allowed, f"{where}: {key} = {value!r} is not documented"
    # and the run went through every path: each documented value was emitted (drop records
    # are written by exporters that fail, tests/exporters)
    missing = {k: documented[k] - seen[k] for k in documented if documented[k] - seen[k]}
    # the other reasons a call has no cost: tests/integrations/test_anthropic_cost.py
    assert missing.pop(A.COST_UNKNOWN, set()) == set(A.VALUES[A.COST_UNKNOWN]) - {
        A.COST_UNKNOWN_MODEL
    }
    # model calls under limiters and budgets: tests/sdk/test_permits.py, test_adaptive.py and
    # tests/integrations/test_token_limits.py emit these
    for key in (A.BUDGET_UNIT, A.LIMIT_REASON):
        assert missing.pop(key, set()) <= set(A.VALUES[key])
    assert missing.pop(A.QUEUE_REASON, set()) <= {A.QUEUE_REASON_BUDGET}
    assert missing == {A.ROLE: {A.ROLE_EXPORT}}
    assert extra[A.VOTE_AGGREGATION] <= seen[A.VOTE_AGGREGATION]
    assert extra[A.ERROR_TYPE] <= seen[A.ERROR_TYPE]
