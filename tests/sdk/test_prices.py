"""The price module: our arithmetic agrees with the maintained table's own, a cost that cannot
be priced is a reason (never $0), tiers are never billed as standard, and the user's prices win."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from genai_prices import data_snapshot
from hypothesis import given
from hypothesis import strategies as st

from fanscope import ConfigurationError
from fanscope.sdk import prices as P


@pytest.fixture(autouse=True)
def no_user_prices() -> Iterator[None]:
    P.set_prices(None)
    yield
    P.set_prices(None)


def anthropic_models() -> list[str]:
    provider = data_snapshot.get_snapshot().find_provider(None, "anthropic", None)
    return [m.id for m in provider.models if not m.deprecated]


MODELS = anthropic_models()
usages = st.builds(
    P.Usage,
    input_tokens=st.integers(0, 300_000),
    output_tokens=st.integers(0, 64_000),
    cache_read_tokens=st.integers(0, 200_000),
    cache_write_5m_tokens=st.integers(0, 50_000),
    cache_write_1h_tokens=st.integers(0, 50_000),
)


def table_price(model: str, usage: P.Usage, context: dict[str, str] | None = None) -> Decimal:
    """What genai-prices' own (slow, Decimal) calculation says for ``usage``."""
    theirs = genai_prices.Usage(
        input_tokens=usage.total_input,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_5m_tokens + usage.cache_write_1h_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
    )
    return genai_prices.calc_price(
        theirs, model, provider_id="anthropic", price_context=context
    ).total_price


@given(model=st.sampled_from(MODELS), usage=usages)
def test_our_cost_equals_the_tables_own_calculation_for_every_anthropic_model(
    model: str, usage: P.Usage
) -> None:
    ours = P.cost(model, usage)
    if isinstance(ours, str):  # a model without a price for some kind of token it used
        assert ours == P.UNPRICED_USAGE
        return
    assert ours == pytest.approx(float(table_price(model, usage)), rel=1e-9, abs=1e-12)


@given(usage=usages)
def test_batch_is_the_tables_batch_price_not_the_standard_one(usage: P.Usage) -> None:
    model = "claude-haiku-5-5"
    batch = P.cost(model, usage, tier="batch")
    assert isinstance(batch, float)
    expected = table_price(model, usage, {"processing": "batch"})
    assert batch == pytest.approx(float(expected), rel=1e-9, abs=1e-12)
    if usage.output_tokens or usage.input_tokens:
        assert batch < P.cost(model, usage)  # type: ignore[operator]


def test_a_model_the_table_does_not_know_is_unknown_never_zero() -> None:
    usage = P.Usage(input_tokens=10, output_tokens=10)
    assert P.cost("claude-from-the-future-9", usage) == P.UNKNOWN_MODEL
    assert P.lookup("gpt-nothing") == P.UNKNOWN_MODEL


def test_the_priority_tier_is_unknown_unless_the_user_prices_it() -> None:
    usage = P.Usage(input_tokens=1000, output_tokens=100)
    assert P.cost("claude-sonnet-4-5", usage, tier="priority") == P.UNKNOWN_TIER
    P.set_prices({"claude-sonnet-4-5": {"input": 3.0, "output": 15.0, "priority": {"input": 6.0}}})
    # the tier inherits what it leaves out (output) from the model's own price
    assert P.cost("claude-sonnet-4-5", usage, tier="priority") == pytest.approx(
        (1000 * 6.0 + 100 * 15.0) / 1e6
    )


def test_standard_tier_and_speed_are_the_base_price() -> None:
    usage = P.Usage(input_tokens=1000, output_tokens=100)
    base = P.cost("claude-sonnet-4-5", usage)
    assert P.cost("claude-sonnet-4-5", usage, tier="standard", speed="standard") == base


def test_long_context_prices_apply_above_the_threshold_only() -> None:
    price = P.Price(input=1.0, output=2.0, above=((100, P.Price(input=10.0, output=20.0)),))
    assert price.cost(P.Usage(input_tokens=100, output_tokens=1)) == pytest.approx(102e-6)
    assert price.cost(P.Usage(input_tokens=101, output_tokens=1)) == pytest.approx(1030e-6)
    # cached input counts towards the threshold
    both = P.Price(
        input=1.0, output=2.0, cache_read=0.5, above=((100, P.Price(10.0, 20.0, cache_read=5.0)),)
    )
    assert both.cost(P.Usage(input_tokens=1, cache_read_tokens=100)) == pytest.approx(510e-6)


def test_a_kind_of_token_without_a_price_makes_the_cost_unknown() -> None:
    price = P.Price(input=1.0, output=2.0)
    assert price.cost(P.Usage(input_tokens=5, cache_read_tokens=1)) is None
    assert price.cost(P.Usage(input_tokens=5, output_tokens=5)) == pytest.approx(15e-6)
    P.set_prices({"m": price})
    assert P.cost("m", P.Usage(cache_write_1h_tokens=1)) == P.UNPRICED_USAGE


def test_user_prices_win_and_price_dated_snapshots_of_the_name() -> None:
    P.set_prices({"claude-haiku-5-5": {"input": 1.0, "output": 2.0}})
    usage = P.Usage(input_tokens=1_000_000, cache_read_tokens=1_000_000)
    # the cache prices left out follow Anthropic's multipliers of the input price
    assert P.cost("claude-haiku-5-5", usage) == pytest.approx(1.0 + 0.1)
    assert P.cost("claude-haiku-5-5-20261001", usage) == pytest.approx(1.1)
    assert P.cost("claude-haiku-5-5x", usage) != pytest.approx(1.1)  # not a snapshot of it


def test_a_tier_of_a_model_only_the_user_priced_is_unknown_tier() -> None:
    P.set_prices({"our-finetune": {"input": 1.0, "output": 2.0}})
    assert P.cost("our-finetune", P.Usage(input_tokens=1), tier="batch") == P.UNKNOWN_TIER


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"m": {"input": 1.0}}, r"prices\['m'\] needs 'output'"),
        ({"m": {"input": 1.0, "output": "cheap"}}, r"Price.output must be a number"),
        ({"m": {"input": -1.0, "output": 1.0}}, r"Price.input must be a finite number >= 0"),
        ({"m": {"input": 1.0, "output": 1.0, "outptu": 2}}, r"unknown field 'outptu'"),
        ({"m": 3.0}, r"prices\['m'\] must be a Price or a table"),
        (["m"], r"prices must map model names to prices"),
    ],
)
def test_bad_prices_say_what_was_wrong_and_what_to_write(prices: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        P.set_prices(prices)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_prices_are_read_from_pyproject_and_arguments_win(tmp_path: Path) -> None:
    project = tmp_path / "pyproject.toml"
    project.write_text(
        '[tool.fanscope.prices."our-model"]\ninput = 1.0\noutput = 2.0\n'
        '[tool.fanscope.prices."our-model".priority]\ninput = 4.0\n'
        '[tool.fanscope.prices."other"]\ninput = 1.0\noutput = 1.0\n'
    )
    (tmp_path / "src").mkdir()
    found = P.find_pyproject(tmp_path / "src")
    assert found == project
    P.set_prices({"other": {"input": 9.0, "output": 9.0}}, pyproject=found)
    usage = P.Usage(input_tokens=1_000_000)
    assert P.cost("our-model", usage) == pytest.approx(1.0)
    assert P.cost("our-model", usage, tier="priority") == pytest.approx(4.0)
    assert P.cost("other", usage) == pytest.approx(9.0)


def test_a_bad_price_in_pyproject_names_the_file(tmp_path: Path) -> None:
    project = tmp_path / "pyproject.toml"
    project.write_text('[tool.fanscope.prices."m"]\ninput = 1.0\n')
    with pytest.raises(ConfigurationError, match=r"\[tool.fanscope.prices\] in .*pyproject.toml"):
        P.set_prices(None, pyproject=project)


def test_worst_case_is_the_input_plus_max_tokens_of_output() -> None:
    price = P.lookup("claude-sonnet-4-5")
    assert isinstance(price, P.Price)
    worst = price.worst_case(1000, 500)
    assert worst == P.cost("claude-sonnet-4-5", P.Usage(input_tokens=1000, output_tokens=500))
    assert worst >= price.cost(P.Usage(input_tokens=1000, output_tokens=499))  # type: ignore[operator]


def test_the_warm_up_builds_the_table_so_the_first_priced_call_does_not() -> None:
    # the snapshot is built on first use; built inside the first model call's span it made
    # that call look ~200 ms slower than the next ones on a loaded machine
    import subprocess
    import sys

    code = (
        "from fanscope.sdk import prices\n"
        "from genai_prices import data_snapshot\n"
        "prices.warm(); prices._table_ready.wait()\n"
        "print(data_snapshot._bundled_snapshot.cache_info().currsize)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "1", done.stderr
