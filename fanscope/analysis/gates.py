"""CI gates: thresholds on a report that fail a build.

A gate is ``<metric> > <limit>`` (or ``>=``), for example ``parallelizable > 20%``:

| metric | what | limit units |
|---|---|---|
| ``critical_path`` | a trace's end-to-end time | ``5s``, ``500ms``, ``2min`` |
| ``parallelizable`` | share of a trace the what-if would save | ``20%`` or ``0.2`` |
| ``straggler`` | slowest branch over the median branch, worst fan-out | ``3`` or ``3x`` |
| ``queue_wait`` | share of the critical path spent waiting behind caps | ``10%`` or ``0.1`` |

A gate fails when any analysed trace crosses it. The same gates can be set under
``[tool.fanscope]`` in ``pyproject.toml`` (``fail_if = ["parallelizable > 20%"]``, or
``max_critical_path = "5s"``, ``max_parallelizable = "20%"``, ``max_straggler = 3``,
``max_queue_wait = "10%"``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fanscope.analysis.report.text import seconds, share
from fanscope.analysis.schema import ReportDoc, TraceDoc
from fanscope.errors import ConfigurationError

#: Each metric, read from a trace of the report.
METRICS: dict[str, Callable[[TraceDoc], float]] = {
    "critical_path": lambda t: t["duration"],
    "parallelizable": lambda t: t["parallelizable_share"],
    "straggler": lambda t: t["straggler_ratio"],
    "queue_wait": lambda t: t["queue_wait_share"],
}
_SHARES = {"parallelizable", "queue_wait"}
_GATE = re.compile(r"^\s*([a-z_]+)\s*(>=|>)\s*([0-9]*\.?[0-9]+)\s*(%|ms|s|min|x)?\s*$")
_TABLE_HINT = 'write e.g. fail_if = ["parallelizable > 20%"] and max_critical_path = "5s"'
_HINT = (
    "write e.g. 'parallelizable > 20%', 'critical_path > 5s', 'straggler > 3', 'queue_wait > 10%'"
)


@dataclass(frozen=True)
class Gate:
    metric: str
    op: str
    limit: float
    text: str

    def crossed(self, value: float) -> bool:
        return value >= self.limit if self.op == ">=" else value > self.limit

    def show(self, value: float) -> str:
        if self.metric in _SHARES:
            return share(value)
        if self.metric == "critical_path":
            return seconds(value)
        return f"{value:.2f}x"


def parse_gate(text: str) -> Gate:
    """A gate from its text; raises ConfigurationError saying what to write instead."""
    match = _GATE.match(text.strip().lower().replace("-", "_"))
    if not match:
        raise ConfigurationError("cannot read the gate", text, _HINT)
    metric, op, number, unit = match.groups()
    if metric not in METRICS:
        raise ConfigurationError(f"unknown gate metric {metric!r}", text, _HINT)
    value = float(number)
    if metric in _SHARES:
        if unit == "%":
            value /= 100
        elif unit is not None:
            raise ConfigurationError(f"{metric} is a share", text, "write it as a percentage")
        elif value > 1:  # "parallelizable > 20" is almost surely 20%, which is not what it says
            raise ConfigurationError(
                f"{metric} is a share, at most 1", text, f"write {number}% or {value / 100:g}"
            )
    elif metric == "critical_path":
        value *= {"ms": 0.001, "s": 1.0, "min": 60.0, None: 1.0}.get(unit, -1)
        if value < 0:
            raise ConfigurationError("critical_path takes a time", text, "write e.g. 5s or 500ms")
    elif unit not in (None, "x"):
        raise ConfigurationError("straggler is a ratio", text, "write e.g. 'straggler > 3'")
    return Gate(metric, op, value, text.strip())


def gates_from_options(
    fail_if: list[str],
    max_critical_path: str | None = None,
    max_parallelizable: str | None = None,
    max_straggler: str | None = None,
    max_queue_wait: str | None = None,
) -> list[Gate]:
    texts = list(fail_if)
    for metric, limit in (
        ("critical_path", max_critical_path),
        ("parallelizable", max_parallelizable),
        ("straggler", max_straggler),
        ("queue_wait", max_queue_wait),
    ):
        if limit is not None:
            texts.append(f"{metric} > {limit}")
    return [parse_gate(t) for t in texts]


PYPROJECT_KEYS = (
    "fail_if",
    "max_critical_path",
    "max_parallelizable",
    "max_straggler",
    "max_queue_wait",
)


# keys of [tool.fanscope] that are not gates: the model prices configure() reads (docs/cost.md)
OTHER_KEYS = ("prices",)


def gates_from_pyproject(path: Path, warnings: list[str] | None = None) -> list[Gate]:
    """Gates set under ``[tool.fanscope]`` in ``path`` (none when absent).

    Args:
        path: a ``pyproject.toml``.
        warnings: if given, receives one line per key of ``[tool.fanscope]`` that sets no
            gate (a misspelt gate would otherwise be silently ignored).

    Raises:
        ConfigurationError: the file is not TOML, or a gate's value is of the wrong type.
    """
    if not path.is_file():
        return []
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}", str(exc), "fix the TOML syntax") from None
    tool = document.get("tool")
    config = tool.get("fanscope") if isinstance(tool, dict) else None
    if config is None:
        return []
    if not isinstance(config, dict):
        raise ConfigurationError(f"{path}: [tool.fanscope] is not a table", config, _TABLE_HINT)
    if warnings is not None:
        warnings.extend(
            f"{path}: [tool.fanscope] {key} sets no gate (known: {', '.join(PYPROJECT_KEYS)})"
            for key in config
            if key not in PYPROJECT_KEYS and key not in OTHER_KEYS
        )
    fail_if = config.get("fail_if", [])
    if isinstance(fail_if, str):
        fail_if = [fail_if]
    if not isinstance(fail_if, list) or not all(isinstance(x, str) for x in fail_if):
        raise ConfigurationError(
            f"{path}: [tool.fanscope] fail_if must be a list of gates", fail_if, _TABLE_HINT
        )
    limits: list[str | None] = []
    for key in PYPROJECT_KEYS[1:]:
        value = config.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            raise ConfigurationError(
                f"{path}: [tool.fanscope] {key} must be a number or a string", value, _TABLE_HINT
            )
        limits.append(None if value is None else str(value))
    return gates_from_options(fail_if, *limits)


def parse_share(text: str, what: str) -> float:
    """A share written ``10%`` or ``0.1``, as a fraction; raises ConfigurationError."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", text)
    if not match:
        raise ConfigurationError(f"{what} is a share", text, "write e.g. 10% or 0.1")
    value = float(match.group(1))
    if match.group(2):
        return value / 100
    if value > 1:  # "10" is almost surely 10%, and 1000% is not what anyone means
        raise ConfigurationError(
            f"{what} is a share", text, f"write {match.group(1)}% or {value / 100:g}"
        )
    return value


def parse_caps(texts: list[str]) -> dict[str, int]:
    """``--what-if-cap`` values (``16``, ``summarize=16``) as a map; ``"*"`` for every cap.

    Raises ConfigurationError saying what to write instead.
    """
    caps: dict[str, int] = {}
    for text in texts:
        name, _, number = text.strip().rpartition("=")
        name = name.strip() or "*"
        if not re.fullmatch(r"[0-9]+", number.strip()) or int(number) < 1:
            raise ConfigurationError(
                "a what-if cap is a whole number >= 1, for every cap or one NAME",
                text,
                "write e.g. --what-if-cap 16 or --what-if-cap summarize=16",
            )
        caps[name] = int(number)
    return caps


def evaluate(report: ReportDoc, gates: list[Gate]) -> list[str]:
    """One line per failed gate, naming the gate, the trace and the value."""
    failed = []
    for gate in gates:
        metric = METRICS[gate.metric]
        worst = max(report["traces"], key=metric, default=None)
        if worst is not None and gate.crossed(metric(worst)):
            failed.append(
                f"gate failed: {gate.text} (trace {worst['trace_id'][:16]} {worst['root']}: "
                f"{gate.metric} = {gate.show(metric(worst))})"
            )
    return failed
