"""The models' validation rules, with property-based bad inputs: each gives a clear error naming the
field, and nothing but a pydantic ValidationError ever escapes."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from collector.models import (
    ENV_PATTERN,
    DaemonMetrics,
    ExchangeStatus,
    MetricModel,
    PipelineMetrics,
    TradingMetrics,
    ValidationContext,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
CTX = ValidationContext(
    clock=lambda: NOW,
    max_skew_seconds=5.0,
    exchanges=frozenset({"binance", "bybit", "okx", "dydx"}),
    data_types=frozenset({"oi", "funding", "liquidation"}),
)

VALID: dict[type[MetricModel], dict[str, Any]] = {
    DaemonMetrics: {
        "timestamp": NOW,
        "host": "ccxt-1",
        "env": "prod",
        "running": True,
        "fetch_count": 10,
        "error_count": 1,
        "liquidation_count": 2,
        "uptime_seconds": 60.0,
        "last_error": "boom",
        "memory_rss_bytes": 1_000,
        "cpu_percent": 12.5,
        "restart_count": 0,
    },
    ExchangeStatus: {
        "timestamp": NOW,
        "host": "ccxt-1",
        "env": "prod",
        "exchange": "binance",
        "connected": True,
        "latency_ms": 40.0,
        "reconnect_count": 3,
        "last_message_at": NOW - timedelta(seconds=1),
    },
    PipelineMetrics: {
        "timestamp": NOW,
        "host": "ccxt-1",
        "env": "prod",
        "exchange": "okx",
        "symbol": "BTC/USDT:USDT",
        "data_type": "oi",
        "records_count": 5,
        "bytes_written": 1_024,
        "latency_ms": 3.5,
        "gap_detected": True,
        "gap_duration_seconds": 12.0,
    },
    TradingMetrics: {
        "timestamp": NOW,
        "host": "ccxt-1",
        "env": "prod",
        "strategy": "basis-1",
        "symbol": "ETH/USDT:USDT",
        "venue": "bybit",
        "pnl": -12.5,
        "unrealized_pnl": 3.0,
        "position_size": -0.5,
        "orders_placed": 4,
        "orders_filled": 3,
        "exposure": 1_500.0,
        "drawdown": 2.5,
    },
}

COUNTERS = {
    DaemonMetrics: ["fetch_count", "error_count", "liquidation_count", "memory_rss_bytes", "restart_count"],
    ExchangeStatus: ["reconnect_count"],
    PipelineMetrics: ["records_count", "bytes_written"],
    TradingMetrics: ["orders_placed", "orders_filled"],
}
FLOATS = {
    DaemonMetrics: ["uptime_seconds", "cpu_percent"],
    ExchangeStatus: ["latency_ms"],
    PipelineMetrics: ["latency_ms", "gap_duration_seconds"],
    TradingMetrics: ["pnl", "unrealized_pnl", "position_size", "exposure", "drawdown"],
}
SYMBOLS = {
    DaemonMetrics: ["host"],
    ExchangeStatus: ["host", "exchange"],
    PipelineMetrics: ["host", "exchange", "symbol", "data_type"],
    TradingMetrics: ["host", "strategy", "symbol", "venue"],
}
MODELS = list(VALID)
FIELDS = [(model, name) for model in MODELS for name in VALID[model]]


def validate(model: type[MetricModel], **changes: Any) -> MetricModel:
    return model.model_validate({**VALID[model], **changes}, context=CTX.as_context())


def error_fields(err: ValidationError) -> set[str]:
    return {str(e["loc"][0]) if e["loc"] else "" for e in err.errors()}


def assert_rejected(model: type[MetricModel], field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(model, **{field: value})
    assert field in error_fields(caught.value), caught.value
    assert field in str(caught.value)  # the message names the field


@pytest.mark.parametrize("model", MODELS)
def test_valid_rows_pass(model: type[MetricModel]) -> None:
    sample = validate(model)
    assert sample.timestamp == NOW


@pytest.mark.parametrize(("model", "field"), [(m, f) for m in MODELS for f in COUNTERS[m]])
@given(value=st.integers(max_value=-1))
@settings(database=None, deadline=None)
def test_negative_counters_are_rejected(model: type[MetricModel], field: str, value: int) -> None:
    assert_rejected(model, field, value)


@pytest.mark.parametrize(("model", "field"), [(m, f) for m in MODELS for f in COUNTERS[m]])
@given(value=st.integers(min_value=2**63))
@settings(database=None, deadline=None)
def test_counters_beyond_long_are_rejected(model: type[MetricModel], field: str, value: int) -> None:
    assert_rejected(model, field, value)


@pytest.mark.parametrize(("model", "field"), [(m, f) for m in MODELS for f in FLOATS[m]])
@given(value=st.sampled_from([math.nan, math.inf, -math.inf]))
@settings(database=None, deadline=None)
def test_nan_and_inf_are_rejected(model: type[MetricModel], field: str, value: float) -> None:
    assert_rejected(model, field, value)


@pytest.mark.parametrize(("model", "field"), [(m, f) for m in MODELS for f in SYMBOLS[m]])
@given(
    value=st.builds(
        lambda seed, size: (seed * size)[:size], st.text("abcXYZ/:-_09", min_size=1), st.integers(256, 50_000)
    )
)
@settings(database=None, deadline=None, max_examples=25)
def test_huge_symbol_values_are_rejected(model: type[MetricModel], field: str, value: str) -> None:
    assert_rejected(model, field, value)


@given(
    value=st.builds(lambda seed, size: (seed * size)[:size], st.text(min_size=1), st.integers(4_097, 10**6))
)
@settings(database=None, deadline=None, max_examples=10)
def test_huge_last_error_is_rejected(value: str) -> None:
    assert_rejected(DaemonMetrics, "last_error", value)


@pytest.mark.parametrize(("model", "field"), [(m, f) for m in MODELS for f in SYMBOLS[m]])
@given(
    value=st.one_of(
        st.binary(min_size=1).filter(lambda b: not _utf8(b)),
        st.text(min_size=0, max_size=5).map(lambda s: s + "\udcff"),
        st.text(alphabet=st.characters(max_codepoint=31), min_size=1, max_size=3).map(
            lambda s: "a" + s + "b"
        ),
        st.just(""),
    )
)
@settings(database=None, deadline=None, max_examples=30)
def test_non_utf8_control_and_empty_symbols_are_rejected(
    model: type[MetricModel], field: str, value: Any
) -> None:
    assert_rejected(model, field, value)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_last_error_must_be_utf8_text() -> None:
    assert_rejected(DaemonMetrics, "last_error", "bad \udc80 text")
    assert_rejected(DaemonMetrics, "last_error", b"\xff\xfe")


WRONG_TYPES = st.one_of(
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()),
    st.sets(st.integers(), max_size=2),
)


@pytest.mark.parametrize(("model", "field"), FIELDS)
@given(value=WRONG_TYPES)
@settings(database=None, deadline=None, max_examples=15)
def test_wrong_types_are_rejected(model: type[MetricModel], field: str, value: Any) -> None:
    assert_rejected(model, field, value)


@pytest.mark.parametrize(("model", "field"), [(m, f) for m in MODELS for f in COUNTERS[m] + FLOATS[m]])
@given(value=st.one_of(st.booleans(), st.text(max_size=10), st.floats(min_value=0.1, max_value=1e6).map(str)))
@settings(database=None, deadline=None, max_examples=20)
def test_numbers_must_be_numbers(model: type[MetricModel], field: str, value: Any) -> None:
    assert_rejected(model, field, value)


@pytest.mark.parametrize("model", MODELS)
@given(value=st.text(max_size=40).filter(lambda s: re.fullmatch(ENV_PATTERN, s) is None))
@settings(database=None, deadline=None, max_examples=20)
def test_a_malformed_env_is_rejected(model: type[MetricModel], value: str) -> None:
    assert_rejected(model, "env", value)


@pytest.mark.parametrize("env", ["prod", "canary", "eu-west-2", "a" * 32])
def test_any_environment_name_is_accepted(env: str) -> None:
    """Environments are data: a new one (canary) needs no edit of the collector."""
    assert validate(DaemonMetrics, env=env).env == env


@pytest.mark.parametrize("model", MODELS)
@given(ahead=st.floats(min_value=5.001, max_value=10 * 365 * 86_400))
@settings(database=None, deadline=None)
def test_future_timestamps_beyond_the_skew_are_rejected(model: type[MetricModel], ahead: float) -> None:
    with pytest.raises(ValidationError, match="in the future") as caught:
        validate(model, timestamp=NOW + timedelta(seconds=ahead))
    assert "timestamp" in error_fields(caught.value)


@pytest.mark.parametrize("model", MODELS)
@given(ahead=st.floats(min_value=0, max_value=4.999))
@settings(database=None, deadline=None)
def test_timestamps_within_the_skew_pass(model: type[MetricModel], ahead: float) -> None:
    validate(model, timestamp=NOW + timedelta(seconds=ahead))


@pytest.mark.parametrize("model", MODELS)
def test_naive_and_pre_epoch_timestamps_are_rejected(model: type[MetricModel]) -> None:
    assert_rejected(model, "timestamp", datetime(2025, 1, 1))
    assert_rejected(model, "timestamp", "2025-01-01T00:00:00")
    assert_rejected(model, "timestamp", datetime(1969, 12, 31, tzinfo=UTC))


def test_timestamps_are_normalised_to_utc() -> None:
    local = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert validate(DaemonMetrics, timestamp=local).timestamp == NOW
    assert validate(DaemonMetrics, timestamp="2025-06-01T12:00:00Z").timestamp.tzinfo == UTC


def test_host_at_most_255_chars() -> None:
    validate(DaemonMetrics, host="h" * 255)
    assert_rejected(DaemonMetrics, "host", "h" * 256)


def test_exchange_rules() -> None:
    with pytest.raises(ValidationError, match="last_message_at must not be after timestamp"):
        validate(ExchangeStatus, last_message_at=NOW + timedelta(seconds=1))
    with pytest.raises(ValidationError, match="disconnected_at must be null while connected"):
        validate(ExchangeStatus, disconnected_at=NOW - timedelta(seconds=5))
    validate(ExchangeStatus, connected=False, latency_ms=None, disconnected_at=NOW - timedelta(seconds=5))
    assert_rejected(ExchangeStatus, "latency_ms", 10_000.5)
    assert_rejected(ExchangeStatus, "latency_ms", -1)
    assert_rejected(ExchangeStatus, "exchange", "kraken")  # not in the configured list


def test_configured_lists_are_not_hard_coded() -> None:
    ctx = ValidationContext(
        clock=lambda: NOW, exchanges=frozenset({"kraken"}), data_types=frozenset({"trades"})
    )
    data = {**VALID[PipelineMetrics], "exchange": "kraken", "data_type": "trades"}
    assert PipelineMetrics.model_validate(data, context=ctx.as_context()).exchange == "kraken"
    # Without a context no list applies.
    assert PipelineMetrics.model_validate({**data, "timestamp": datetime.now(UTC)}).data_type == "trades"


def test_gap_duration_only_with_a_gap() -> None:
    with pytest.raises(ValidationError, match="gap_duration_seconds is only allowed when gap_detected"):
        validate(PipelineMetrics, gap_detected=False, gap_duration_seconds=3.0)
    assert validate(PipelineMetrics, gap_detected=False, gap_duration_seconds=None).gap_detected is False


def test_fill_rate_is_derived() -> None:
    assert validate(TradingMetrics).fill_rate == pytest.approx(0.75)  # type: ignore[attr-defined]
    assert validate(TradingMetrics, orders_placed=0, orders_filled=0).fill_rate is None  # type: ignore[attr-defined]
    assert validate(TradingMetrics, fill_rate=0.5).fill_rate == 0.5  # type: ignore[attr-defined]


def test_unknown_fields_are_rejected() -> None:
    assert_rejected(DaemonMetrics, "fetch_cuont", 1)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@pytest.mark.parametrize("model", MODELS)
@given(
    data=st.dictionaries(
        st.sampled_from(["timestamp", "host", "env", "exchange", "symbol", "pnl", "running", "x"]), JSONISH
    )
)
@settings(database=None, deadline=None, max_examples=60)
def test_arbitrary_input_never_raises_anything_but_validation_error(
    model: type[MetricModel], data: Any
) -> None:
    try:
        model.model_validate(data, context=CTX.as_context())
    except ValidationError as err:
        for problem in err.errors():
            assert problem["msg"]  # every problem has a message and a location
            assert isinstance(problem["loc"], tuple)


def test_the_roles_accept_the_same_environment_names() -> None:
    """The collector's config and the roles (tradewatch.stack.env_refusals) each declare the form: equal."""
    from ansible_collections.tradewatch.stack.plugins.filter.environment import ENV_PATTERN as ROLES_PATTERN

    assert ENV_PATTERN == ROLES_PATTERN
