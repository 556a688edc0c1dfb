"""fanscope: bounded, traced fan-outs for LLM agents, and the analyzer that reads them back.

Exports are loaded lazily so that ``import fanscope`` stays light: no exporter, no
``anthropic``, no analyzer is imported until it is used.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fanscope.errors import (
        BudgetExceeded,
        ConfigurationError,
        DeadlineExceeded,
        FanoutError,
        FanscopeError,
        NoConsensus,
        NotEnoughSuccesses,
        TraceReadError,
        UsageError,
    )
    from fanscope.exporters.configure import configure
    from fanscope.sdk.adaptive import Adaptive
    from fanscope.sdk.budget import Budget, budget
    from fanscope.sdk.decorators import parallel, traced
    from fanscope.sdk.gather import gather
    from fanscope.sdk.hedge import Hedge
    from fanscope.sdk.limits import Limiter
    from fanscope.sdk.outcomes import Outcome, Results
    from fanscope.sdk.prices import Price
    from fanscope.sdk.rate_limit import RateLimit
    from fanscope.sdk.redis_backend import RedisBackend
    from fanscope.sdk.retry import Retry
    from fanscope.sdk.vote import Ballot, vote

__all__ = [
    "Adaptive",
    "Ballot",
    "Budget",
    "BudgetExceeded",
    "ConfigurationError",
    "DeadlineExceeded",
    "FanoutError",
    "FanscopeError",
    "Hedge",
    "Limiter",
    "NoConsensus",
    "NotEnoughSuccesses",
    "Outcome",
    "Price",
    "RateLimit",
    "RedisBackend",
    "Results",
    "Retry",
    "TraceReadError",
    "UsageError",
    "budget",
    "configure",
    "gather",
    "parallel",
    "traced",
    "vote",
]

_WHERE = {
    "Adaptive": "fanscope.sdk.adaptive",
    "Budget": "fanscope.sdk.budget",
    "budget": "fanscope.sdk.budget",
    "BudgetExceeded": "fanscope.errors",
    "ConfigurationError": "fanscope.errors",
    "DeadlineExceeded": "fanscope.errors",
    "FanoutError": "fanscope.errors",
    "FanscopeError": "fanscope.errors",
    "NoConsensus": "fanscope.errors",
    "NotEnoughSuccesses": "fanscope.errors",
    "TraceReadError": "fanscope.errors",
    "UsageError": "fanscope.errors",
    "configure": "fanscope.exporters.configure",
    "parallel": "fanscope.sdk.decorators",
    "traced": "fanscope.sdk.decorators",
    "Hedge": "fanscope.sdk.hedge",
    "Limiter": "fanscope.sdk.limits",
    "Outcome": "fanscope.sdk.outcomes",
    "Results": "fanscope.sdk.outcomes",
    "Price": "fanscope.sdk.prices",
    "RateLimit": "fanscope.sdk.rate_limit",
    "RedisBackend": "fanscope.sdk.redis_backend",
    "Retry": "fanscope.sdk.retry",
    "gather": "fanscope.sdk.gather",
    "Ballot": "fanscope.sdk.vote",
    "vote": "fanscope.sdk.vote",
}

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'fanscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if isinstance(value, type) or callable(value):
        with contextlib.suppress(AttributeError, TypeError):
            value.__module__ = "fanscope"
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
