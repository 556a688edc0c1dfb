"""The report's JSON document has exactly the keys its typed definitions declare."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, get_type_hints, is_typeddict

from fanscope.analysis import TraceReport, analyze, schema
from fanscope.analysis.dependencies import Witnesses
from fanscope.analysis.fanouts import FanoutStats
from tests.analysis.builders import span


def _report_with_every_object() -> dict[str, Any]:
    """A trace with a fan-out, an opportunity (and a step kept after it) and a critical path."""
    root = span("agent", 0, 400, fanscope__role="step")
    fan = span("map f", 0, 30, root, fanscope__role="fanout", fanscope__fanout__max_concurrency=1)
    budget = {"name": "b", "limit_usd": 0.5, "spent_usd": 0.4, "refused": 0}  # a budget's record
    fan.attributes.update({f"fanscope.budget.{k}": v for k, v in budget.items()})
    branches = [
        span("f", i * 10, i * 10 + 10, fan, fanscope__role="branch", fanscope__branch__index=i)
        for i in range(3)
    ]
    a = span("a", 40, 140, root, fanscope__role="step", fanscope__dataflow__outputs=["x"])
    b = span("b", 150, 250, root, fanscope__role="step", fanscope__dataflow__inputs=["q"],
             fanscope__dataflow__outputs=["y"])  # fmt: skip
    c = span("c", 260, 390, root, fanscope__role="step", fanscope__dataflow__inputs=["x", "y"])
    # no source for these spans: only the fingerprints look, so the pairs are candidates;
    # counted, they make an opportunity, and are listed as candidates too
    counted = Witnesses(count_candidates=True)
    doc = analyze([root, fan, *branches, a, b, c], witnesses=counted).to_dict()
    doc["gates"] = {"checked": [], "failed": []}
    result: dict[str, Any] = json.loads(json.dumps(doc))
    return result


def _check(value: Any, hint: Any, where: str) -> int:
    """Compare ``value`` with its type ``hint`` recursively; return how many objects checked."""
    if is_typeddict(hint):
        assert isinstance(value, dict), where
        hints = get_type_hints(hint)
        assert set(value) >= hint.__required_keys__, (where, hint.__required_keys__ - set(value))
        assert set(value) <= set(hints), (where, set(value) - set(hints))
        return 1 + sum(_check(value[k], hints[k], f"{where}.{k}") for k in value)
    origin = getattr(hint, "__origin__", None)
    if origin is list:
        (item,) = hint.__args__
        return sum(_check(v, item, f"{where}[]") for v in value)
    if origin is dict:
        return sum(_check(v, hint.__args__[1], f"{where}{{}}") for v in value.values())
    return 0  # a plain value (str, float, int | None, a Literal)


def test_every_object_of_the_json_has_exactly_the_keys_of_its_typed_definition() -> None:
    doc = _report_with_every_object()
    trace = doc["traces"][0]
    assert trace["fanouts"] and trace["opportunities"] and trace["critical_path"]
    assert trace["opportunities"][0]["keep_after"], "the example must keep a step after others"
    assert trace["opportunities"][0]["evidence"] and trace["candidates"]
    assert trace["budgets"], "the example must run under a budget"
    checked = _check(doc, schema.ReportDoc, "report")
    # report, trace, segments, by_operation is a plain dict, fan-out, opportunity, step refs,
    # keep_after, operations: every kind of object was met at least once
    assert checked >= 10
    assert set(doc["gates"]) == set(get_type_hints(schema.Gates))


def test_the_python_objects_carry_the_same_fields_as_the_json() -> None:
    assert [f.name for f in fields(TraceReport)] == list(get_type_hints(schema.TraceDoc))
    fanout_keys = list(get_type_hints(schema.Fanout))
    assert [f.name for f in fields(FanoutStats)] == fanout_keys[:-2]
    assert fanout_keys[-2:] == ["on_critical_path", "cost"]
