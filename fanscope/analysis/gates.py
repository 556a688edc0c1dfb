"""CI gates: thresholds on a report that fail a build.

A gate is ``<metric> > <limit>`` (or ``>=``), for example ``parallelizable > 20%``:

| metric | what | limit units |
|---|---|---|
| ``critical_path`` | a trace's end-to-end time | ``5s``, ``500ms``, ``2min`` |
| ``parallelizable`` | share of a trace the what-if would save | ``20%`` or ``0.2`` |
| ``straggler`` | slowest branch over the median branch, worst fan-out | ``3`` or ``3x`` |
| ``queue_wait`` | share of the critical path spent waiting behind caps | ``10%`` or ``0.1`` |
| ``cost`` | what a trace's model calls cost, USD | ``$0.50`` or ``0.5`` |
| ``total_cost`` | what every analysed trace's calls cost together, USD | ``$5`` |
| ``budget_refused`` | model calls a trace's budgets refused (not made) | ``0`` |

A gate fails when any analysed trace crosses it (``total_cost``: when the sum does). A cost
gate also fails when a trace under its limit made calls that could not be priced: the amount
is then a lower bound, and a pass would be a claim nobody checked (``docs/cost.md``). The same
gates can be set under ``[tool.fanscope]`` in ``pyproject.toml`` (``fail_if =
["parallelizable > 20%"]``, or ``max_critical_path = "5s"``, ``max_parallelizable = "20%"``,
``max_straggler = 3``, ``max_queue_wait = "10%"``, ``max_cost = "$0.50"``,
``max_total_cost = "$5"``, ``max_budget_refused = 0``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fanscope.analysis.costs import total_cost
from fanscope.analysis.report.costs import unpriced, usd
from fanscope.analysis.report.text import seconds, share
from fanscope.analysis.schema import ReportDoc, TraceDoc
from fanscope.errors import ConfigurationError

#: Each metric, read from a trace of the report.
METRICS: dict[str, Callable[[TraceDoc], float]] = {
    "critical_path": lambda t: t["duration"],
    "parallelizable": lambda t: t["parallelizable_share"],
    "straggler": lambda t: t["straggler_ratio"],
    "queue_wait": lambda t: t["queue_wait_share"],
    "cost": lambda t: t["cost"]["usd"] if t["cost"] is not None else 0.0,
    "total_cost": lambda t: 0.0,  # over every trace at once: see evaluate()
    "budget_refused": lambda t: float(sum(b["refused"] for b in t["budgets"])),
}
_SHARES = {"parallelizable", "queue_wait"}
_COSTS = {"cost", "total_cost"}
_GATE = re.compile(r"^\s*([a-z_]+)\s*(>=|>)\s*(\$)?\s*([0-9]*\.?[0-9]+)\s*(%|ms|s|min|x|usd)?\s*$")
# "cost > $0.50" in double quotes reaches us as "cost > bash.50": the shell read $0
_SHELL_HINT = (
    "write e.g. 'cost > 0.50' or, in single quotes, 'cost > $0.50' (in double quotes the "
    "shell replaces $0 with its own name)"
)
_TABLE_HINT = 'write e.g. fail_if = ["parallelizable > 20%"] and max_critical_path = "5s"'
_HINT = (
    "write e.g. 'parallelizable > 20%', 'critical_path > 5s', 'straggler > 3', "
    "'queue_wait > 10%', 'cost > $0.50', 'total_cost > $5', 'budget_refused > 0'"
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
        if self.metric in _COSTS:
            return usd(value)
        if self.metric == "budget_refused":
            return f"{value:,.0f} call(s)"
        return f"{value:.2f}x"


def parse_gate(text: str) -> Gate:
    """A gate from its text; raises ConfigurationError saying what to write instead."""
    match = _GATE.match(text.strip().lower().replace("-", "_"))
    if not match:
        bare = text.strip().lower().replace("-", "_")
        if bare in METRICS:  # unquoted, the shell took "> 20%" as a redirection
            example = re.search(rf"'({bare} > [^']*)'", _HINT)
            raise ConfigurationError(
                "cannot read the gate: a metric with no limit",
                text,
                f"quote the whole gate, e.g. --fail-if '{example[1] if example else bare}' "
                "(unquoted, the shell reads > as a redirection into a file named after the limit)",
            )
        if re.match(r"\s*(total_)?cost\b", text.strip().lower().replace("-", "_")):
            raise ConfigurationError("cannot read the gate", text, _SHELL_HINT)
        raise ConfigurationError("cannot read the gate", text, _HINT)
    metric, op, dollar, number, unit = match.groups()
    if metric not in METRICS:
        raise ConfigurationError(f"unknown gate metric {metric!r}", text, _HINT)
    value = float(number)
    if metric not in _COSTS and (dollar or unit == "usd"):
        raise ConfigurationError(f"{metric} is not an amount", text, _HINT)
    if metric in _COSTS:
        if unit not in (None, "usd"):
            raise ConfigurationError(f"{metric} is in US dollars", text, "write e.g. $0.50")
    elif metric in _SHARES:
        if unit == "%":
            value /= 100
            if value > 1:  # "parallelizable > 200%" could never fail: a typo, not a gate
                raise ConfigurationError(
                    f"{metric} is a share, at most 100%", text, "write e.g. 20%"
                )
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
    elif metric == "budget_refused":
        if unit is not None or value != int(value):
            raise ConfigurationError(
                "budget_refused counts calls", text, "write e.g. 'budget_refused > 0'"
            )
    elif unit not in (None, "x"):
        raise ConfigurationError("straggler is a ratio", text, "write e.g. 'straggler > 3'")
    return Gate(metric, op, value, text.strip())


def gates_from_options(
    fail_if: list[str],
    max_critical_path: str | None = None,
    max_parallelizable: str | None = None,
    max_straggler: str | None = None,
    max_queue_wait: str | None = None,
    max_cost: str | None = None,
    max_total_cost: str | None = None,
    max_budget_refused: str | None = None,
) -> list[Gate]:
    texts = list(fail_if)
    for metric, limit in (
        ("critical_path", max_critical_path),
        ("parallelizable", max_parallelizable),
        ("straggler", max_straggler),
        ("queue_wait", max_queue_wait),
        ("cost", max_cost),
        ("total_cost", max_total_cost),
        ("budget_refused", max_budget_refused),
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
    "max_cost",
    "max_total_cost",
    "max_budget_refused",
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


_PRICE_HINT = "give their prices ([tool.fanscope.prices] or configure(prices=...), docs/cost.md)"


def _cost_gate(report: ReportDoc, gate: Gate) -> str | None:
    """The line of a failed cost gate: crossed, or not checkable because calls were unpriced."""
    if gate.metric == "total_cost":
        total = total_cost(t["cost"] for t in report["traces"])
        if total is None:
            return None
        where = f"{len(report['traces']):,} trace(s)"
        if gate.crossed(total["usd"]):
            at_least = "at least " if total["unpriced_calls"] else ""
            return f"gate failed: {gate.text} ({where}: {at_least}{usd(total['usd'])})"
        if total["unpriced_calls"]:
            return (
                f"gate failed: {gate.text} cannot be checked ({where}: at least "
                f"{usd(total['usd'])}, {unpriced(total)}); {_PRICE_HINT}"
            )
        return None
    worst = max(report["traces"], key=METRICS["cost"], default=None)
    if worst is not None and worst["cost"] is not None and gate.crossed(worst["cost"]["usd"]):
        cost = worst["cost"]
        at_least = "at least " if cost["unpriced_calls"] else ""
        return (
            f"gate failed: {gate.text} (trace {worst['trace_id'][:16]} {worst['root']}: "
            f"cost = {at_least}{usd(cost['usd'])})"
        )
    blind = [t for t in report["traces"] if t["cost"] is not None and t["cost"]["unpriced_calls"]]
    if blind:
        t = blind[0]
        assert t["cost"] is not None
        more = f" and {len(blind) - 1:,} more trace(s)" if len(blind) > 1 else ""
        return (
            f"gate failed: {gate.text} cannot be checked (trace {t['trace_id'][:16]} "
            f"{t['root']}{more}: at least {usd(t['cost']['usd'])}, {unpriced(t['cost'])}); "
            f"{_PRICE_HINT}"
        )
    return None


def evaluate(report: ReportDoc, gates: list[Gate]) -> list[str]:
    """One line per failed gate, naming the gate, the trace and the value."""
    failed = []
    for gate in gates:
        if gate.metric in _COSTS:
            line = _cost_gate(report, gate)
            if line is not None:
                failed.append(line)
            continue
        metric = METRICS[gate.metric]
        worst = max(report["traces"], key=metric, default=None)
        if worst is not None and gate.crossed(metric(worst)):
            failed.append(
                f"gate failed: {gate.text} (trace {worst['trace_id'][:16]} {worst['root']}: "
                f"{gate.metric} = {gate.show(metric(worst))})"
            )
    return failed
