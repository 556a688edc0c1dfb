"""What a model call costs in USD: prices per model and tier, and the arithmetic.

Prices come from two places, in this order:

1. The user's own, from ``fanscope.configure(prices=...)`` or ``[tool.fanscope.prices]`` in
   ``pyproject.toml`` (see :func:`set_prices`): a model missing from the table, a negotiated
   rate, a priority-tier contract.
2. `genai-prices <https://pypi.org/project/genai-prices/>`_, the table Pydantic maintains for
   Logfire (the ``prices`` extra: ``pip install 'fanscope[prices]'``). It is imported on first
   use, never by ``import fanscope``; ``fanscope.configure()`` imports it before it returns
   (:func:`load`), so that the first calls neither wait for it nor share the interpreter with
   its import; :func:`warm` starts it on a background thread for other uses.
   ``docs/cost.md`` says why this table.

A price is looked up once per (model, service tier, speed) and kept; the arithmetic is ours
(a few multiplications, no ``Decimal``): genai-prices' own ``calc_price`` takes about 1.6 ms a
call, too much for every span of a large fan-out.

Nothing is ever priced at $0 for want of a price: :func:`lookup` returns the reason instead
(``unknown model``, ``unknown tier``, ``no price table``, ``unpriced usage``), and a span then
says its cost is unknown. A service tier or speed the table has no price for is unknown too,
never billed as standard (the priority tier, whose prices are set by contract, is priced only
when the user says what it costs).

Usable from any thread: the lookup cache is filled under a lock.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from fanscope.errors import ConfigurationError
from fanscope.sdk import attributes as A
from fanscope.sdk.arguments import checked_init

log = logging.getLogger("fanscope")

UNKNOWN_MODEL: Final = A.COST_UNKNOWN_MODEL
UNKNOWN_TIER: Final = A.COST_UNKNOWN_TIER
NO_TABLE: Final = A.COST_NO_TABLE
UNPRICED_USAGE: Final = A.COST_UNPRICED_USAGE

MISSING_TABLE = (
    "fanscope: costs are unknown because the price table is not installed; "
    "pip install 'fanscope[prices]' (or give prices with configure(prices=...))"
)
_MILLION = 1_000_000.0

# Anthropic's published multipliers of the base input price, used for the prices a user leaves
# out of an override: cache reads 0.1x, 5-minute cache writes 1.25x, 1-hour writes 2x
# (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#pricing).
_CACHE_READ, _CACHE_WRITE_5M, _CACHE_WRITE_1H = 0.1, 1.25, 2.0


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one call, in the provider's own split (Anthropic's ``usage``).

    ``input_tokens`` counts the uncached input only, as Anthropic reports it; the cache reads
    and writes are apart (:attr:`total_input` adds them up).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    web_searches: int = 0

    @property
    def total_input(self) -> int:
        """Every input token: uncached, cache reads and cache writes."""
        return (
            self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
        )


@checked_init("fanscope.Price")
@dataclass(frozen=True, slots=True)
class Price:
    """What one model costs: USD per million tokens of each kind (per search for web searches).

    Args:
        input: uncached input tokens.
        output: output tokens.
        cache_read: input tokens read from the prompt cache.
        cache_write_5m: input tokens written to the cache with the 5-minute lifetime.
        cache_write_1h: input tokens written to the cache with the 1-hour lifetime.
        web_search: USD per server-side web search.
        above: long-context prices: ``((threshold, price), ...)``; a call whose input tokens
            (all of them, cached included) exceed a threshold pays that price for every token.

    A price left ``None`` is not known: a call that used that kind of token has an unknown
    cost (never a cost that leaves those tokens out).

    .. versionadded:: 0.2
    """

    input: float
    output: float
    cache_read: float | None = None
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    web_search: float | None = None
    above: tuple[tuple[int, Price], ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.above, tuple) or not all(
            isinstance(tier, tuple)
            and len(tier) == 2
            and isinstance(tier[0], int | float)
            and not isinstance(tier[0], bool)
            and isinstance(tier[1], Price)
            for tier in self.above
        ):
            raise ConfigurationError(
                "Price.above must be ((input tokens, Price), ...)",
                self.above,
                "pass e.g. above=((200_000, Price(input=6.0, output=22.5)),)",
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "above" or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(
                    f"Price.{f.name} must be a number of USD per million tokens",
                    value,
                    f"pass e.g. {f.name}=3.0",
                )
            if not (math.isfinite(value) and value >= 0):
                raise ConfigurationError(
                    f"Price.{f.name} must be a finite number >= 0", value, f"pass e.g. {f.name}=3.0"
                )

    def cost(self, usage: Usage) -> float | None:
        """USD for ``usage`` at this price; ``None`` when a kind of token it used has no price."""
        price = self
        total = usage.total_input
        for threshold, tier in self.above:
            if total > threshold:
                price = tier
        usd = usage.input_tokens * price.input + usage.output_tokens * price.output
        for count, rate in (
            (usage.cache_read_tokens, price.cache_read),
            (usage.cache_write_5m_tokens, price.cache_write_5m),
            (usage.cache_write_1h_tokens, price.cache_write_1h),
        ):
            if count:
                if rate is None:
                    return None
                usd += count * rate
        usd /= _MILLION
        if usage.web_searches:
            if price.web_search is None:
                return None
            usd += usage.web_searches * price.web_search
        return usd

    def worst_case(self, input_tokens: int, max_tokens: int) -> float:
        """The most a call of ``input_tokens`` (uncached) and up to ``max_tokens`` of output can
        cost: what a budget reserves before the call."""
        price = self
        for threshold, tier in self.above:
            if input_tokens > threshold:
                price = tier
        return (input_tokens * price.input + max_tokens * price.output) / _MILLION


# -- the user's prices --------------------------------------------------------------------------

_FIELDS = frozenset(f.name for f in fields(Price)) - {"above"}
_lock = threading.Lock()
_user: dict[tuple[str, str], Price] = {}  # (model, tier or "") -> price
_cache: dict[tuple[str, str, str], Price | str] = {}


def parse_prices(prices: Mapping[str, Any], where: str = "prices") -> dict[tuple[str, str], Price]:
    """Read a prices mapping: ``{model: Price | {field: number, ..., tier: {field: ...}}}``.

    A nested mapping under a model is the price of one service tier (``priority``,
    ``batch``) or speed (``fast``), and inherits what it leaves out from the model's own.

    Raises:
        ConfigurationError: a value that is not a price, with where it was and what to write.
    """
    if not isinstance(prices, Mapping):
        raise ConfigurationError(
            f"{where} must map model names to prices",
            prices,
            'write e.g. {"claude-haiku-5-5": {"input": 0.1, "output": 0.5}}',
        )
    out: dict[tuple[str, str], Price] = {}
    for model, value in prices.items():
        if not isinstance(model, str) or not model:
            raise ConfigurationError(
                f"{where}: a model name must be a non-empty string", model, "use the API's name"
            )
        if isinstance(value, Price):
            out[(model, "")] = value
            continue
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f"{where}[{model!r}] must be a Price or a table of prices",
                value,
                'write e.g. {"input": 3.0, "output": 15.0} (USD per million tokens)',
            )
        base = {k: v for k, v in value.items() if not isinstance(v, Mapping)}
        out[(model, "")] = _price(base, f"{where}[{model!r}]")
        for tier, sub in value.items():
            if isinstance(sub, Mapping):
                merged = {**base, **sub}
                out[(model, str(tier))] = _price(merged, f"{where}[{model!r}][{tier!r}]")
    return out


def _price(table: Mapping[str, Any], where: str) -> Price:
    unknown = set(table) - _FIELDS
    if unknown:
        raise ConfigurationError(
            f"{where} has an unknown field {sorted(unknown)[0]!r}",
            dict(table),
            f"use {', '.join(sorted(_FIELDS))}, or a nested table for a tier (priority, batch)",
        )
    for required in ("input", "output"):
        if required not in table:
            raise ConfigurationError(
                f"{where} needs {required!r} (USD per million tokens)",
                dict(table),
                'write e.g. {"input": 3.0, "output": 15.0}',
            )
    values = dict(table)
    base = values["input"]
    if isinstance(base, int | float) and not isinstance(base, bool):
        values.setdefault("cache_read", base * _CACHE_READ)
        values.setdefault("cache_write_5m", base * _CACHE_WRITE_5M)
        values.setdefault("cache_write_1h", base * _CACHE_WRITE_1H)
    try:
        return Price(**values)
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error.what}", error.value, error.hint) from None


def set_prices(prices: Mapping[str, Any] | None, *, pyproject: Path | None = None) -> None:
    """Replace the user's prices: those of ``[tool.fanscope.prices]`` in ``pyproject``, then
    ``prices`` over them (``configure(prices=...)`` calls this)."""
    chosen: dict[tuple[str, str], Price] = {}
    if pyproject is not None:
        chosen.update(_from_pyproject(pyproject))
    if prices:
        chosen.update(parse_prices(prices))
    with _lock:
        _user.clear()
        _user.update(chosen)
        _cache.clear()


def _from_pyproject(path: Path) -> dict[tuple[str, str], Price]:
    import tomllib

    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as error:
        log.warning("fanscope: cannot read prices from %s (%s); they are not used", path, error)
        return {}
    table = data.get("tool", {}).get("fanscope", {}).get("prices")
    if table is None:
        return {}
    return parse_prices(table, f"[tool.fanscope.prices] in {path}")


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` from ``start`` (the working directory) upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _user_price(model: str, tier: str) -> Price | None:
    """The user's price for ``model`` (exactly, or a dated snapshot of a name given:
    ``claude-x`` prices ``claude-x-20260101``) in ``tier``."""
    price = _user.get((model, tier))
    if price is not None:
        return price
    best = ""
    for name, t in _user:
        if t == tier and model.startswith(name + "-") and len(name) > len(best):
            best = name
    return _user.get((best, tier)) if best else None


# -- the maintained table -----------------------------------------------------------------------

_table_ready = threading.Event()
_table: Any = None  # genai_prices.data_snapshot, once imported; False when not installed
_warming: threading.Thread | None = None


def _import_table() -> None:
    global _table
    try:
        from genai_prices import data_snapshot

        # built on first use (tens of ms, hundreds under load): here, not in the first
        # priced call's span, which would look that much slower on the critical path
        data_snapshot.get_snapshot()
        _table = data_snapshot
    except ImportError:
        _table = False
    except Exception:  # a broken install must not break the program
        log.debug("fanscope: genai-prices failed to import", exc_info=True)
        _table = False
    finally:
        _table_ready.set()


def warm() -> None:
    """Start importing the price table on a background thread (about a second of CPU), so
    that the first call priced does not wait for it. Idempotent."""
    global _warming
    with _lock:
        if _warming is not None or _table_ready.is_set():
            return
        _warming = threading.Thread(target=_import_table, name="fanscope-prices", daemon=True)
        _warming.start()


def load() -> None:
    """Import the price table now and return once it is ready (waiting for a warm-up already
    under way). ``fanscope.configure()`` calls it, so that the import runs neither inside the
    first priced call's span nor beside the first calls (docs/anthropic.md)."""
    _snapshot()


def _snapshot() -> Any:
    if not _table_ready.is_set():
        warm()
        _table_ready.wait()
    return _table


_warned_missing = False


def _from_table(model: str, tier: str, speed: str) -> Price | str:
    global _warned_missing
    table = _snapshot()
    if not table:
        if not _warned_missing:
            _warned_missing = True
            log.warning(MISSING_TABLE)
        return NO_TABLE
    from datetime import UTC, datetime

    try:
        _, info = table.get_snapshot().find_provider_model(model, None, "anthropic", None)
    except LookupError:
        return UNKNOWN_MODEL
    now = datetime.now(tz=UTC)
    context: dict[str, str] = {}
    if tier == "batch":
        context["processing"] = "batch"
    elif tier not in ("", "standard"):
        context["service_tier"] = tier
    if speed not in ("", "standard"):
        context["speed"] = speed
    for key, value in context.items():
        # a tier or speed the table has no price for is unknown, never billed as standard
        if not any(
            v.when.get(key) == value and (v.constraint is None or v.constraint.active(now))
            for v in info.price_variants or ()
        ):
            return UNKNOWN_TIER
    return _convert(info.get_prices(now, context or None))


def _convert(model_price: Any) -> Price | str:
    """genai-prices' ``ModelPrice`` (Decimals, tiered prices) as our :class:`Price`."""

    def at(key: str, level: int) -> float | None:
        value = getattr(model_price, key, None)
        if value is None:
            return None
        tiers = getattr(value, "tiers", None)
        if tiers is None:
            return float(value)
        chosen = value.base
        for tier in tiers:
            if tier.start <= level:
                chosen = tier.price
        return float(chosen)

    def price(level: int) -> Price | None:
        input_, output = at("input_mtok", level), at("output_mtok", level)
        if input_ is None or output is None:
            return None
        write_5m = at("cache_write_5m_mtok", level)
        search = at("web_searches_kcount", level)
        return Price(
            input=input_,
            output=output,
            cache_read=at("cache_read_mtok", level),
            cache_write_5m=write_5m if write_5m is not None else at("cache_write_mtok", level),
            cache_write_1h=at("cache_write_1h_mtok", level),
            web_search=search / 1000 if search is not None else None,
        )

    levels = sorted(
        {
            t.start
            for value in vars(model_price).values()
            for t in (getattr(value, "tiers", None) or ())
        }
    )
    base = price(-1)
    if base is None:
        return UNKNOWN_MODEL
    above = tuple((level, p) for level in levels if (p := price(level)) is not None)
    kept = {f.name: getattr(base, f.name) for f in fields(Price) if f.name != "above"}
    return Price(**kept, above=above)


def lookup(model: str, tier: str | None = None, speed: str | None = None) -> Price | str:
    """The price of ``model`` in service ``tier`` (``standard``, ``priority``, ``batch``) at
    ``speed`` (``standard``, ``fast``), or the reason there is none.

    The user's prices win, for the model's base price and for each tier or speed they name.
    """
    key = (model, tier or "", speed or "")
    found = _cache.get(key)
    if found is not None:
        return found
    variant = next((v for v in key[1:] if v not in ("", "standard")), "")
    with _lock:
        user = _user_price(model, variant)
        user_base = user is not None or _user_price(model, "") is not None
    if user is not None:
        found = user
    else:
        found = _from_table(model, key[1], key[2])
        if found == UNKNOWN_MODEL and user_base:
            found = UNKNOWN_TIER  # the user priced the model, but not in this tier
    with _lock:
        _cache[key] = found
    return found


def cost(
    model: str, usage: Usage, tier: str | None = None, speed: str | None = None
) -> float | str:
    """USD for ``usage`` of ``model``, or the reason it cannot be priced."""
    price = lookup(model, tier, speed)
    if isinstance(price, str):
        return price
    usd = price.cost(usage)
    return UNPRICED_USAGE if usd is None else usd
