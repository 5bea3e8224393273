"""The macro expansion of tests/grafana/macros.py against the expectations of the plugin's own tests
(questdb/grafana-questdb-datasource pkg/macros/macros_test.go) and of Grafana's frontend behaviour."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.grafana import macros

HOUR_NS = 3_600_000_000_000


def ms(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("1960-01-01T00:00:00.000+0000", "cast(-315619200000000 as timestamp)"),
        ("1969-12-31T23:59:59.999+0000", "cast(-1000 as timestamp)"),
        ("1970-01-01T00:00:00.000+0000", "cast(0 as timestamp)"),
        ("1970-01-01T00:00:00.001+0000", "cast(1000 as timestamp)"),
        ("2024-01-20T12:34:56.789+0000", "cast(1705754096789000 as timestamp)"),
    ],
)
def test_from_and_to_time(when: str, expected: str) -> None:
    query = macros.BackendQuery(ms(when), ms(when), 1000)
    assert macros.interpolate("$__fromTime", query) == expected
    assert macros.interpolate("$__toTime", query) == expected


@pytest.mark.parametrize(
    ("interval_ns", "expected"),
    [
        (1_000_000, "1T"),
        (459_000_000, "459T"),
        (1_000_000_000, "1s"),
        (59 * 1_000_000_000, "59s"),
        (HOUR_NS, "1h"),
        (23 * HOUR_NS, "23h"),
        (24 * HOUR_NS, "1d"),
        (5 * 24 * HOUR_NS, "5d"),
        (36 * HOUR_NS, "1d"),  # the plugin divides whole hours by 24 as integers
        (90 * 60 * 1_000_000_000, "1h"),
    ],
)
def test_sample_by_interval(interval_ns: int, expected: str) -> None:
    query = macros.BackendQuery(0, 0, interval_ns // 1_000_000)
    assert macros.interpolate("$__sampleByInterval", query) == expected


FROM = "2024-01-20T12:34:56.789+0000"
TO = "2024-02-10T10:01:02.123+0000"
FILTER = "tstmp >= cast(1705754096789000 as timestamp) AND tstmp <= cast(1707559262123000 as timestamp)"


@pytest.mark.parametrize(
    ("sql", "interval_ms", "expected"),
    [
        ("select * from tab where tstmp >= $__fromTime ", 1000,
         "select * from tab where tstmp >= cast(1705754096789000 as timestamp) "),
        ("select * from tab where ( tstmp >= $__fromTime ) and ( tstmp <= $__toTime )", 1000,
         "select * from tab where ( tstmp >= cast(1705754096789000 as timestamp) ) and "
         "( tstmp <= cast(1707559262123000 as timestamp) )"),
        ("select * from tab where $__timeFilter(tstmp)", 1000, f"select * from tab where {FILTER}"),
        ("select * from tab where $__timeFilter( tstmp )", 1000, f"select * from tab where {FILTER}"),
        ("select * from tab where $__timeFilter( tstmp ) sample by $__sampleByInterval", 30000,
         f"select * from tab where {FILTER} sample by 30s"),
        ("select * from tab where $__timeFilter( tstmp ) sample by $__sampleByInterval", 1,
         f"select * from tab where {FILTER} sample by 1T"),
        ("select sum(x) * 1000.0 / $__interval_ms from t", 30000, "select sum(x) * 1000.0 / 30000 from t"),
    ],
)  # fmt: skip
def test_interpolate(sql: str, interval_ms: int, expected: str) -> None:
    assert macros.interpolate(sql, macros.BackendQuery(ms(FROM), ms(TO), interval_ms)) == expected


def test_unknown_macros_are_not_silently_left() -> None:
    with pytest.raises(ValueError, match="unexpanded"):
        macros.interpolate("select $__interval", macros.BackendQuery(0, 0, 1000))


VARIABLES = {
    "env": macros.Variable("env", "prod", ["dev", "prod"]),
    "host": macros.Variable("host", [macros.ALL_VALUE], ["daemon-1", "daemon-2"]),
    "exchange": macros.Variable("exchange", ["okx", "dydx"], ["binance", "okx", "dydx"]),
}


def test_conditional_all_drops_the_filter_when_all_is_selected() -> None:
    sql = "WHERE env = '$env' AND $__conditionalAll(host IN ($host), $host) AND x"
    assert macros.apply_conditional_all(sql, VARIABLES) == "WHERE env = '$env' AND 1=1 AND x"


def test_conditional_all_keeps_the_filter_for_a_selection() -> None:
    sql = "$__conditionalAll(exchange IN (${exchange}), ${exchange})"
    kept = macros.apply_conditional_all(sql, VARIABLES)
    assert kept == "exchange IN (${exchange})"
    assert macros.replace_variables(kept, VARIABLES, {}) == "exchange IN ('okx','dydx')"


def test_template_variables_use_the_plugin_format() -> None:
    sql = "env = '$env' AND host IN ($host) AND $__timeFilter(timestamp) AND [[env]] $__interval_ms"
    expanded = macros.replace_variables(sql, VARIABLES, {"__interval_ms": 5000})
    assert expanded == (
        "env = 'prod' AND host IN ('daemon-1','daemon-2') AND $__timeFilter(timestamp) AND prod 5000"
    )


@pytest.mark.parametrize(
    ("span_ms", "resolution", "low", "expected"),
    [
        (3_600_000, 900, "10s", 10_000),  # 4 s rounds to 5 s, below the 10 s minimum
        (3_600_000, 900, None, 5_000),
        (86_400_000, 1800, "10s", 60_000),  # 48 s -> 1 m
        (30 * 86_400_000, 1800, "10s", 1_200_000),  # 24 m -> 20 m
        (30 * 86_400_000, 300, "10s", 7_200_000),  # 2.4 h -> 2 h
    ],
)
def test_panel_interval(span_ms: int, resolution: int, low: str | None, expected: int) -> None:
    assert macros.panel_interval_ms(0, span_ms, resolution, low) == expected
